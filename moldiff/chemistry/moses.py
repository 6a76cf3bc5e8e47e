"""The MOSES metric set (Polykovskiy et al. 2020, Front. Pharmacol. 11:565644) on today's RDKit.

Each metric follows the definition in the MOSES code (``molsets`` 0.3.1, ``moses/metrics``), which
computed the paper's tables; ``gen`` is the valid generated molecules as canonical SMILES, in order,
duplicates kept, and a reference is ``moses:test`` (Test) or ``moses:test_scaffolds`` (TestSF):

- ``valid``: the fraction of generated strings RDKit parses;
- ``unique@k``: distinct molecules among the first ``k`` of ``gen`` (all of it if shorter, with a
  warning), over their number;
- ``FCD/<ref>``: the Frechet ChemNet Distance of ``gen`` to the reference (:mod:`moldiff.chemistry.fcd`);
- ``SNN/<ref>``: the mean over ``gen`` of the Tanimoto similarity to the nearest reference molecule
  (Morgan bits, radius 2, 1024 bits; two empty fingerprints count as similarity 1);
- ``Frag/<ref>``, ``Scaf/<ref>``: cosine similarity of the counts of BRICS fragments, and of
  Bemis-Murcko scaffolds with at least two rings, in ``gen`` and in the reference;
- ``IntDiv``, ``IntDiv2``: ``1 - mean_i (mean_j T(i, j)^p)^(1/p)`` over all pairs of ``gen``
  (itself included) with ``p`` = 1 and 2 (the paper's formula averages before the root; its code,
  which made its tables, averages the per-molecule roots, and so does this);
- ``Filters``: the fraction of ``gen`` that passes the filters MOSES built its data with: no ring of
  8 atoms or more, no charge, only C, N, S, O, F, Cl, Br, H, none of the MCF and PAINS substructures
  (``moldiff/resources/moses/filters.csv``, from ``molsets``);
- ``Novelty``: the fraction of unique ``gen`` absent from the training set.

Besides MOSES's columns the result has ``filter_failures``: for each filter, how many molecules of
``gen`` fail it first (:func:`filter_failure`), most often first, to say why ``Filters`` is low.

Reference-side work (fingerprints, fragments, scaffolds and ChemNet statistics) is cached on disk under
``$MOLDIFF_CACHE`` keyed by the reference molecules, so only the first evaluation pays for it.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from moldiff.chemistry.data import load_molecules, load_split, parse_spec
from moldiff.chemistry.fcd import frechet_chemnet_distance
from moldiff.chemistry.molecules import canonicalise_all, to_mol
from moldiff.core.assets import cache_dir
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, sha256_text, write_json
from moldiff.core.parallel import parallel_map

log = logging.getLogger("moldiff")

FINGERPRINT_BITS = 1024
FINGERPRINT_RADIUS = 2
#: unique@k of MOSES's tables.
UNIQUE_AT = (1000, 10000)
#: The reference sets of MOSES's tables, by their column name.
MOSES_REFERENCES = {"Test": "moses:test", "TestSF": "moses:test_scaffolds"}
MOSES_TRAIN = "moses:train"
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
#: Rows and columns of the similarity blocks: a block of float32 is 2048 x 8192 x 4 bytes = 64 MB.
_GEN_BLOCK, _REF_BLOCK = 2048, 8192


# --- per-molecule features ----------------------------------------------------------------------
@functools.cache
def _morgan():
    return rdFingerprintGenerator.GetMorganGenerator(radius=FINGERPRINT_RADIUS, fpSize=FINGERPRINT_BITS)


@functools.cache
def filter_smarts() -> dict[str, str]:
    """MOSES's MCF and PAINS substructures in their order, SMARTS by name (``MCF4``, ``quinone_A(370)``, ...)."""
    path = Path(str(resources.files("moldiff") / "resources" / "moses" / "filters.csv"))
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["name"].removeprefix("<regId=").removesuffix(">"): row["smarts"] for row in csv.DictReader(handle)}


