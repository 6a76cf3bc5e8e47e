"""The sampler settings a model recommends: the ``sampling`` record of its ``config.json``.

``moldiff sample`` and ``model.sample()`` use them for every setting the user leaves out; they are
written by ``moldiff export-model --recommend`` (:func:`parse_recommendation`) and chosen on a
measured frontier (see the model's card).
"""

from __future__ import annotations

import json
from typing import Any

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.denoisers import DENOISER_KINDS
from moldiff.diffusion.samplers import DEFAULT_SAMPLER, SAMPLER_SPECIFIC, SamplerOptions

#: Keys of a model config's ``sampling`` record and the type of each value.
RECOMMENDED_TYPES: dict[str, type] = {
    "sampler": str, "steps": int, "eta": float, "t_on": float, "t_off": float, "alpha_on": float,
    "confidence": bool, "loop_window": bool, "t_switch": float, "schedule": str, "top_p": float, "nucleus": str, "temperature": float,
}
RECOMMENDED_KEYS = tuple(RECOMMENDED_TYPES)


def check_recommendation(config: dict[str, Any], where: str = "the model config") -> dict[str, Any]:
    """The ``sampling`` record of a model config, checked as the command-line options are: known keys,
    values of the right type, and a sampler run with them that fits the model (one-line errors naming
    ``where``). A config without a record recommends nothing (``{}``)."""
    record = config.get("sampling") or {}
    if not isinstance(record, dict):
        raise MoldiffError(f"{where}: its 'sampling' record must be a table of settings, not {record!r}")
    unknown = sorted(set(record) - set(RECOMMENDED_KEYS))
    if unknown:
        raise MoldiffError(f"{where}: unknown recommended sampling setting(s) {', '.join(unknown)} "
                           f"(known: {', '.join(RECOMMENDED_KEYS)})")
    for key, value in record.items():
        wanted = RECOMMENDED_TYPES[key]
        if not _fits(value, wanted):
            raise MoldiffError(f"{where}: recommended {key} must be {_TYPE_WORDS[wanted]}, not {value!r}")
    kind = DENOISER_KINDS.get(config.get("kind"))
    if kind is not None:
        try:
            SamplerOptions(**{"sampler": DEFAULT_SAMPLER[kind], **record}).validate(kind)
        except MoldiffError as exc:
            raise MoldiffError(f"{where}: its recommended sampling settings do not work: {exc}") from None
    return dict(record)


_TYPE_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _fits(value: Any, wanted: type) -> bool:
    """Whether a JSON value has the type a setting wants (a whole number is a number; true is no number)."""
    if wanted is bool or isinstance(value, bool):
        return wanted is bool and isinstance(value, bool)
    return isinstance(value, wanted) or (wanted is float and isinstance(value, int))


def recommended_options(config: dict[str, Any], sampler: str | None = None,
                        where: str = "the model config") -> dict[str, Any]:
    """The sampling settings a model's ``config.json`` recommends (its checked ``sampling`` record).

    When the user picks another sampler than the recommended one (the record's, else the default
    sampler of the model's kind), the recommended sampler's own parameters
    (:data:`~moldiff.diffusion.samplers.SAMPLER_SPECIFIC`) are left out; steps, schedule, top-p and
    temperature stay.
    """
    record = check_recommendation(config, where)
    kind = DENOISER_KINDS.get(config.get("kind"))
    recommended_sampler = record.get("sampler") or (DEFAULT_SAMPLER[kind] if kind else None)
    if sampler is not None and recommended_sampler != sampler:
        return {k: v for k, v in record.items() if k not in (*SAMPLER_SPECIFIC, "sampler")}
    return record


def parse_recommendation(text: str) -> dict[str, Any]:
    """``sampler=remdm-loop,steps=128,top_p=0.9`` as a ``sampling`` record: values that read as JSON
    (numbers, true/false) are converted, others stay strings; an item without a value is a one-line
    error. The record is checked where it is used (:func:`check_recommendation`)."""
    record: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        key, _, value = (piece.strip() for piece in item.partition("="))
        if not value:
            raise MoldiffError(f"recommended setting '{item}' needs a value, like top_p=0.9")
        try:
            record[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            record[key.replace("-", "_")] = value
    return record
