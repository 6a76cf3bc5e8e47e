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

    def log_probs(self, z, level, labels):
        self.calls += 1
        states = self.toy.states
        consistent = ((z[:, None, :] == states[None]) | (z[:, None, :] == self.mask_id)).all(-1)  # [B, S]
        w = consistent.double() * self.weights[None]
        onehot = torch.nn.functional.one_hot(states, self.vocab_size).double()  # [S, L, N]
        marg = torch.einsum("bs,sln->bln", w, onehot)
        return (marg / marg.sum(-1, keepdim=True)).clamp_min(0).log()


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
        alpha = (1.0 - level.double())[:, None, None]  # [B, 1, 1]
        states = self.toy.states
        same = (z[:, None, :] == states[None]).double()  # [B, S, L]
        likelihood = (alpha * same + (1 - alpha) / self.toy.k).prod(-1)  # q(z_t | x) per state
        w = likelihood * self.weights[None]
        onehot = torch.nn.functional.one_hot(states, self.vocab_size).double()
        marg = torch.einsum("bs,sln->bln", w, onehot)
        return (marg / marg.sum(-1, keepdim=True)).log()


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
