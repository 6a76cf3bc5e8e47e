"""Frechet ChemNet Distance through ``fcd_torch``, which ships the ChemNet weights (offline).

Reference statistics (mean and covariance of ChemNet activations) are cached in memory and on
disk under ``$MOLDIFF_CACHE`` (default ``~/.cache/moldiff``), keyed by the reference molecules; a
damaged cache file is recomputed and replaced, with a warning.
"""

from __future__ import annotations

import functools
import logging
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moldiff.core.assets import cache_dir
from moldiff.core.files import atomic_write, sha256_text

log = logging.getLogger("moldiff")

Statistics = dict[str, np.ndarray]


@functools.cache
def _chemnet(device: str):
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=1, canonize=False)


def chemnet_statistics(smiles: Sequence[str], device: str = "cpu") -> Statistics:
    """Mean and covariance of ChemNet activations over at least two canonical SMILES."""
    if len(smiles) < 2:
        raise ValueError("FCD needs at least two molecules")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fcd_torch uses numpy functions deprecated since 2.0
        return _chemnet(device).precalc(list(smiles))


@functools.cache
def _reference_statistics(key: str, smiles: tuple[str, ...], device: str) -> Statistics:
    path = cache_dir() / "fcd" / f"{key}.npz"
    if path.exists():
        cached = _read_statistics(path)
        if cached is not None:
            return cached
        log.warning("FCD reference statistics %s are damaged: recomputing and replacing them", path)
    stats = chemnet_statistics(smiles, device)
    try:
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **stats)
    except OSError as exc:
        log.warning("could not cache FCD reference statistics in %s: %s", path.parent, exc)
    return stats


def _read_statistics(path: Path) -> Statistics | None:
    """The statistics of a cache file; ``None`` if it is unreadable or malformed."""
    try:
        with np.load(path) as data:
            mu, sigma = data["mu"], data["sigma"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        return None
    return {"mu": mu, "sigma": sigma}


def reference_statistics(smiles: Sequence[str], device: str = "cpu") -> Statistics:
    """ChemNet statistics of a reference set, cached by the set's content."""
    ordered = tuple(sorted(smiles))
    key = sha256_text("\n".join(ordered))[:32]
    return _reference_statistics(key, ordered, device)


def frechet_chemnet_distance(generated: Sequence[str], reference: Sequence[str], device: str = "cpu") -> float:
    """FCD between generated and reference canonical SMILES (NaN if fewer than two generated)."""
    if len(generated) < 2:
        return float("nan")
    from fcd_torch.utils import calculate_frechet_distance

    ref = reference_statistics(reference, device)
    gen = chemnet_statistics(generated, device)
    return float(calculate_frechet_distance(ref["mu"], ref["sigma"], gen["mu"], gen["sigma"]))
