"""One options object for a sampling run: :class:`SampleOptions`.

The command line, ``model.sample(...)``, :func:`moldiff.pipeline.generate.generate`,
:func:`moldiff.pipeline.sampling.sample` and frontier sweeps all pass their settings as one
:class:`SampleOptions`. A field left ``None`` is *not set*: :func:`~moldiff.pipeline.generate.generate`
fills the sampler settings from the model's recommendation (:mod:`moldiff.store.recommended`),
and :func:`~moldiff.pipeline.sampling.sample` fills what is still unset from :data:`DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SamplerOptions

#: Oracles every sample is scored with unless told otherwise.
DEFAULT_ORACLES = ("rings", "qed")
#: The values of unset fields when sampling (the rest default to None: the sampler's own default).
DEFAULTS: dict[str, Any] = {"steps": 128, "schedule": "loglinear", "top_p": 1.0, "temperature": 1.0, "gamma": 1.0,
                            "oracles": DEFAULT_ORACLES}


@dataclass(frozen=True)
class SampleOptions:
    """Every setting of a sampling run (``None``: not set; see the module docstring).

    Sampler: ``sampler``, ``steps``, ``schedule``, ``eta``, ``t_on``, ``t_off``, ``alpha_on``,
    ``confidence``, ``loop_window``, ``t_switch``, ``top_p``, ``temperature`` (see
    :class:`moldiff.diffusion.samplers.SamplerOptions`), or a ``preset`` of the ReMDM paper.
    Guidance: ``guidance`` (``cfg``, ``cbg``, ``cbg-taylor``, ``fudge``) toward ``target`` with
    strength ``gamma``; ``classifier`` and ``top_k`` for cbg and fudge. Run: ``seed`` (None: drawn
    and reported), ``batch_size``, ``device``, ``threads``, ``progress``, ``skip_unchanged``.
    Results: novelty against ``reference``, scored by ``oracles``. Filters (only
    :func:`~moldiff.pipeline.generate.generate`): ``keep``, ``where``, ``max_samples``.
    """

    sampler: str | None = None
    steps: int | None = None
    schedule: str | None = None
    eta: float | None = None
    t_on: float | None = None
    t_off: float | None = None
    alpha_on: float | None = None
    confidence: bool | None = None
    loop_window: bool | None = None
    t_switch: float | None = None
    top_p: float | None = None
    temperature: float | None = None
    preset: str | None = None
    guidance: str | None = None
    gamma: float | None = None
    target: str | Sequence[str] | None = None
    classifier: str | None = None
    top_k: int | None = None
    seed: int | None = 0
    batch_size: int = 256
    device: str | None = None
    threads: int | str | None = None
    progress: bool = True
    skip_unchanged: bool = True
    reference: str = "qm9"
    oracles: str | Sequence[str] | None = None
    keep: str | Sequence[str] | None = None
    where: str | Sequence[str] | None = None
    max_samples: int | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> SampleOptions:
        """A copy with ``changes``; an unknown setting is a one-line error naming the known ones."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise MoldiffError(f"unknown sampling option(s) {', '.join(unknown)}: choose from {', '.join(self.names())}")
        return dataclasses.replace(self, **changes)

    def given(self) -> dict[str, Any]:
        """The fields that are set (not None)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def value(self, name: str) -> Any:
        """A field's value, or its sampling default (:data:`DEFAULTS`) when unset."""
        value = getattr(self, name)
        return DEFAULTS.get(name) if value is None else value

    def sampler_options(self, **resolved: Any) -> SamplerOptions:
        """The :class:`SamplerOptions` of this run; ``resolved`` (e.g. a preset's sampler settings)
        take the place of fields."""
        fields = {f.name for f in dataclasses.fields(SamplerOptions)}
        settings = {name: self.value(name) for name in fields}
        settings.update(resolved)
        return SamplerOptions(**{k: v for k, v in settings.items() if v is not None})


def sampling_defaults() -> dict[str, Any]:
    """What each field is when sampling with nothing set (frontier cache keys record the settings that differ)."""
    return {name: SampleOptions().value(name) for name in SampleOptions.names()}
