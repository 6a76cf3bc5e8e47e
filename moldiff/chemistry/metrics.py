"""Sample-quality metrics of generated molecules against a reference data set.

Every set operation works on RDKit canonical SMILES (the public guidance code compared raw strings,
which inflates novelty). Definitions, for ``n`` generated strings:

- ``valid``: RDKit parses it and it is not empty; ``validity = valid / n``;
- ``unique``: distinct canonical SMILES among the valid; ``uniqueness = unique / valid``;
- ``novel``: unique molecules absent from the reference (all of its splits);
  ``novelty = novel / unique`` and ``novel_fraction = novel / n`` (the papers' "novel count" / n);
- property statistics (count, mean, std, quartiles) over all valid molecules and over the novel
  unique ones; for each target, the fraction of valid and of novel molecules that are hits;
- optionally the Frechet ChemNet Distance of the valid molecules to ``fcd_reference``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from moldiff.chemistry.data import load_molecules, load_split, parse_spec
from moldiff.chemistry.molecules import canonicalise_all, smiles_problem
from moldiff.chemistry.oracles import parse_oracles, score

if TYPE_CHECKING:
    from moldiff.chemistry.targets import Target
    from moldiff.chemistry.tokenizers import Decoded, Tokenizer

log = logging.getLogger("moldiff")
#: Below this many valid molecules, an FCD comes with a warning (the papers use 10,000).
FCD_MIN_MOLECULES = 1000


@dataclass(frozen=True)
class Reference:
    """Canonical SMILES that count as known: generated molecules outside them are novel."""

    name: str
    smiles: frozenset[str]


def load_reference(spec: str = "qm9", progress: bool = True) -> Reference:
    """A reference set from a data set spec (``qm9``, ``qm9:train``, ...) or a molecule file."""
    parsed = parse_spec(spec)
    smiles = load_split(*parsed) if parsed else load_molecules(spec, progress=progress).smiles
    return Reference(spec, frozenset(smiles))


def property_statistics(values: np.ndarray) -> dict[str, float]:
    """Count, mean, standard deviation, min, quartiles and max of the finite values (NaN if none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = float("nan")
        return {"count": 0, "mean": nan, "std": nan, "min": nan, "q1": nan, "median": nan, "q3": nan, "max": nan}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "count": int(values.size), "mean": float(values.mean()), "std": float(values.std()),
        "min": float(values.min()), "q1": float(q1), "median": float(median), "q3": float(q3),
        "max": float(values.max()),
    }


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def evaluate(
    generated: Sequence[str | None],
    reference: str | Reference = "qm9",
    oracles: str | Sequence[str] = ("rings", "qed"),
    targets: Sequence[Target] = (),
    fcd: bool = False,
    fcd_reference: str = "qm9:test",
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of generated strings (``None`` or ``''`` count as invalid); a JSON-ready dict."""
    if isinstance(reference, str):
        reference = load_reference(reference, progress=progress)
    requested = parse_oracles(oracles) if oracles else []
    oracle_names = list(dict.fromkeys([*requested, *(t.oracle for t in targets)]))
    canonical = canonicalise_all(list(generated), progress=progress)
    valid = [c for c in canonical if c is not None]
    unique = sorted(set(valid))
    novel = [c for c in unique if c not in reference.smiles]
    n = len(canonical)
    metrics: dict[str, Any] = {
        "n": n,
        "valid": len(valid),
        "unique": len(unique),
        "novel": len(novel),
        "validity": _fraction(len(valid), n),
        "uniqueness": _fraction(len(unique), len(valid)),
        "novelty": _fraction(len(novel), len(unique)),
        "novel_fraction": _fraction(len(novel), n),
        "reference": {"name": reference.name, "molecules": len(reference.smiles)},
    }
    values = score(unique, oracle_names, progress=progress) if oracle_names else {}  # oracles=() is allowed
    by_molecule = {name: dict(zip(unique, values[name].to_numpy())) for name in oracle_names}
    is_novel = np.array([c not in reference.smiles for c in unique], dtype=bool)
    metrics["properties"] = {
        name: {
            "valid": property_statistics(np.array([by_molecule[name][c] for c in valid])),
            "novel": property_statistics(values[name].to_numpy()[is_novel]),
        }
        for name in oracle_names
    }
    metrics["targets"] = {}
    for target in targets:
        valid_hits = target.labels(np.array([by_molecule[target.oracle][c] for c in valid]))
        novel_hits = target.labels(values[target.oracle].to_numpy()[is_novel])
        metrics["targets"][target.name] = {
            "oracle": target.oracle, "direction": target.direction, "threshold": target.threshold,
            "hit_fraction_valid": _fraction(int(valid_hits.sum()), len(valid)),
            "hit_fraction_novel": _fraction(int(novel_hits.sum()), len(novel)),
        }
    if fcd:
        metrics["fcd"] = _fcd(valid, fcd_reference, device, progress)
    return metrics


def _fcd(valid: list[str], fcd_reference: str, device: str, progress: bool) -> dict[str, Any]:
    """FCD of the valid molecules, with a ``warning`` when there are too few for a fair estimate
    and a ``reason`` instead of a value when there are too few for any."""
    from moldiff.chemistry.fcd import frechet_chemnet_distance

    fcd_smiles = load_reference(fcd_reference, progress=progress).smiles
    result: dict[str, Any] = {"value": None, "reference": fcd_reference, "reference_molecules": len(fcd_smiles)}
    if len(valid) < 2:
        result["reason"] = f"FCD needs at least 2 valid molecules (got {len(valid)})"
        log.warning("no FCD: %s", result["reason"])
        return result
    result["value"] = frechet_chemnet_distance(valid, sorted(fcd_smiles), device=device)
    if len(valid) < FCD_MIN_MOLECULES:
        result["warning"] = (f"FCD of only {len(valid)} valid molecules is biased upward and noisy; "
                             f"compare FCDs of at least {FCD_MIN_MOLECULES} molecules")
        log.warning("%s", result["warning"])
    return result


def metrics_table(metrics: dict[str, Any], title: str = "Sample quality"):
    """``rich`` tables of :func:`evaluate`'s metrics (summary, properties), for a terminal or notebook."""
    from rich.console import Group
    from rich.table import Table

    summary = Table(title=title, title_justify="left")
    for column, justify in (("metric", "left"), ("count", "right"), ("fraction", "right"), ("of", "left")):
        summary.add_column(column, justify=justify)
    summary.add_row("generated", str(metrics["n"]), "", "")
    summary.add_row("valid", str(metrics["valid"]), f"{metrics['validity']:.4f}", "generated")
    summary.add_row("unique", str(metrics["unique"]), f"{metrics['uniqueness']:.4f}", "valid")
    summary.add_row("novel", str(metrics["novel"]), f"{metrics['novelty']:.4f}",
                    f"unique (not in {metrics['reference']['name']})")
    summary.add_row("novel", "", f"{metrics['novel_fraction']:.4f}", "generated")
    for name, hits in metrics.get("targets", {}).items():
        sign = ">" if hits["direction"] == "above" else "<"
        label = f"{name}: {hits['oracle']} {sign} {hits['threshold']:.4g}"
        summary.add_row(label, "", f"{hits['hit_fraction_valid']:.4f}", "valid")
        summary.add_row(label, "", f"{hits['hit_fraction_novel']:.4f}", "novel")
    if "fcd" in metrics:
        fcd = metrics["fcd"]
        value = "n/a" if fcd["value"] is None else f"{fcd['value']:.4f}" + (" (few molecules)" if "warning" in fcd else "")
        summary.add_row("FCD", "", value, f"vs {fcd['reference']}" + (f": {fcd['reason']}" if "reason" in fcd else ""))

    properties = Table(title="Properties", title_justify="left")
    for column in ("property", "over", "count", "mean", "q1", "median", "q3"):
        properties.add_column(column, justify="left" if column in ("property", "over") else "right")
    for name, groups in metrics["properties"].items():
        for group, stats in groups.items():
            properties.add_row(name, group, str(stats["count"]),
                               *(f"{stats[k]:.3f}" for k in ("mean", "q1", "median", "q3")))
    return Group(summary, properties)


def molecule_table(tokenizer: Tokenizer, tokens: np.ndarray, reference: str, oracles: Sequence[str]) -> pd.DataFrame:
    """Sampled token ids ``[n, L]`` as one row each: canonical ``smiles`` (empty if invalid), ``raw``
    text, ``valid``, ``novel`` against ``reference``, ``invalid_reason`` (empty for a valid row) and a
    column per oracle.

    Decoding (:meth:`~moldiff.chemistry.tokenizers.Tokenizer.decode`) drops a leading ``<bos>`` and
    every ``<pad>`` and stops at the first ``<eos>``; a leftover mask or start token, an unknown id,
    no ``<eos>``, a string the representation cannot turn into SMILES, or a SMILES RDKit cannot parse
    is an invalid molecule, kept and marked with its reason.
    """
    decoded = tokenizer.decode_batch(tokens)
    canonical = canonicalise_all([d.smiles for d in decoded], progress=False)
    known = load_reference(reference, progress=False).smiles
    table = pd.DataFrame({
        "smiles": [c or "" for c in canonical],
        "raw": [d.text for d in decoded],
        "valid": [c is not None for c in canonical],
        "novel": [c is not None and c not in known for c in canonical],
        "invalid_reason": [_invalid_reason(d, c, tokenizer.representation) for d, c in zip(decoded, canonical)],
    })
    values = score([c or "" for c in canonical], list(oracles), progress=False)
    for name in oracles:
        table[name] = values[name].to_numpy()
    return table


def _invalid_reason(decoded: Decoded, canonical: str | None, representation: str) -> str:
    """Why a decoded row is not a molecule ("" when it is one)."""
    if canonical is not None:
        return ""
    if decoded.error is not None:
        return decoded.error
    if decoded.smiles is None:
        return f"not a valid {representation} string"
    if not decoded.smiles:
        return "empty molecule"
    return smiles_problem(decoded.smiles) or "RDKit cannot parse the SMILES"
