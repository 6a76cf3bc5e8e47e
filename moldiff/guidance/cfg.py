"""Discrete classifier-free guidance (D-CFG).

``log x~ = gamma log x(z, y) + (1 - gamma) log x(z, null)``, renormalised, the conditional and
unconditional passes in one batched forward. Masked and autoregressive models use ``x~`` as their
prediction; uniform models mix the two *posteriors* this way (:meth:`CFGDenoiser.reverse_step`).

Several targets, two forms: with one gamma, ``y`` sets every target's label to 1 at once (the model
learnt that joint conditional, labels being dropped independently in training). With one gamma per
target, each target is its own condition ``y_k`` (its label 1, the others null) and
``log x~ = log x(z, null) + sum_k gamma_k (log x(z, y_k) - log x(z, null))``, renormalised: ``K + 1``
passes in one batched forward. With one target both forms are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from moldiff.diffusion.processes import uniform_reverse
from moldiff.guidance.base import GuidedDenoiser, compose_log

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser


class CFGDenoiser(GuidedDenoiser):
    """Classifier-free guidance toward the label rows ``labels`` ``[K, targets]`` with strengths ``gamma``
    (one number for one row, else one per row; see the module docstring)."""

    def __init__(self, base: Denoiser, labels: torch.Tensor, null: torch.Tensor, gamma: float | Sequence[float]) -> None:
        super().__init__(base)
        self.cond_labels, self.null_labels, self.gamma = labels, null, gamma
        self.gammas = tuple(gamma) if isinstance(gamma, Sequence) else (gamma,)
        if len(self.gammas) != len(labels):
            raise ValueError(f"{len(labels)} label rows but {len(self.gammas)} gammas")

    def _all(self, z: torch.Tensor, level: torch.Tensor | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The predictions under each label row and under the null labels, in one batched forward."""
        batch, rows = len(z), len(self.cond_labels) + 1
        labels = torch.cat([*(row.expand(batch, -1) for row in self.cond_labels), self.null_labels.expand(batch, -1)])
        out = self.base.log_probs(z.repeat(rows, 1), None if level is None else level.repeat(rows), labels)
        parts = list(out.split(batch))
        return parts[:-1], parts[-1]

    def log_probs(self, z, level, labels):
        if not any(self.gammas):
            return self.base.log_probs(z, level, self.null_labels.expand(len(z), -1))
        if self.kind == "uniform" and len(self.cond_labels) == 1:  # uniform models mix posteriors: see reverse_step
            return self.base.log_probs(z, level, self.cond_labels.expand(len(z), -1))
        conds, uncond = self._all(z, level)
        return compose_log(uncond, conds, self.gammas)

    def log_probs_pair(self, z, level, labels) -> torch.Tensor:
        """``[B, L, 2, N]``: the guided prediction and its reference, the conditional model (every gamma 1),
        whose top-p nucleus the masked and AR samplers keep (``nucleus="model"``, :mod:`~moldiff.diffusion.samplers`)."""
        if not any(self.gammas):
            guided = self.log_probs(z, level, labels)
            return torch.stack([guided, guided], dim=-2)
        conds, uncond = self._all(z, level)
        reference = compose_log(uncond, conds, (1.0,) * len(conds))
        return torch.stack([compose_log(uncond, conds, self.gammas), reference], dim=-2)

    def reverse_step(self, z_support, level, alpha_t, alpha_s, shape) -> torch.Tensor:
        """Uniform models: ``log q(z_s | z_t, x_u) + sum_k gamma_k (log q(z_s | z_t, x_k) - log q(z_s | z_t, x_u))``, renormalised."""
        tokens = self.support[z_support]
        conds, uncond = self._all(tokens, level)
        posteriors = [
            uniform_reverse(shape(lp.double().exp()[..., self.support]), z_support, alpha_t, alpha_s).clamp_min(0).log()
            for lp in (*conds, uncond)
        ]
        return compose_log(posteriors[-1], posteriors[:-1], self.gammas).exp()
