"""Guidance targets: an oracle, a threshold and a direction, declared in a small TOML file.

``guidance/<name>/target.toml``::

    name = "rings"
    oracle = "rings"            # any name of moldiff.chemistry.oracles
    direction = "above"         # label 1 when value > threshold ("below": value < threshold)
    threshold = 3.0
    description = "..."

    [computed]                  # written by `moldiff target create`, for the record
    percentile = 90.0
    data = "qm9:train"
    data_sha256 = "..."         # which molecules the threshold came from
    molecules = 120418
    positive_fraction = 0.07

A target labelled by data (``moldiff target create NAME --data FILE --column COL --above X``) has
a ``[measured]`` table: its training labels are the file's values of COL against the threshold
(molecules without a value are unlabelled), and ``oracle`` is a fitted oracle of that column
(:mod:`moldiff.chemistry.fitted`) that measures hits among generated molecules::

    [measured]
    data = "assay.csv"
    column = "pIC50"
    data_sha256 = "..."
    pseudo_labels = false       # true: molecules without a value are labelled by the oracle

Users add a target by writing such a file (by hand or with ``moldiff target create``) under
``guidance/<name>/`` in the current directory or in ``$MOLDIFF_HOME``, or by passing its path.
A ``target.toml`` file's ``name`` (if given) must be its folder's name; the threshold must be a
finite number (not a boolean or a string).
"""

from __future__ import annotations

import json
import math
import numbers
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moldiff.chemistry.oracles import get_oracle, score_persistent
from moldiff.core.assets import CHECKOUT_ROOT, find_asset, list_all_assets, list_assets
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write

TARGET_FILE = "target.toml"
DIRECTIONS = ("above", "below")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Target:
    """A binary property label for guidance: ``label = oracle(x) > threshold`` (or ``<``)."""

    name: str
    oracle: str
    threshold: float
    direction: str = "above"
    description: str = ""
    computed: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: For a target labelled by data: ``data``, ``column``, ``data_sha256`` and ``pseudo_labels``.
    measured: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_target_name(self.name)
        get_oracle(self.oracle)
        if self.direction not in DIRECTIONS:
            raise MoldiffError(f"target '{self.name}': direction must be one of {', '.join(DIRECTIONS)}, not '{self.direction}'")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, numbers.Real):
            raise MoldiffError(f"target '{self.name}': malformed threshold {self.threshold!r}: it must be a number")
        if not math.isfinite(self.threshold):
            raise MoldiffError(f"target '{self.name}': threshold must be a finite number")
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def rule(self) -> str:
        """The label rule, e.g. ``'rings > 3'``; for a target labelled by data, what labels and what measures hits."""
        sign = ">" if self.direction == "above" else "<"
        if self.measured:
            kind = "fitted oracle" if get_oracle(self.oracle).kind == "fitted" else "oracle"
            return (f"{self.measured['column']} {sign} {self.threshold:.6g} (training labels: measured in "
                    f"{Path(self.measured['data']).name}; hits among generated molecules: {kind} '{self.oracle}')")
        return f"{self.oracle} {sign} {self.threshold:.6g}"

    def same_labels(self, other: "Target") -> bool:
        """Whether both targets label every molecule alike (same oracle, direction and threshold)."""
        return (self.oracle, self.direction) == (other.oracle, other.direction) and math.isclose(
            self.threshold, other.threshold, rel_tol=1e-9, abs_tol=1e-12)

    def labels(self, values: np.ndarray) -> np.ndarray:
        """Boolean labels of oracle values; NaN (invalid molecule) is never a hit."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return values > self.threshold if self.direction == "above" else values < self.threshold

    def to_toml(self) -> str:
        """The target as the TOML text of its file."""
        lines = [f"# moldiff guidance target '{self.name}'"]
        for key in ("name", "oracle", "direction", "threshold", "description"):
            lines.append(f"{key} = {_toml_value(getattr(self, key))}")
        if self.computed:
            lines += ["", "[computed]"] + [f"{k} = {_toml_value(v)}" for k, v in self.computed.items()]
        if self.measured:
            lines += ["", "[measured]"] + [f"{k} = {_toml_value(v)}" for k, v in self.measured.items()]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        """Write the target file atomically."""
        with atomic_write(path) as handle:
            handle.write(self.to_toml())


def validate_target_name(name: str) -> None:
    """Target names become directory names and CLI words: letters, digits, '_' and '-' only."""
    if not _NAME.fullmatch(name):
        raise MoldiffError(f"target name '{name}' must consist of letters, digits, '_' and '-'")


def default_percentile(direction: str) -> float:
    """90 for ``above`` (about the top 10% are hits), 10 for ``below``."""
    return 90.0 if direction == "above" else 10.0


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    # a JSON string is a TOML basic string, except that TOML has no surrogate-pair escapes
    # (so non-ASCII text stays literal) and wants DEL escaped
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def read_target(path: str | Path) -> Target:
    """Load a target file, with clear errors for a missing, malformed or incomplete one."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MoldiffError(f"no such target file: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MoldiffError(f"cannot read target file {path}: {exc}") from None
    missing = [k for k in ("oracle", "threshold") if k not in data]
    if missing:
        raise MoldiffError(f"target file {path} lacks {', '.join(missing)}")
    folder = path.absolute().parent.name
    name = str(data.get("name", folder))
    if path.name == TARGET_FILE and name != folder:
        raise MoldiffError(f"target file {path} is named '{name}' but lies in the folder '{folder}': "
                           "rename the folder or the name in the file so that they agree")
    try:
        return Target(
            name=name,
            oracle=str(data["oracle"]),
            threshold=data["threshold"],
            direction=str(data.get("direction", "above")),
            description=str(data.get("description", "")),
            computed=dict(data.get("computed", {})),
            path=path,
            measured=_measured_table(data.get("measured", {}), path),
        )
    except (TypeError, ValueError) as exc:
        raise MoldiffError(f"target file {path} is malformed: {exc}") from None
    except MoldiffError as exc:
        raise MoldiffError(f"{path}: {exc}") from None


