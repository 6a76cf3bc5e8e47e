"""Discrete classifier-free guidance (D-CFG).

``log x~ = gamma log x(z, y) + (1 - gamma) log x(z, null)``, renormalised, the conditional and
unconditional passes in one batched forward. Masked and autoregressive models use ``x~`` as their
prediction; uniform models mix the two *posteriors* this way (:meth:`CFGDenoiser.reverse_step`).
With several targets, ``y`` sets every target's label to 1 at once (the model learnt that joint
conditional, labels being dropped independently in training).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moldiff.diffusion.processes import uniform_reverse
from moldiff.guidance.base import GuidedDenoiser, mix_log

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser


class CFGDenoiser(GuidedDenoiser):
    """Classifier-free guidance toward ``labels`` with strength ``gamma`` (see module docstring)."""

    def __init__(self, base: Denoiser, labels: torch.Tensor, null: torch.Tensor, gamma: float) -> None:
        super().__init__(base)
        self.cond_labels, self.null_labels, self.gamma = labels, null, gamma

    def _both(self, z: torch.Tensor, level: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        batch = len(z)
        labels = torch.cat([self.cond_labels.expand(batch, -1), self.null_labels.expand(batch, -1)])
        out = self.base.log_probs(torch.cat([z, z]), None if level is None else torch.cat([level, level]), labels)
        return out[:batch], out[batch:]

    def log_probs(self, z, level, labels):
        if self.gamma == 0.0:
            return self.base.log_probs(z, level, self.null_labels.expand(len(z), -1))
        if self.kind == "uniform":  # uniform models mix posteriors, not predictions: see reverse_step
            return self.base.log_probs(z, level, self.cond_labels.expand(len(z), -1))
        cond, uncond = self._both(z, level)
        return mix_log(cond, uncond, self.gamma)

    def reverse_step(self, z_support, level, alpha_t, alpha_s, shape) -> torch.Tensor:
        """Uniform models: ``gamma log q(z_s | z_t, x_c) + (1 - gamma) log q(z_s | z_t, x_u)``, renormalised."""
        tokens = self.support[z_support]
        cond, uncond = self._both(tokens, level)
        posteriors = [
            uniform_reverse(shape(lp.double().exp()[..., self.support]), z_support, alpha_t, alpha_s)
            for lp in (cond, uncond)
        ]
        return mix_log(*(p.clamp_min(0).log() for p in posteriors), self.gamma).exp()
