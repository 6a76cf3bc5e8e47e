"""The object users sample from: :func:`load` a model, then call ``.sample()`` on it.

:class:`LoadedModel` wraps a plain :class:`~moldiff.store.modelfile.StoredModel` record (network,
tokenizer, targets, config) read and verified by the model store, the way a diffusers pipeline
wraps its models: the store knows nothing about sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from moldiff.pipeline.generate import GenerateResult, generate
from moldiff.pipeline.options import SampleOptions
from moldiff.store.modelfile import StoredModel, read_model

if TYPE_CHECKING:
    from moldiff.chemistry.targets import Target
    from moldiff.chemistry.tokenizers import Tokenizer
    from moldiff.diffusion.networks import Transformer


class LoadedModel:
    """A trained model ready to sample (``.sample()``); its record's fields read through."""

    def __init__(self, record: StoredModel) -> None:
        self.record = record

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def network(self) -> Transformer:
        return self.record.network

    @property
    def tokenizer(self) -> Tokenizer:
        return self.record.tokenizer

    @property
    def targets(self) -> list[Target]:
        return self.record.targets

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def process(self) -> str | None:
        return self.record.process

    @property
    def device(self) -> torch.device:
        return self.record.device

    @property
    def target_names(self) -> list[str]:
        return self.record.target_names

    def sample(
        self,
        num_samples: int = 256,
        *,
        keep: str | Sequence[str] | None = None,
        where: str | Sequence[str] | None = None,
        max_samples: int | None = None,
        scaffold: str | None = None,
        fragments: str | None = None,
        start: str | None = None,
        remask: float | None = None,
        remask_atoms: str | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        t_on: float | None = None,
        t_off: float | None = None,
        alpha_on: float | None = None,
        confidence: bool | None = None,
        loop_window: bool | None = None,
        t_switch: float | None = None,
        preset: str | None = None,
        top_p: float | None = None,
        nucleus: str | None = None,
        temperature: float | None = None,
        schedule: str | None = None,
        guidance: str | None = None,
        gamma: float | Sequence[float] = 1.0,
        target: str | Sequence[str] | None = None,
        classifier: str | None = None,
        top_k: int | None = None,
        seed: int | None = 0,
        batch_size: int = 256,
        device: str | None = None,
        reference: str | None = None,
        oracles: str | Sequence[str] | None = None,
        skip_unchanged: bool = True,
        progress: bool = True,
        threads: int | str | None = None,
    ) -> GenerateResult:
        """Sample ``num_samples`` molecules; returns a :class:`~moldiff.pipeline.generate.GenerateResult`.

        Filters (:mod:`moldiff.pipeline.generate`): ``keep`` (``valid``, ``unique``, ``novel``,
        ``hits``) and ``where`` (``"qed>0.5,sa<4"``) sample in seeded rounds until ``num_samples``
        molecules pass or ``max_samples`` (default 10 x ``num_samples``) are generated; ``where`` also takes
        ``has(SMARTS)`` and ``lacks(SMARTS)``. Constraints (:mod:`moldiff.pipeline.constraints`):
        ``scaffold="*C1CC1"`` decorates the attachment points ``*``, ``fragments="A*.*B"`` links two
        fragments, ``start=SMILES`` with ``remask=0.3`` and/or ``remask_atoms=SMARTS`` makes analogs. Sampler
        settings left at None take the model's recommended values (its config's ``sampling``
        record), else the defaults of :func:`moldiff.pipeline.sampling.sample`; a ``preset`` (the
        ReMDM paper's settings, see :mod:`moldiff.guidance.presets`) replaces the recommendation.
        Guidance (``guidance``) toward ``target`` (a name, ``"rings,qed"`` or a list) with strength
        ``gamma``: one number for every target, or a list with one per target (``gamma=[3, 1]``; see
        ``docs/guidance.md``, several objectives).
        ``seed=None`` draws a seed and reports it. Molecule ``i`` depends only on ``(seed, i)``:
        ``batch_size`` never changes the result and a larger ``num_samples`` extends a smaller one.
        ``threads``: torch threads while sampling (default ``$MOLDIFF_THREADS``, else 1; ``"auto"``:
        torch's choice). ``reference``: what novelty is judged against (default: the built-in data set
        the model learned, ``qm9`` or ``moses``). Every keyword is a field of :class:`~moldiff.pipeline.options.SampleOptions`.
        """
        settings = {k: v for k, v in locals().items() if k not in ("self", "num_samples")}
        return generate(self.record, num_samples, SampleOptions(**settings))

    def __repr__(self) -> str:
        return repr(self.record).replace(type(self.record).__name__, type(self).__name__, 1)


def load(name_or_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model or classifier by name (``models/`` then ``guidance/``) or path, verified, on ``device``.

    Anything truncated, corrupted or mismatched is a one-line :class:`~moldiff.core.errors.MoldiffError`
    naming the file (see :func:`moldiff.store.modelfile.read_model`).
    """
    return LoadedModel(read_model(name_or_path, device))
