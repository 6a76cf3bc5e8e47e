"""Enumerable toy distributions and their exact denoisers, for proving samplers exact.

A toy is ``K`` data tokens ``0..K-1`` at ``L`` positions with a random joint ``p(x)`` over all
``K**L`` sequences (correlated, not a product of marginals). Its exact denoisers follow from
enumeration: the masked one is ``p(x_l | unmasked tokens)``, the uniform one is
``E[x_l | z_t] = sum_x p(x | z_t) [x_l = v]`` with ``p(x | z_t) ∝ p(x) prod_l q(z_t^l | x_l)``, the
autoregressive one is ``p(x_i | x_<i)``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch


def unique_rows(fn):
    """Evaluate ``fn(self, z, level)`` once per distinct (z, level) row: toys see many repeats."""

    def wrapper(self, z, level, *rest):
        code = (z * (z.max() + 1) ** torch.arange(z.shape[1])).sum(-1)  # exact for toy sizes
        if level is not None:
            levels, level_index = torch.unique(level, return_inverse=True)
            code = code * len(levels) + level_index
        codes, first, inverse = _unique_first(code)
        return fn(self, z[first], None if level is None else level[first], *rest)[inverse]

    return wrapper


def _unique_first(code: torch.Tensor):
    codes, inverse = torch.unique(code, return_inverse=True)
    first = torch.empty(len(codes), dtype=torch.long).scatter_(0, inverse, torch.arange(len(code)))
    return codes, first, inverse


class Toy:
    """A joint distribution over ``K**L`` sequences, enumerated."""

    def __init__(self, k: int = 4, length: int = 3, seed: int = 0, concentration: float = 0.5, probs: np.ndarray | None = None) -> None:
        self.k, self.length = k, length
        self.states = torch.tensor(list(itertools.product(range(k), repeat=length)))
        rng = np.random.default_rng(seed)
        p = rng.dirichlet(np.full(len(self.states), concentration)) if probs is None else np.asarray(probs, dtype=float)
        self.p = torch.tensor(p / p.sum(), dtype=torch.float64)

    def index(self, x: torch.Tensor) -> torch.Tensor:
        """Index of each sequence (row of ``x``) in :attr:`states`."""
        weights = self.k ** torch.arange(self.length - 1, -1, -1)
        return (x * weights).sum(-1)

    def empirical(self, samples: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(self.index(samples), minlength=len(self.states)).double()
        return counts / counts.sum()

    def tv(self, samples: torch.Tensor, target: torch.Tensor | None = None) -> float:
        """Total-variation distance between the samples' empirical distribution and ``target`` (p)."""
        target = self.p if target is None else target
        return 0.5 * float((self.empirical(samples) - target).abs().sum())


