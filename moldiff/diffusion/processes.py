"""Noise schedules and the discrete forward processes with their training losses.

Formulas from ``docs/algorithms.md`` (notation: ``alpha_t`` decreasing from 1 to 0).

- Masking (MDLM): ``q(z_t | x) = Cat(alpha_t x + (1 - alpha_t) m)``; SUBS parameterisation;
  continuous-time loss ``E_t [alpha'_t / (1 - alpha_t) * sum_masked log x_theta[x]]``.
- Uniform (UDLM): ``q(z_t | x) = Cat(alpha_t x + (1 - alpha_t) u)`` with ``u`` uniform over the
  ``N`` tokens of the support (every token but ``<mask>``); continuous-time ELBO of Schiff et al.

Uniform-process tensors live in *support space*: the vocabulary without the mask token, indexed
``0..N-1`` (see :class:`Support`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from moldiff.core.errors import MoldiffError

#: Smallest time drawn in training: alpha'_t / (1 - alpha_t) ~ 1/t blows up at 0.
T_MIN = 1e-3


@dataclass(frozen=True)
class Schedule:
    """``alpha_t = 1 - (1 - eps) t``: ``linear`` with eps = 0, ``loglinear`` with eps = 1e-3."""

    name: str
    eps: float

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 - (1.0 - self.eps) * t

    def dalpha(self, t: torch.Tensor) -> torch.Tensor:
        """d alpha_t / dt."""
        return torch.full_like(t, -(1.0 - self.eps))


SCHEDULES = {"loglinear": Schedule("loglinear", 1e-3), "linear": Schedule("linear", 0.0)}


def get_schedule(name: str) -> Schedule:
    """The schedule called ``name``; a clear error listing the known ones otherwise."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise MoldiffError(f"unknown noise schedule '{name}': choose one of {', '.join(SCHEDULES)}") from None


