"""The sampler settings a model recommends: the ``sampling`` record of its ``config.json``.

``moldiff sample`` and ``model.sample()`` use them for every setting the user leaves out; they are
written by ``moldiff export-model --recommend`` (:func:`parse_recommendation`) and chosen on a
measured frontier (see the model's card).
"""

from __future__ import annotations

import json
from typing import Any

from moldiff.core.errors import MoldiffError

#: Keys of a model config's ``sampling`` record: the recommended settings (issue: per-model defaults).
RECOMMENDED_KEYS = ("sampler", "steps", "eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch",
                    "schedule", "top_p", "temperature")
#: Settings that belong to the recommended sampler and do not carry over to another one.
SAMPLER_SPECIFIC = ("eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch")


def recommended_options(config: dict[str, Any], sampler: str | None = None) -> dict[str, Any]:
    """The sampling settings a model's ``config.json`` recommends (its ``sampling`` record).

    When the user picks another sampler than the recommended one, the recommended sampler's own
    parameters (eta, t_on, t_off, alpha_on) are left out; steps, schedule, top-p and temperature stay.
    """
    record = config.get("sampling") or {}
    if not isinstance(record, dict):
        raise MoldiffError(f"the 'sampling' record of {config.get('kind', 'the')} model config must be a table of settings")
    unknown = sorted(set(record) - set(RECOMMENDED_KEYS))
    if unknown:
        raise MoldiffError(f"unknown recommended sampling setting(s) {', '.join(unknown)} in the model config "
                           f"(known: {', '.join(RECOMMENDED_KEYS)})")
    if sampler is not None and record.get("sampler", sampler) != sampler:
        return {k: v for k, v in record.items() if k not in (*SAMPLER_SPECIFIC, "sampler")}
    return dict(record)


def parse_recommendation(text: str) -> dict[str, Any]:
    """``sampler=remdm-loop,steps=128,top_p=0.9`` as a ``sampling`` record: values that read as JSON
    (numbers, true/false) are converted, others stay strings; an item without a value is a one-line
    error. Keys are checked where the record is used (:func:`recommended_options`)."""
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
