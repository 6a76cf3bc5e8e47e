"""What the guidance methods share: the method tables, the wrapper base, classifiers and checks.

A guided denoiser wraps a :class:`~moldiff.diffusion.denoisers.Denoiser` and is one itself
(:class:`GuidedDenoiser`). A classifier gives ``log p(y | z)`` per sequence
(:class:`Classifier`); :class:`NetworkClassifier` and :class:`PrefixClassifier` adapt trained
classifier networks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import MODEL_KIND_OF

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser

GUIDANCE = ("none", "cfg", "cbg", "cbg-taylor", "fudge")
#: Which guidance fits which denoiser kind.
GUIDANCE_KINDS = {
    "cfg": ("masked", "uniform", "autoregressive"),
    "cbg": ("masked", "uniform"),
    "cbg-taylor": ("masked", "uniform"),
    "fudge": ("autoregressive",),
}
#: The classifier process that guides each denoiser kind.
CLASSIFIER_PROCESS = {"masked": "mask", "uniform": "uniform", "autoregressive": "prefix"}


def mix_log(log_cond: torch.Tensor, log_uncond: torch.Tensor, gamma: float) -> torch.Tensor:
    """``gamma log p_c + (1 - gamma) log p_u`` renormalised over the last dim; -inf where either is."""
    if gamma == 0.0:
        return log_uncond
    impossible = torch.isinf(log_cond) | torch.isinf(log_uncond)
    mixed = gamma * log_cond.masked_fill(impossible, 0.0) + (1.0 - gamma) * log_uncond.masked_fill(impossible, 0.0)
    mixed = mixed.masked_fill(impossible, -torch.inf)
    return mixed.log_softmax(-1)


def compose_log(log_uncond: torch.Tensor, log_conds: Sequence[torch.Tensor], gammas: Sequence[float]) -> torch.Tensor:
    """``log p_u + sum_k gamma_k (log p_k - log p_u)`` renormalised over the last dim; -inf where a term with
    ``gamma_k != 0`` (or ``p_u``) is. One condition is :func:`mix_log` exactly."""
    if len(log_conds) == 1:
        return mix_log(log_conds[0], log_uncond, gammas[0])
    used = [(c, g) for c, g in zip(log_conds, gammas) if g != 0.0]
    if not used:
        return log_uncond
    impossible = torch.isinf(log_uncond)
    for cond, _ in used:
        impossible = impossible | torch.isinf(cond)
    mixed = (1.0 - sum(g for _, g in used)) * log_uncond.masked_fill(impossible, 0.0)
    for cond, gamma in used:
        mixed = mixed + gamma * cond.masked_fill(impossible, 0.0)
    return mixed.masked_fill(impossible, -torch.inf).log_softmax(-1)


class GuidedDenoiser:
    """Forwards the vocabulary facts of the wrapped denoiser."""

    def __init__(self, base: Denoiser) -> None:
        self.base = base
        for name in ("kind", "vocab_size", "length", "mask_id", "bos_id", "eos_id", "pad_id", "support", "device"):
            setattr(self, name, getattr(base, name))
        self.uses_time = base.uses_time


class Classifier(Protocol):
    """``log p(y | z)`` per sequence for noisy inputs (``z`` ids ``[B, L]`` or one-hot ``[B, L, N]``)."""

    def log_prob(self, z: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor: ...


@dataclass
class NetworkClassifier:
    """A trained noisy-input classifier network for one target as ``log p(y = label | z)``."""

    network: torch.nn.Module
    label: int = 1

    def log_prob(self, z: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        network = self.network
        logits = network(z, level if network.config.time_conditioning else None).float()
        return logits.log_softmax(-1)[..., self.label]


class PrefixClassifier:
    """A trained prefix classifier as ``log p(y | whole prefix)`` (its last position's prediction)."""

    def __init__(self, network: torch.nn.Module, label: int = 1) -> None:
        self.network, self.label = network, label

    def log_prob(self, z: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        return self.network(z).float().log_softmax(-1)[:, -1, self.label]


def check_gamma(gamma: float | Sequence[float]) -> None:
    """Refuse a guidance strength (or one of several, one per target) that is negative or not finite (nan, inf)."""
    values = [gamma] if isinstance(gamma, numbers.Real) else list(gamma)
    if not values:
        raise MoldiffError("gamma needs at least one value")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise MoldiffError(f"gamma must be a number, not {value!r}")
        if not math.isfinite(value) or value < 0:
            raise MoldiffError(f"gamma must be >= 0 and finite, not {value}")


def check_guidance(guidance: str, gamma: float | Sequence[float], kind: str) -> None:
    """Clear errors for an unknown method, a negative or non-finite gamma, or a method that does not fit the model."""
    if guidance not in GUIDANCE:
        raise MoldiffError(f"unknown guidance '{guidance}': choose one of {', '.join(GUIDANCE)}")
    check_gamma(gamma)
    if guidance != "none" and kind not in GUIDANCE_KINDS[guidance]:
        fitting = [g for g, kinds in GUIDANCE_KINDS.items() if kind in kinds]
        raise MoldiffError(f"guidance '{guidance}' does not fit {MODEL_KIND_OF[kind]} models: use {', '.join(fitting)}")


def check_top_k(top_k: int | None, guidance: str, denoiser: Denoiser) -> None:
    """``top_k`` candidates: only for exact cbg on masked models and fudge, between 1 and the tokens there are."""
    if top_k is None:
        return
    if not (guidance == "fudge" or (guidance == "cbg" and denoiser.kind == "masked")):
        raise MoldiffError(f"--top-k applies to cbg on masked models and to fudge, not to guidance '{guidance}'"
                           + (f" on {MODEL_KIND_OF[denoiser.kind]} models" if guidance == "cbg" else ""))
    tokens = denoiser.vocab_size - (1 if denoiser.kind == "masked" else 0)
    if not 1 <= top_k <= tokens:
        raise MoldiffError(f"--top-k must be between 1 and {tokens} (the candidate tokens), not {top_k}")