def antithetic_times(batch: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Low-discrepancy times in [T_MIN, 1]: one uniform offset plus evenly spaced points."""
    offset = torch.rand((), generator=generator, device=device)
    t = (offset + torch.arange(batch, device=device) / batch) % 1.0
    return T_MIN + (1.0 - T_MIN) * t


# --- masking process ------------------------------------------------------------------------
def mask_forward(x: torch.Tensor, alpha: torch.Tensor, mask_id: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``z_t``: each token is replaced by ``mask_id`` with probability ``1 - alpha`` ([B])."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) < alpha[:, None]
    return torch.where(keep, x, torch.full_like(x, mask_id))


def forbid_bos(logits: torch.Tensor, bos_id: int | None, first: int = 1) -> torch.Tensor:
    """``logits`` ``[B, L, N]`` with no mass on ``<bos>`` at positions ``first`` and later.

    In data ``<bos>`` stands only at position 0, so a denoiser's prediction for any later position
    (``first = 1``; an autoregressive model's next tokens: ``first = 0``) exactly excludes it. The
    constraint matters for D-CFG, whose ``gamma log x_c + (1 - gamma) log x_u`` extrapolates the ratio
    of two tiny probabilities: a token nearly impossible under both passes can come out likely.
    """
    if bos_id is None:
        return logits
    logits = logits.clone()
    logits[..., first:, bos_id] = -math.inf
    return logits


def subs_log_probs(logits: torch.Tensor, z: torch.Tensor, mask_id: int) -> torch.Tensor:
    """SUBS parameterisation: log x_theta with no mass on the mask token, unmasked tokens copied."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32)).clone()
    logits[..., mask_id] = -math.inf
    log_probs = logits.log_softmax(dim=-1)
    unmasked = z != mask_id
    copied = torch.full_like(log_probs, -math.inf).scatter_(-1, z.unsqueeze(-1), 0.0)
    return torch.where(unmasked.unsqueeze(-1), copied, log_probs)


def mdlm_loss(log_x_theta: torch.Tensor, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor, schedule: Schedule, mask_id: int) -> torch.Tensor:
    """Continuous-time MDLM loss per sequence ``[B]`` (nats): an upper bound on -log p(x) in expectation."""
    alpha, dalpha = schedule.alpha(t), schedule.dalpha(t)
    weight = -dalpha / (1.0 - alpha)
    return weight * masked_cross_entropy(log_x_theta, x, z, mask_id)


def masked_cross_entropy(log_x_theta: torch.Tensor, x: torch.Tensor, z: torch.Tensor, mask_id: int) -> torch.Tensor:
    """Cross-entropy summed over the masked positions, per sequence ``[B]``: the MDLM loss without its
    1/t weight (an option of the guidance paper's code that favours sample quality over likelihood)."""
    log_p = log_x_theta.gather(-1, x.unsqueeze(-1)).squeeze(-1)
    return torch.where(z == mask_id, -log_p, torch.zeros_like(log_p)).sum(dim=-1)


# --- uniform process ------------------------------------------------------------------------
class Support:
    """The vocabulary without the mask token, for the uniform process: index maps both ways."""

    def __init__(self, vocab_size: int, mask_id: int, device: torch.device | str = "cpu") -> None:
        self.vocab_size = vocab_size
        self.mask_id = mask_id
        self.size = vocab_size - 1
        self.tokens = torch.tensor([i for i in range(vocab_size) if i != mask_id], device=device)
        to_support = torch.full((vocab_size,), -1, dtype=torch.long, device=device)
        to_support[self.tokens] = torch.arange(self.size, device=device)
        self.to_support = to_support


def uniform_forward(x: torch.Tensor, alpha: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``z_t`` in support space: each token is resampled uniformly with probability ``1 - alpha``."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) < alpha[:, None]
    noise = torch.randint(size, x.shape, generator=generator, device=x.device)
    return torch.where(keep, x, noise)


def uniform_posterior(x_probs: torch.Tensor, z: torch.Tensor, alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
    """``q(z_s | z_t, x)`` for the uniform process, linear in ``x`` so a distribution can be plugged in.

    ``x_probs`` ``[B, L, N]`` (support space), ``z`` ``[B, L]``, ``alpha_t < alpha_s`` ``[B]``.
    Returns probabilities ``[B, L, N]``: proportional to ``q(z_t | z_s) q(z_s | x)``.
    """
    n = x_probs.shape[-1]
    a_t, a_s = alpha_t[:, None, None], alpha_s[:, None, None]
    a_ts = a_t / a_s
    z_onehot = torch.nn.functional.one_hot(z, n).to(x_probs.dtype)
    x_at_z = (x_probs * z_onehot).sum(-1, keepdim=True)
    numerator = (
        n * a_t * x_probs * z_onehot
        + (a_ts - a_t) * z_onehot
        + (a_s - a_t) * x_probs
        + (1 - a_ts) * (1 - a_s) / n
    )
    denominator = n * a_t * x_at_z + 1 - a_t
    return numerator / denominator


def uniform_plugin_weights(z: torch.Tensor, alpha_t: torch.Tensor, n: int) -> torch.Tensor:
    """``N alpha_t [v = z_t] + 1 - alpha_t`` ``[B, L, N]``: the normaliser of ``q(z_s | z_t, x = v)``."""
    a_t = alpha_t[:, None, None]
    return n * a_t * torch.nn.functional.one_hot(z, n).to(a_t.dtype) + (1 - a_t)


def uniform_reverse(x_mean: torch.Tensor, z: torch.Tensor, alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
    """``p(z_s | z_t) = sum_v x_mean[v] q(z_s | z_t, x = v)`` for the posterior mean ``E[x | z_t]``.

    This is the exact reverse step (per position) when ``x_mean`` is exact. Plugging a distribution
    straight into :func:`uniform_posterior` instead divides by an ``x``-dependent normaliser, which is
    what the ELBO-trained network's ``x_theta`` accounts for: the two agree when
    ``x_mean ∝ x_theta * uniform_plugin_weights`` (see :func:`plugin_to_mean`).
    """
    n = x_mean.shape[-1]
    tilted = x_mean / uniform_plugin_weights(z, alpha_t, n)
    return uniform_posterior(tilted / tilted.sum(-1, keepdim=True), z, alpha_t, alpha_s)


def plugin_to_mean(x_theta: torch.Tensor, z: torch.Tensor, alpha_t: torch.Tensor) -> torch.Tensor:
    """Convert an ELBO-trained UDLM prediction (for the plug-in posterior) to ``E[x | z_t]``."""
    mean = x_theta * uniform_plugin_weights(z, alpha_t, x_theta.shape[-1])
    return mean / mean.sum(-1, keepdim=True)


def udlm_loss(log_x_theta: torch.Tensor, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """Continuous-time UDLM loss per sequence ``[B]`` (nats), all in support space.

    With ``xbar = N alpha x + (1 - alpha)`` and ``xbar_theta`` likewise, per position::

        alpha'/(N alpha) * [N/xbar[z] - N/xbar_theta[z]
                            - sum_j xbar_j/xbar[z] (log xbar_theta[z] - log xbar_theta[j] + log xbar[j] - log xbar[z])]
    """
    n = log_x_theta.shape[-1]
    alpha = schedule.alpha(t)[:, None, None]
    dalpha = schedule.dalpha(t)[:, None, None]
    x_onehot = torch.nn.functional.one_hot(x, n).to(log_x_theta.dtype)
    xbar = n * alpha * x_onehot + (1 - alpha)
    xbar_theta = n * alpha * log_x_theta.exp() + (1 - alpha)
    zi = z.unsqueeze(-1)
    xbar_z = xbar.gather(-1, zi)
    xbar_theta_z = xbar_theta.gather(-1, zi)
    log_xbar, log_xbar_theta = xbar.log(), xbar_theta.log()
    inner = (xbar / xbar_z) * (xbar_theta_z.log() - log_xbar_theta + log_xbar - xbar_z.log())
    bracket = n / xbar_z - n / xbar_theta_z - inner.sum(-1, keepdim=True)
    per_position = (dalpha / (n * alpha)) * bracket
    return per_position.squeeze(-1).sum(-1)