@functools.cache
def _filters() -> tuple[tuple[str, Chem.Mol], ...]:
    return tuple((name, Chem.MolFromSmarts(smarts)) for name, smarts in filter_smarts().items())


def fingerprint(mol: Chem.Mol) -> np.ndarray:
    """MOSES's fingerprint: Morgan bits (radius 2, 1024 bits) packed into 128 bytes."""
    return np.packbits(_morgan().GetFingerprintAsNumPy(mol).astype(bool))


def fragments(mol: Chem.Mol) -> list[str]:
    """SMILES of the BRICS fragments of a molecule (break points as dummy atoms)."""
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """The Bemis-Murcko scaffold's SMILES, ``None`` when it has fewer than ``min_rings`` rings."""
    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(core)
    if not smiles or core.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


#: Reasons :func:`filter_failure` gives besides a substructure's name.
RING_8, CHARGE, ATOM, ROUND_TRIP = "ring of 8+ atoms", "charged atom", "atom not C N S O F Cl Br H", "SMILES round trip"


def filter_failure(mol: Chem.Mol) -> str | None:
    """The first of MOSES's filters (see the module docstring) a molecule fails, ``None`` if it passes
    them all: :data:`RING_8`, :data:`CHARGE`, :data:`ATOM`, the name of an MCF or PAINS substructure
    (``MCF7``, ``ene_one_ene_A(57)``, ...) or :data:`ROUND_TRIP`."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return RING_8
    for atom in mol.GetAtoms():
        if atom.GetFormalCharge() != 0:
            return CHARGE
        if atom.GetSymbol() not in ALLOWED_ATOMS:
            return ATOM
    with_h = Chem.AddHs(mol)
    for name, pattern in _filters():
        if with_h.HasSubstructMatch(pattern):
            return name
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return None if smiles and Chem.MolFromSmiles(smiles) is not None else ROUND_TRIP


def passes_filters(mol: Chem.Mol) -> bool:
    """Whether a molecule passes MOSES's filters (see the module docstring)."""
    return filter_failure(mol) is None


def filter_group(reason: str) -> str:
    """The family of a :func:`filter_failure` reason: ``MCF``, ``PAINS`` or the reason itself."""
    if reason in (RING_8, CHARGE, ATOM, ROUND_TRIP):
        return reason
    return "MCF" if reason.startswith("MCF") else "PAINS"


def _features(smiles: str, filters: bool) -> tuple[np.ndarray, list[str], str | None, str | None]:
    mol = to_mol(smiles)
    if mol is None:
        raise ValueError(f"not a valid molecule: {smiles!r}")
    return fingerprint(mol), fragments(mol), scaffold(mol), filter_failure(mol) if filters else None


@dataclass
class Features:
    """The per-molecule inputs of SNN, Frag, Scaf, IntDiv and Filters for a list of molecules."""

    fingerprints: np.ndarray  # [n, 128] packed bits
    fragments: Counter[str]
    scaffolds: Counter[str]
    failures: Counter[str] | None = None  # generated molecules: how many fail each filter first (none: all pass)


