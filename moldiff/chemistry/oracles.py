"""Named RDKit property oracles: molecule -> float, NaN for an invalid molecule.

Built in: ``rings`` (SSSR ring count), ``aromatic_rings``, ``qed``, ``sa`` (synthetic
accessibility, RDKit Contrib SA_Score: 1 easy .. 10 hard), ``logp`` (Crippen), ``mw``, ``tpsa``,
``hbd``, ``hba``, ``heavy_atoms``, ``rotatable_bonds``. Add your own with :func:`register_oracle`.

:func:`score` evaluates several oracles over many SMILES on all cores, caching values by
canonical SMILES so that repeated molecules (and repeated calls) cost nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

from moldiff.chemistry.molecules import canonicalise_all, to_mol
from moldiff.core.assets import cache_dir
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, sha256_text
from moldiff.core.parallel import parallel_map

#: Values cached per oracle before that oracle's cache is emptied.
CACHE_LIMIT = 1_000_000


@functools.cache
def _sascorer():  # loads its fragment scores (a few MB) on first use only
    from rdkit.Contrib.SA_Score import sascorer

    return sascorer


def _sa(mol: Chem.Mol) -> float:
    return _sascorer().calculateScore(mol)


@dataclass(frozen=True)
class Oracle:
    """A named molecular property."""

    name: str
    fn: Callable[[Chem.Mol], float]
    description: str

    def __call__(self, molecule: str | Chem.Mol | None) -> float:
        """The property of a SMILES string or RDKit molecule; NaN if invalid or if RDKit fails."""
        mol = molecule if isinstance(molecule, Chem.Mol) else to_mol(molecule)
        if mol is None:
            return math.nan
        try:
            return float(self.fn(mol))
        except Exception:  # one bad molecule never stops a batch
            return math.nan

    def __reduce__(self):  # RDKit functions do not pickle: worker processes look oracles up by name
        return get_oracle, (self.name,)


ORACLES: dict[str, Oracle] = {}


def register_oracle(name: str, fn: Callable[[Chem.Mol], float], description: str = "") -> Oracle:
    """Add an oracle under ``name`` (replacing one of the same name). ``fn`` takes an RDKit Mol.

    Worker processes find oracles by name, so register custom oracles at import time of a module
    (or in the main script on Linux, where workers are forked).
    """
    if not name.isidentifier():
        raise MoldiffError(f"oracle name '{name}' must be a plain identifier (letters, digits, _)")
    oracle = Oracle(name, fn, description)
    ORACLES[name] = oracle
    _CACHE.pop(name, None)
    return oracle


_CACHE: dict[str, dict[str, float]] = {}

for _name, _fn, _description in [
    ("rings", rdMolDescriptors.CalcNumRings, "number of rings (smallest set of smallest rings)"),
    ("aromatic_rings", rdMolDescriptors.CalcNumAromaticRings, "number of aromatic rings"),
    ("qed", QED.qed, "quantitative estimate of drug-likeness, 0..1"),
    ("sa", _sa, "synthetic accessibility score (Ertl & Schuffenhauer), 1 easy .. 10 hard"),
    ("logp", Crippen.MolLogP, "Crippen octanol-water partition coefficient"),
    ("mw", Descriptors.MolWt, "molecular weight (g/mol)"),
    ("tpsa", rdMolDescriptors.CalcTPSA, "topological polar surface area (A^2)"),
    ("hbd", rdMolDescriptors.CalcNumHBD, "hydrogen-bond donors"),
    ("hba", rdMolDescriptors.CalcNumHBA, "hydrogen-bond acceptors"),
    ("heavy_atoms", Chem.Mol.GetNumHeavyAtoms, "number of heavy (non-hydrogen) atoms"),
    ("rotatable_bonds", rdMolDescriptors.CalcNumRotatableBonds, "number of rotatable bonds"),
]:
    register_oracle(_name, _fn, _description)


def get_oracle(name: str) -> Oracle:
    """The oracle called ``name``; a clear error listing the valid names otherwise."""
    try:
        return ORACLES[name]
    except KeyError:
        raise MoldiffError(f"unknown oracle '{name}': choose from {', '.join(ORACLES)}") from None


def parse_oracles(names: str | Sequence[str]) -> list[str]:
    """Validate oracle names given as a list or as ``'qed,rings'``; duplicates removed, order kept."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise MoldiffError(f"no oracle given: choose from {', '.join(ORACLES)}")
    return [get_oracle(n).name for n in dict.fromkeys(names)]


def _score_molecule(oracles: tuple[Oracle, ...], smiles: str) -> tuple[float, ...]:
    mol = to_mol(smiles)
    return tuple(oracle(mol) for oracle in oracles)


def score(
    smiles: Sequence[str | None],
    oracles: str | Sequence[str] = ("rings", "qed"),
    *,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Oracle values for each SMILES: one row per input (same order), one column per oracle.

    Invalid or empty strings get NaN. Values are cached by canonical SMILES.
    """
    names = parse_oracles(oracles)
    unique_inputs = list(dict.fromkeys(s for s in smiles if s))
    canonical = dict(zip(unique_inputs, canonicalise_all(unique_inputs, progress=progress)))
    molecules = sorted({c for c in canonical.values() if c is not None})
    caches = [_CACHE.setdefault(n, {}) for n in names]
    missing = [m for m in molecules if any(m not in cache for cache in caches)]
    if missing:
        compute = functools.partial(_score_molecule, tuple(ORACLES[n] for n in names))
        values = parallel_map(compute, missing, workers=workers, desc="scoring", progress=progress)
        for cache in caches:
            if len(cache) + len(missing) > CACHE_LIMIT:  # empty it, but keep this call's molecules
                kept = {m: cache[m] for m in molecules if m in cache}
                cache.clear()
                cache.update(kept)
        for molecule, row in zip(missing, values):
            for cache, value in zip(caches, row):
                cache[molecule] = value
    columns = {}
    for name, cache in zip(names, caches):
        column = np.full(len(smiles), np.nan)
        for i, s in enumerate(smiles):
            c = canonical.get(s) if s else None
            if c is not None:
                column[i] = cache.get(c, np.nan)
        columns[name] = column
    return pd.DataFrame(columns)


def clear_cache() -> None:
    """Forget every cached oracle value."""
    _CACHE.clear()


def score_persistent(smiles: Sequence[str], oracle: str, progress: bool = True) -> np.ndarray:
    """Values of one oracle over a fixed list of valid SMILES, cached on disk under ``$MOLDIFF_CACHE``.

    Meant for data sets scored again and again (training labels): the cache key is the content of
    the list, so any change of the molecules or their order recomputes.
    """
    get_oracle(oracle)
    digest = sha256_text("\n".join(smiles))[:32]
    path = cache_dir() / "scores" / f"{oracle}-{digest}.npy"
    if path.exists():
        try:
            values = np.load(path)
            if values.shape == (len(smiles),):
                return values
        except (OSError, ValueError):
            pass  # damaged cache entry: recompute and overwrite it
    values = score(smiles, [oracle], progress=progress)[oracle].to_numpy()
    try:
        with atomic_write(path, "wb") as handle:
            np.save(handle, values)
    except OSError:
        pass  # a read-only cache only costs time
    return values
