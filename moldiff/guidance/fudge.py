"""FUDGE for autoregressive models: the top-k next tokens reweighted by a prefix classifier ``p(y | x_<=i)^gamma``.

Several targets: the classifier is :class:`~moldiff.guidance.multi.WeightedClassifiers` with gamma 1, so
the reweighting is ``prod_k p_k(y_k | x_<=i)^gamma_k`` (:func:`~moldiff.guidance.multi.combine`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moldiff.guidance.base import Classifier, GuidedDenoiser

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser


class FudgeDenoiser(GuidedDenoiser):
    """FUDGE: next-token candidates (top ``k``) reweighted by a prefix classifier to the power ``gamma``."""

    def __init__(self, base: Denoiser, classifier: Classifier, gamma: float, top_k: int | None = None) -> None:
        super().__init__(base)
        self.classifier, self.gamma = classifier, gamma
        self.top_k = top_k or base.vocab_size
        self.classifier_passes = 0

    def log_probs(self, z, level, labels):
        return self.log_probs_pair(z, level, labels)[..., 0, :]

    def log_probs_pair(self, z, level, labels) -> torch.Tensor:
        """``[B, L, 2, N]``: the reweighted prediction and the base model's, whose top-p nucleus the sampler
        keeps (``nucleus="model"``, :mod:`~moldiff.diffusion.samplers`)."""
        log_p = self.base.log_probs(z, level, labels).double()
        if self.gamma == 0.0:
            return torch.stack([log_p, log_p], dim=-2)
        last = log_p[:, -1]
        k = min(self.top_k, last.shape[-1])
        values, candidates = last.topk(k, dim=-1)
        batch, length = z.shape
        extended = torch.cat([z[:, None, :].expand(batch, k, length), candidates[..., None]], dim=-1).reshape(batch * k, length + 1)
        with torch.no_grad():
            score = self.classifier.log_prob(extended, None).view(batch, k).double()
        self.classifier_passes += batch * k
        score = torch.nan_to_num(score, nan=-torch.inf)  # a prefix the classifier cannot score
        guided = torch.where(torch.isinf(values), values, values + self.gamma * score)  # impossible tokens stay so
        reweighted = torch.full_like(last, -torch.inf).scatter(-1, candidates, guided)
        guided = log_p.clone()
        guided[:, -1] = reweighted.log_softmax(-1)
        return torch.stack([guided, log_p], dim=-2)