def features(smiles: Sequence[str], filters: bool = False, progress: bool = True) -> Features:
    """:class:`Features` of valid canonical SMILES, on all cores for long lists."""
    rows = parallel_map(functools.partial(_features, filters=filters), list(smiles), desc="MOSES features", progress=progress)
    frags: Counter[str] = Counter()
    for row in rows:
        frags.update(row[1])
    scaffolds = Counter(row[2] for row in rows if row[2] is not None)
    fps = np.stack([row[0] for row in rows]) if rows else np.zeros((0, FINGERPRINT_BITS // 8), dtype=np.uint8)
    failures = Counter(row[3] for row in rows if row[3] is not None) if filters else None
    return Features(fps, frags, scaffolds, failures)


# --- set metrics ------------------------------------------------------------------------------
def tanimoto_aggregate(reference: np.ndarray, generated: np.ndarray, agg: str = "max", p: int = 1) -> np.ndarray:
    """For each generated fingerprint (packed bits), the max or the power mean (``(mean T^p)^(1/p)``)
    of its Tanimoto similarities to all reference fingerprints; two empty fingerprints have similarity 1."""
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', not {agg!r}")
    out = np.zeros(len(generated))
    for g in range(0, len(generated), _GEN_BLOCK):
        gen = np.unpackbits(generated[g : g + _GEN_BLOCK], axis=1).astype(np.float32)
        gen_bits = gen.sum(1)
        acc = np.zeros(len(gen))
        for r in range(0, len(reference), _REF_BLOCK):
            ref = np.unpackbits(reference[r : r + _REF_BLOCK], axis=1).astype(np.float32)
            both = gen @ ref.T  # exact: integer counts <= 1024 in float32
            union = gen_bits[:, None] + ref.sum(1)[None, :] - both
            with np.errstate(invalid="ignore", divide="ignore"):
                sim = np.where(union > 0, both / union, 1.0)
            if agg == "max":
                acc = np.maximum(acc, sim.max(1))
            else:
                acc += (sim**p).sum(1, dtype=np.float64)
        out[g : g + _GEN_BLOCK] = acc if agg == "max" else (acc / len(reference)) ** (1 / p)
    return out


def cosine_similarity(reference: Counter[str], generated: Counter[str]) -> float:
    """Cosine similarity of two count vectors over the union of their keys (NaN if either is empty)."""
    if not reference or not generated:
        return float("nan")
    keys = sorted(set(reference) | set(generated))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=float)
    gen = np.array([generated.get(k, 0) for k in keys], dtype=float)
    return float(ref @ gen / (np.linalg.norm(ref) * np.linalg.norm(gen)))


def internal_diversity(fingerprints: np.ndarray, p: int = 1) -> float:
    """MOSES's IntDiv_p of a set of packed fingerprints."""
    return float(1 - tanimoto_aggregate(fingerprints, fingerprints, "mean", p).mean())


def unique_at(gen: Sequence[str], k: int) -> float:
    """Fraction of distinct molecules among the first ``k`` canonical SMILES (all, if fewer)."""
    first = list(gen[:k])
    return len(set(first)) / len(first) if first else float("nan")


# --- references -------------------------------------------------------------------------------
@dataclass
class Reference:
    """A MOSES reference set: its canonical SMILES and their :class:`Features`."""

    name: str
    smiles: list[str]
    features: Features


def _smiles_of(source: str | Sequence[str], progress: bool) -> tuple[str, list[str]]:
    """A name and canonical SMILES for a data set spec, a molecule file or a list of SMILES."""
    if isinstance(source, str):
        parsed = parse_spec(source)
        return source, load_split(*parsed) if parsed else load_molecules(source, progress=progress).smiles
    canonical = [c for c in canonicalise_all(list(source), progress=progress) if c is not None]
    if not canonical:
        raise MoldiffError("a MOSES reference set needs at least one valid molecule")
    return f"{len(canonical)} molecules", canonical


def load_reference(source: str | Sequence[str], progress: bool = True) -> Reference:
    """A reference set with its features, read from the disk cache when computed before."""
    name, smiles = _smiles_of(source, progress)
    key = sha256_text("\n".join(sorted(smiles)))[:32]
    folder = cache_dir() / "moses"
    cached = _read_features(folder, key)
    if cached is None:
        cached = features(smiles, progress=progress)
        try:
            with atomic_write(folder / f"{key}.npz", "wb") as handle:
                np.savez(handle, fingerprints=cached.fingerprints)
            write_json({"fragments": cached.fragments, "scaffolds": cached.scaffolds}, folder / f"{key}.json")
        except OSError as exc:
            log.warning("could not cache MOSES reference features in %s: %s", folder, exc)
    return Reference(name, smiles, cached)


def _read_features(folder: Path, key: str) -> Features | None:
    """Cached reference features; ``None`` when absent or damaged."""
    try:
        with np.load(folder / f"{key}.npz") as data:
            fps = data["fingerprints"]
        counts = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        return Features(fps, Counter(counts["fragments"]), Counter(counts["scaffolds"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:
        log.warning("MOSES reference features in %s are damaged (%s): recomputing them", folder, exc)
        return None


# --- the metric set ---------------------------------------------------------------------------
def moses_metrics(
    generated: Sequence[str | None],
    train: str | Sequence[str] = MOSES_TRAIN,
    references: dict[str, str | Sequence[str]] | None = None,
    unique_k: Sequence[int] = UNIQUE_AT,
    fcd: bool = True,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """The MOSES metrics of generated strings (``None`` or ``''`` are invalid), as a JSON-ready dict
    keyed like MOSES's ``get_all_metrics`` (``valid``, ``unique@1000``, ``FCD/Test``, ...).

    ``train`` (novelty) and each of ``references`` (default: Test and TestSF of MOSES) is a data set
    spec, a molecule file or a list of SMILES. ``fcd=False`` skips the FCD (it needs ``fcd_torch``).
    """
    references = dict(MOSES_REFERENCES) if references is None else references
    train_name, train_smiles = _smiles_of(train, progress)  # the references first: a missing one fails fast
    loaded = {column: load_reference(source, progress=progress) for column, source in references.items()}
    canonical = canonicalise_all(list(generated), progress=progress)
    gen = [c for c in canonical if c is not None]
    result: dict[str, Any] = {"n": len(canonical), "n_valid": len(gen),
                              "valid": len(gen) / len(canonical) if canonical else float("nan")}
    notes: list[str] = []
    if len(gen) < 2:
        raise MoldiffError(f"the MOSES metrics need at least 2 valid molecules ({len(gen)} of {len(canonical)} are valid)")
    for k in unique_k:
        if len(gen) < k:
            notes.append(f"unique@{k} is over all {len(gen)} valid molecules: fewer than {k}")
        result[f"unique@{k}"] = unique_at(gen, k)
    mine = features(gen, filters=True, progress=progress)
    for column, ref in loaded.items():
        if fcd:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result[f"FCD/{column}"] = frechet_chemnet_distance(gen, ref.smiles, device=device)
        result[f"SNN/{column}"] = float(tanimoto_aggregate(ref.features.fingerprints, mine.fingerprints, "max").mean())
        result[f"Frag/{column}"] = cosine_similarity(ref.features.fragments, mine.fragments)
        result[f"Scaf/{column}"] = cosine_similarity(ref.features.scaffolds, mine.scaffolds)
    result["IntDiv"] = internal_diversity(mine.fingerprints, 1)
    result["IntDiv2"] = internal_diversity(mine.fingerprints, 2)
    result["Filters"] = 1 - sum(mine.failures.values()) / len(gen)
    result["filter_failures"] = dict(mine.failures.most_common())
    unique = set(gen)
    result["Novelty"] = len(unique - set(train_smiles)) / len(unique)
    result["references"] = {"train": train_name, **{c: (s if isinstance(s, str) else f"{len(s)} SMILES") for c, s in references.items()}}
    if notes:
        result["warnings"] = notes
        for note in notes:
            log.warning("%s", note)
    return result


#: The order of MOSES's table columns, for reports.
MOSES_COLUMNS = ("valid", "unique@1000", "unique@10000", "FCD/Test", "FCD/TestSF", "SNN/Test", "SNN/TestSF",
                 "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters", "Novelty")


def moses_metrics_table(metrics: dict[str, Any], title: str = "MOSES metrics"):
    """A ``rich`` table of :func:`moses_metrics`, in the order of MOSES's tables."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for column in MOSES_COLUMNS:
        if column in metrics:
            table.add_row(column, f"{metrics[column]:.4f}")
    return table
