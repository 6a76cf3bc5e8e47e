"""Exporting a model: a training run or model copied into a model directory, with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moldiff.chemistry.targets import TARGET_FILE
from moldiff.core.errors import MoldiffError
from moldiff.store.modelcard import write_card
from moldiff.store.modelfile import read_model, save_model
from moldiff.store.recommended import check_recommendation


def export_model(source: str | Path, destination: str | Path, dtype: str = "float16", force: bool = False,
                 sampling: dict[str, Any] | None = None) -> Path:
    """Copy the model at ``source`` (e.g. a training run) into ``destination`` with weights in ``dtype``,
    and render its model card (``README.md``) there.

    The record (training, data, validation) is kept; half-precision weights halve the size and are
    upcast to float32 on :func:`load`. A ``destination`` that exists and is not empty is refused
    unless ``force`` (then its model files and card are replaced; other files are left alone).
    ``sampling`` (keys of :data:`moldiff.store.recommended.RECOMMENDED_KEYS`) replaces the recommended sampler
    settings that ``sample`` uses by default; without it the source's record, if any, is kept.
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise MoldiffError(f"{destination} is a file: give a directory for the model")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise MoldiffError(f"{destination} already exists and is not empty: add --force to replace the model in it, or choose another directory")
    model = read_model(source)
    if sampling is not None:  # checked against the model before anything is written
        check_recommendation({**model.config, "sampling": sampling}, "--recommend")
    record = {k: v for k, v in model.config.items() if k not in ("format", "version", "network", "weights", "integrity")}
    if sampling is not None:
        record["sampling"] = dict(sampling)
    save_model(destination, model.network, record, dtype)
    in_target_folder = (destination.parent / TARGET_FILE).exists()  # guidance/TARGET/PROCESS: named TARGET/PROCESS
    write_card(destination, f"{destination.parent.name}/{destination.name}" if in_target_folder else destination.name)
    return destination