def _marginals(weights: torch.Tensor, states: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """log of per-position marginals ``[B, L, N]`` of rows of unnormalised weights over the states."""
    onehot = torch.nn.functional.one_hot(states, vocab_size).double()  # [S, L, N]
    marg = torch.einsum("bs,sln->bln", weights, onehot)
    return (marg / marg.sum(-1, keepdim=True)).clamp_min(0).log()


class ExactMasked:
    """Exact MDLM denoiser p(x_l | unmasked tokens); vocabulary = K data tokens + mask (id K)."""

    kind, uses_time, support = "masked", False, None
    bos_id = eos_id = pad_id = None
    device = torch.device("cpu")

    def __init__(self, toy: Toy, weights: torch.Tensor | None = None) -> None:
        self.toy = toy
        self.weights = toy.p if weights is None else weights  # unnormalised target over states
        self.vocab_size, self.length, self.mask_id = toy.k + 1, toy.length, toy.k
        self.calls = 0

    @unique_rows
    def _log_probs(self, z, level):
        states = self.toy.states
        consistent = ((z[:, None, :] == states[None]) | (z[:, None, :] == self.mask_id)).all(-1)  # [B, S]
        return _marginals(consistent.double() * self.weights[None], states, self.vocab_size)

    def log_probs(self, z, level, labels):
        self.calls += 1
        return self._log_probs(z, None)


class ExactUniform:
    """Exact UDLM denoiser E[x_l | z_t] for the uniform process over the K tokens."""

    kind, uses_time = "uniform", True
    bos_id = eos_id = pad_id = mask_id = None
    device = torch.device("cpu")

    def __init__(self, toy: Toy, weights: torch.Tensor | None = None) -> None:
        self.toy = toy
        self.weights = toy.p if weights is None else weights
        self.vocab_size, self.length = toy.k, toy.length
        self.support = torch.arange(toy.k)

    def log_probs(self, z, level, labels):
        return self._log_probs(z, level)

    @unique_rows
    def _log_probs(self, z, level):
        alpha = (1.0 - level.double())[:, None, None]  # [B, 1, 1]
        states = self.toy.states
        same = (z[:, None, :] == states[None]).double()  # [B, S, L]
        likelihood = (alpha * same + (1 - alpha) / self.toy.k).prod(-1)  # q(z_t | x) per state
        return _marginals(likelihood * self.weights[None], states, self.vocab_size)


class ExactAutoregressive:
    """Exact p(x_i | x_<i); vocabulary = K data tokens + <bos> (id K) at position 0."""

    kind, uses_time, support = "autoregressive", False, None
    eos_id = pad_id = mask_id = None
    device = torch.device("cpu")

    def __init__(self, toy: Toy, weights: torch.Tensor | None = None) -> None:
        self.toy = toy
        self.weights = toy.p if weights is None else weights
        self.vocab_size, self.length, self.bos_id = toy.k + 1, toy.length + 1, toy.k

    def log_probs(self, z, level, labels):
        prefix = z[:, 1:]  # drop <bos>
        i = prefix.shape[1]
        states = self.toy.states
        out = torch.full((len(z), z.shape[1], self.vocab_size), -math.inf, dtype=torch.float64)
        consistent = (prefix[:, None, :] == states[None, :, :i]).all(-1).double() * self.weights[None]  # [B, S]
        onehot = torch.nn.functional.one_hot(states[:, i], self.vocab_size).double()
        nxt = consistent @ onehot
        out[:, -1] = (nxt / nxt.sum(-1, keepdim=True)).log()
        return out


# --- guidance: a binary label y(x), labelled denoisers and exact classifiers ------------------
def parity_label(toy: Toy) -> torch.Tensor:
    """y(x) = 1 when the tokens sum to an even number: depends on every position."""
    return (toy.states.sum(-1) % 2 == 0).double()


class Labelled:
    """An exact denoiser that is conditional on y = 1 for rows labelled 1 and unconditional for the null label."""

    def __init__(self, exact_class, toy: Toy, y: torch.Tensor) -> None:
        self.cond, self.uncond = exact_class(toy, toy.p * y), exact_class(toy, toy.p)
        for name in ("kind", "vocab_size", "length", "mask_id", "bos_id", "eos_id", "pad_id", "uses_time", "support", "device"):
            setattr(self, name, getattr(self.uncond, name))

    def log_probs(self, z, level, labels):
        out = self.uncond.log_probs(z, level, None)
        if labels is not None:
            rows = labels[:, 0] == 1
            if rows.any():
                out[rows] = self.cond.log_probs(z[rows], None if level is None else level[rows], None)
        return out


class ExactNoisyClassifier:
    """p(y = 1 | z_t) = sum_x p(y | x) q(x | z_t) for the masking (``mask_id`` set) or uniform process."""

    def __init__(self, toy: Toy, y: torch.Tensor, mask_id: int | None) -> None:
        self.toy, self.y, self.mask_id = toy, y, mask_id

    def log_prob(self, z, level):
        return self._log_prob(z, level if self.mask_id is None else None)

    @unique_rows
    def _log_prob(self, z, level):
        states = self.toy.states
        if self.mask_id is not None:
            w = ((z[:, None, :] == states[None]) | (z[:, None, :] == self.mask_id)).all(-1).double()
        else:
            alpha = (1.0 - level.double())[:, None, None]
            w = (alpha * (z[:, None, :] == states[None]).double() + (1 - alpha) / self.toy.k).prod(-1)
        w = w * self.toy.p[None]
        return ((w * self.y[None]).sum(-1) / w.sum(-1)).log()


class ExactPrefixClassifier:
    """p(y = 1 | x_<=i) for AR prefixes that start with <bos>."""

    def __init__(self, toy: Toy, y: torch.Tensor) -> None:
        self.toy, self.y = toy, y

    def log_prob(self, z, level):
        prefix = z[:, 1:]
        states = self.toy.states
        w = (prefix[:, None, :] == states[None, :, : prefix.shape[1]]).all(-1).double() * self.toy.p[None]
        return ((w * self.y[None]).sum(-1) / w.sum(-1)).log()


class LinearClassifier:
    """log p(y | z) = sum_l W[l, z_l] (all W < 0): linear in the one-hot input, so Taylor is exact."""

    def __init__(self, length: int, vocab_size: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.weights = -torch.rand(length, vocab_size, generator=generator, dtype=torch.float64) / length

    def log_prob(self, z, level):
        one_hot = z if z.is_floating_point() else torch.nn.functional.one_hot(z, self.weights.shape[1]).double()
        return (one_hot.double() * self.weights).sum((-1, -2))


class SmoothClassifier:
    """A smooth nonlinear classifier: log sigmoid of a small MLP over the one-hot input."""

    def __init__(self, length: int, vocab_size: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.vocab_size = vocab_size
        self.w1 = torch.randn(length * vocab_size, 8, generator=generator, dtype=torch.float64) * 0.5
        self.w2 = torch.randn(8, generator=generator, dtype=torch.float64) * 0.5

    def log_prob(self, z, level):
        one_hot = z if z.is_floating_point() else torch.nn.functional.one_hot(z, self.vocab_size).double()
        h = torch.tanh(one_hot.double().flatten(1) @ self.w1)
        return torch.nn.functional.logsigmoid(h @ self.w2)
