"""One options object for a sampling run: :class:`SampleOptions`.

The command line, ``model.sample(...)``, :func:`moldiff.pipeline.generate.generate`,
:func:`moldiff.pipeline.sampling.sample` and frontier sweeps all pass their settings as one
:class:`SampleOptions`. A field left ``None`` is *not set*: :func:`~moldiff.pipeline.generate.generate`
fills the sampler settings from the model's recommendation (:mod:`moldiff.store.recommended`),
and :func:`~moldiff.pipeline.sampling.sample` fills what is still unset from :data:`DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SamplerOptions

#: Oracles every sample is scored with unless told otherwise.
DEFAULT_ORACLES = ("rings", "qed")
#: The values of unset fields when sampling (the rest default to None: the sampler's own default).
DEFAULTS: dict[str, Any] = {"steps": 128, "schedule": "loglinear", "top_p": 1.0, "nucleus": "model", "temperature": 1.0, "gamma": 1.0,
                            "oracles": DEFAULT_ORACLES}


@dataclass(frozen=True)
class SampleOptions:
    """Every setting of a sampling run (``None``: not set; see the module docstring).

    Sampler: ``sampler``, ``steps``, ``schedule``, ``eta``, ``t_on``, ``t_off``, ``alpha_on``,
    ``confidence``, ``loop_window``, ``t_switch``, ``top_p``, ``nucleus``, ``temperature`` (see
    :class:`moldiff.diffusion.samplers.SamplerOptions`), or a ``preset`` of the ReMDM paper.
    Guidance: ``guidance`` (``cfg``, ``cbg``, ``cbg-taylor``, ``fudge``) toward ``target`` (one or
    several) with strength ``gamma`` (a number for every target, or a list, one per target);
    ``classifier`` and ``top_k`` for cbg and fudge. Run: ``seed`` (None: drawn and reported),
    ``batch_size``, ``device``, ``threads``, ``progress``, ``skip_unchanged``.
    Results: novelty against ``reference`` (None: the built-in data set the model was trained on, else
    ``qm9``; see :func:`moldiff.pipeline.sampling.default_reference`), scored by ``oracles``. Filters (only
    :func:`~moldiff.pipeline.generate.generate`): ``keep``, ``where``, ``max_samples``. Constraints
    (:mod:`moldiff.pipeline.constraints`): ``scaffold`` or ``fragments`` to decorate or link, or a
    ``start`` molecule whose ``remask`` share of tokens and/or ``remask_atoms`` (SMARTS) are regenerated.
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
    nucleus: str | None = None
    temperature: float | None = None
    preset: str | None = None
    guidance: str | None = None
    gamma: float | Sequence[float] | None = None
    target: str | Sequence[str] | None = None
    classifier: str | None = None
    top_k: int | None = None
    seed: int | None = 0
    batch_size: int = 256
    device: str | None = None
    threads: int | str | None = None
    progress: bool = True
    skip_unchanged: bool = True
    reference: str | None = None
    oracles: str | Sequence[str] | None = None
    keep: str | Sequence[str] | None = None
    where: str | Sequence[str] | None = None
    max_samples: int | None = None
    scaffold: str | None = None
    fragments: str | None = None
    start: str | None = None
    remask: float | None = None
    remask_atoms: str | None = None

    def __post_init__(self) -> None:
        for name, kind in _KINDS.items():
            value = getattr(self, name)
            if value is not None and not _is(value, kind):
                drawn = " or None (drawn at random)" if name == "seed" else ""
                raise MoldiffError(f"sampling option {name} must be {_WORDS[kind]}{drawn}, not {value!r}")

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


#: The type of each field's value when set (threads are checked by :func:`moldiff.core.runtime.thread_count`).
_KINDS = {
    **dict.fromkeys(("steps", "top_k", "seed", "batch_size", "max_samples"), "int"),
    **dict.fromkeys(("eta", "t_on", "t_off", "alpha_on", "t_switch", "top_p", "temperature", "remask"), "float"),
    "gamma": "floats",
    **dict.fromkeys(("confidence", "loop_window", "progress", "skip_unchanged"), "bool"),
    **dict.fromkeys(("sampler", "schedule", "preset", "guidance", "classifier", "device", "reference",
                     "scaffold", "fragments", "start", "remask_atoms", "nucleus"), "str"),
    **dict.fromkeys(("target", "oracles", "keep", "where"), "names"),
}
_WORDS = {"int": "a whole number", "float": "a number", "bool": "True or False", "str": "a string",
          "names": "a string or a list of strings", "floats": "a number or a list of numbers (one per target)"}


def _is(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, numbers.Integral)
    if kind == "float":
        return isinstance(value, numbers.Real)
    if kind == "floats":
        return isinstance(value, numbers.Real) or (
            isinstance(value, (list, tuple)) and all(_is(v, "float") for v in value) and len(value) > 0)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))


def check_count(num_samples: Any) -> int:
    """``num_samples`` as a positive whole number, or a one-line error."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1:
        raise MoldiffError(f"the number of molecules must be a whole number of at least 1, not {num_samples!r}")
    return int(num_samples)


def sampling_defaults() -> dict[str, Any]:
    """What each field is when sampling with nothing set (frontier cache keys record the settings that differ)."""
    return {name: SampleOptions().value(name) for name in SampleOptions.names()}