def _measured_table(table: Any, path: Path) -> dict[str, Any]:
    if not table:
        return {}
    missing = [k for k in ("data", "column", "data_sha256") if not isinstance(table, dict) or k not in table]
    if missing:
        raise MoldiffError(f"target file {path}: its [measured] table lacks {', '.join(missing)}")
    return {"data": str(table["data"]), "column": str(table["column"]), "data_sha256": str(table["data_sha256"]),
            "pseudo_labels": bool(table.get("pseudo_labels", False))}


def builtin_targets() -> list[str]:
    """Names of the shipped targets (``guidance/`` of the moldiff checkout), which user targets may not take."""
    folder = CHECKOUT_ROOT / "guidance"
    return sorted(p.parent.name for p in folder.glob(f"*/{TARGET_FILE}")) if folder.is_dir() else []


def check_new_target_name(name: str) -> None:
    """A valid name that is not a shipped target's."""
    validate_target_name(name)
    if name in builtin_targets():
        raise MoldiffError(f"target name '{name}' clashes with a built-in target: choose another name")


def measured_labels(target: Target, smiles: list[str], progress: bool = True) -> tuple[np.ndarray, dict[str, int]]:
    """Labels of a data-labelled target for canonical ``smiles``: 1.0 / 0.0, NaN for a molecule without a
    measured value (or, with ``pseudo_labels``, the fitted oracle's label); and how many came from where."""
    from moldiff.chemistry.data import measured_values

    spec, column = target.measured["data"], target.measured["column"]
    found = measured_values(spec, column, progress=progress)
    if found.sha256 != target.measured["data_sha256"]:
        raise MoldiffError(f"target '{target.name}': {spec} changed since the target was created (sha256 "
                           f"{found.sha256[:12]}..., recorded {target.measured['data_sha256'][:12]}...): recreate the target")
    values = found.values.reindex(smiles).to_numpy(dtype=float)
    has_value = np.isfinite(values)
    labels = np.where(has_value, target.labels(values), np.nan)
    counts = {"measured": int(has_value.sum()), "pseudo": 0, "unlabelled": int((~has_value).sum())}
    if target.measured.get("pseudo_labels") and (~has_value).any():
        rest = [s for s, h in zip(smiles, has_value) if not h]
        predicted = score_persistent(rest, target.oracle, progress=progress)
        pseudo = np.where(np.isfinite(predicted), target.labels(predicted), np.nan)
        labels[~has_value] = pseudo
        counts["pseudo"] = int(np.isfinite(pseudo).sum())
        counts["unlabelled"] -= counts["pseudo"]
    return labels, counts


