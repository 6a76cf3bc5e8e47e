"""The denoiser protocol that samplers consume, and its implementation for trained models.

A denoiser maps noisy tokens to log-probabilities of the clean tokens::

    log_probs(z [B, L], level [B] or None, labels [B, targets] or None) -> [B, L, N]

- ``kind == "masked"``: ``log x_theta(z)``; no mass on ``mask_id``; only masked positions are used.
- ``kind == "uniform"``: ``log E[x | z_t]`` per position (the posterior mean), given the noise level
  ``1 - alpha_t``; no mass outside ``support`` (the tokens the uniform process draws from). A
  network trained with the UDLM ELBO predicts ``x_theta`` for the plug-in posterior instead;
  :class:`ModelDenoiser` converts it (:func:`moldiff.diffusion.processes.plugin_to_mean`).
- ``kind == "autoregressive"``: position ``i`` holds ``log p(x_{i+1} | x_<=i)``; ``z`` is a prefix.

Its vocabulary facts: ``vocab_size`` N, ``length`` L, ``mask_id``, ``bos_id`` (a token fixed at
position 0, or None), ``eos_id`` / ``pad_id`` (None when sequences have no end marker),
``uses_time`` (whether ``level`` matters: samplers skip re-evaluating unchanged sequences when it
does not) and ``support``. Trained models are wrapped by :class:`ModelDenoiser`; a user's network
or an exact test denoiser only needs the same attributes and method.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from moldiff.diffusion.processes import (
    Support,
    forbid_bos,
    plugin_to_mean,
    subs_log_probs,
)

DENOISER_KINDS = {"mdlm": "masked", "udlm": "uniform", "ar": "autoregressive"}


class Denoiser(Protocol):
    """What a sampler needs of a model (see the module docstring)."""

    kind: str
    vocab_size: int
    length: int
    mask_id: int | None
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    uses_time: bool
    support: torch.Tensor | None
    device: torch.device

    def log_probs(self, z: torch.Tensor, level: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor: ...


class TrainedModel(Protocol):
    """What :class:`ModelDenoiser` reads of a trained model (a :class:`moldiff.store.modelfile.StoredModel`
    or anything alike): its kind (``mdlm``, ``udlm``, ``ar``), network and tokenizer."""

    kind: str
    network: torch.nn.Module
    tokenizer: Any
    device: torch.device


class ModelDenoiser:
    """A trained MDLM, UDLM or AR model as a :class:`Denoiser`."""

    def __init__(self, model: TrainedModel) -> None:
        if model.kind not in DENOISER_KINDS:
            raise ValueError(f"a {model.kind} is not a denoiser")
        tokenizer = model.tokenizer
        self.model = model
        self.network = model.network
        self.kind = DENOISER_KINDS[model.kind]
        self.vocab_size = tokenizer.vocab_size
        self.length = tokenizer.max_length
        self.mask_id = tokenizer.mask_id
        self.bos_id, self.eos_id, self.pad_id = tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id
        self.uses_time = model.network.config.time_conditioning
        self.device = model.device
        self.support = None
        if self.kind == "uniform":
            process = Support(self.vocab_size, self.mask_id, self.device)
            self.support, self.to_support = process.tokens, process.to_support

    @torch.no_grad()
    def log_probs(self, z: torch.Tensor, level: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        logits = self.network(z, level if self.uses_time else None, labels).float()
        logits = forbid_bos(logits, self.bos_id, first=0 if self.kind == "autoregressive" else 1)
        if self.kind == "masked":
            return subs_log_probs(logits, z, self.mask_id)
        if self.kind == "uniform":
            x_theta = logits[..., self.support].double().softmax(-1)
            mean = plugin_to_mean(x_theta, self.to_support[z], 1.0 - level.double())
            out = torch.full_like(logits, -torch.inf)
            out[..., self.support] = mean.clamp_min(1e-300).log().float()
            return out
        return logits.log_softmax(-1)