def available_targets() -> dict[str, Path]:
    """Target files by name, from every asset root (see :mod:`moldiff.core.assets`)."""
    return {
        name: folder / TARGET_FILE
        for name, folder in list_assets("guidance").items()
        if (folder / TARGET_FILE).is_file()
    }


def target_files() -> list[tuple[str, Path, Path | None]]:
    """Every target file as ``(name, path, shadowed_by)``; ``shadowed_by`` is the file that a name
    resolves to when an earlier asset root holds the same name (``None`` for the file in use)."""
    found: list[tuple[str, Path, Path | None]] = []
    used: dict[str, Path] = {}
    for name, folder in list_all_assets("guidance"):
        path = folder / TARGET_FILE
        if path.is_file():
            found.append((name, path, used.get(name)))
            used.setdefault(name, path)
    return found


def check_trained_target(recorded: Target, given: Target, trained: str) -> None:
    """Refuse a target whose labels differ from the ones ``trained`` (a model or classifier) learnt."""
    if not recorded.same_labels(given):
        where = f" ({given.path})" if given.path else ""
        raise MoldiffError(
            f"target '{given.name}' is not the one {trained} was trained on: trained on {recorded.rule}, "
            f"given {given.rule}{where}; remove or rename the other target file, or retrain"
        )


def load_target(name_or_path: str | Path) -> Target:
    """A target by name (``guidance/<name>/target.toml``) or by path to its TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        return read_target(candidate)
    folder = find_asset("guidance", str(name_or_path))
    if folder is None or not (folder / TARGET_FILE).is_file():
        known = ", ".join(available_targets()) or "none"
        raise MoldiffError(
            f"unknown target '{name_or_path}' (available: {known}); "
            f"create one with `moldiff target create {name_or_path} --oracle ORACLE`"
        )
    return read_target(folder / TARGET_FILE)


def parse_targets(names: str | list[str]) -> list[Target]:
    """Targets from ``'rings,qed'`` or a list of names/paths."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    return [load_target(n) for n in dict.fromkeys(names)]


def threshold_from_data(
    name: str,
    oracle: str,
    values: np.ndarray,
    *,
    percentile: float | None = None,
    direction: str = "above",
    description: str = "",
    record: dict[str, Any] | None = None,
    threshold: float | None = None,
    measured: dict[str, Any] | None = None,
) -> Target:
    """A target whose threshold is a percentile of ``values`` (NaN ignored), or the ``threshold`` given.

    The default percentile is :func:`default_percentile` of the direction. ``measured`` makes it a target
    labelled by data (``values`` are then the measured ones), which needs molecules on both sides.
    """
    if direction not in DIRECTIONS:
        raise MoldiffError(f"direction must be one of {', '.join(DIRECTIONS)}, not '{direction}'")
    if percentile is None:
        percentile = default_percentile(direction)
    if not 0.0 <= percentile <= 100.0:
        raise MoldiffError(f"percentile must be between 0 and 100, not {percentile}")
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise MoldiffError(f"oracle '{oracle}' gave no value on the data: cannot set a threshold")
    given = threshold is not None
    threshold = float(threshold) if given else float(np.percentile(finite, percentile))
    target = Target(name, oracle, threshold, direction, description or get_oracle(oracle).description)
    hits = target.labels(finite)
    if measured and (hits.all() or not hits.any()):
        side = "every" if hits.all() else "no"
        raise MoldiffError(f"{side} molecule with a value is {direction} {threshold:.6g}: a target needs molecules on "
                           "both sides of its threshold; choose another threshold")
    computed = {("threshold_given" if given else "percentile"): (True if given else float(percentile)), **(record or {}),
                "molecules": int(finite.size), "positive_fraction": round(float(hits.mean()), 6)}
    return Target(name, oracle, threshold, direction, target.description, computed, measured=dict(measured or {}))
