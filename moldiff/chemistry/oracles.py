"""Named RDKit property oracles: molecule -> float, NaN for an invalid molecule.

Built in: ``rings`` (SSSR ring count), ``aromatic_rings``, ``qed``, ``sa`` (synthetic
accessibility, RDKit Contrib SA_Score: 1 easy .. 10 hard), ``logp`` (Crippen), ``mw``, ``tpsa``,
``hbd``, ``hba``, ``heavy_atoms``, ``rotatable_bonds``.

Other oracles are found by name, in this order:

- a Python function registered with :func:`register_oracle` (from a script or notebook);
- a fitted oracle ``oracles/NAME/`` (``moldiff oracle fit``, :mod:`moldiff.chemistry.fitted`);
- an entry point ``NAME`` of the group ``moldiff.oracles`` of an installed package: a function of an
  RDKit Mol, or an :class:`Oracle` (a plugin that fails to import is an error that names it).

No oracle may take a built-in's name.

:func:`score` evaluates several oracles over many SMILES on all cores, caching values by
canonical SMILES so that repeated molecules (and repeated calls) cost nothing. A registered function
that worker processes cannot import (a lambda, a closure, a function of an interactive session
where workers are not forked) is run in this process instead, with a note saying why. A molecule on
which an oracle raises, or returns NaN or a non-number, gets NaN; these are counted and reported
(``DataFrame.attrs["failures"]``), and never end the run.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

from moldiff.chemistry.molecules import canonicalise_all, to_mol
from moldiff.core.assets import cache_dir
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, sha256_text
from moldiff.core.parallel import parallel_map

log = logging.getLogger("moldiff")
ENTRY_POINT_GROUP = "moldiff.oracles"
#: How an oracle came to be: shipped, registered from Python, fitted on data, or from a plugin package.
KINDS = ("builtin", "user", "fitted", "plugin")
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
    kind: str = "user"

    def __call__(self, molecule: str | Chem.Mol | None) -> float:
        """The property of a SMILES string or RDKit molecule; NaN if invalid or if the function fails."""
        return self.evaluate(molecule)[0]

    def evaluate(self, molecule: str | Chem.Mol | None) -> tuple[float, str | None]:
        """The property and, when the function raised or returned no number, why (``None`` otherwise)."""
        mol = molecule if isinstance(molecule, Chem.Mol) else to_mol(molecule)
        if mol is None:
            return math.nan, None
        try:
            return float(self.fn(mol)), None
        except Exception as exc:  # one bad molecule never stops a batch
            return math.nan, f"{type(exc).__name__}: {exc}"

    def __reduce__(self):
        # RDKit functions do not pickle: worker processes look shipped, fitted and plugin oracles up by
        # name; a registered function travels by reference (see portable_reason)
        if self.kind == "user":
            return Oracle, (self.name, self.fn, self.description, self.kind)
        return get_oracle, (self.name,)


ORACLES: dict[str, Oracle] = {}


def register_oracle(name: str, fn: Callable[[Chem.Mol], float], description: str = "", *, kind: str = "user") -> Oracle:
    """Add an oracle under ``name`` (replacing a registered one of that name, never a built-in).

    ``fn`` takes an RDKit Mol and returns a number. It is scored in worker processes when they can
    import it (a module-level function; in a script's main module where workers are forked, as on
    Linux), and in this process otherwise (see :func:`portable_reason`).
    """
    if not name.isidentifier():
        raise MoldiffError(f"oracle name '{name}' must be a plain identifier (letters, digits, _)")
    if kind != "builtin" and name in BUILTIN_ORACLES:
        raise MoldiffError(f"oracle name '{name}' clashes with a built-in oracle: choose another name")
    if kind not in KINDS:
        raise MoldiffError(f"oracle kind '{kind}' must be one of {', '.join(KINDS)}")
    oracle = Oracle(name, fn, description or (fn.__doc__ or "").strip().split("\n")[0], kind)
    ORACLES[name] = oracle
    _CACHE.pop(name, None)
    return oracle


def portable_reason(oracle: Oracle) -> str | None:
    """Why worker processes could not run ``oracle``; ``None`` if they can."""
    if oracle.kind != "user":
        return None
    try:
        pickle.dumps(oracle.fn)
    except Exception as exc:
        return f"its function cannot be pickled by reference ({type(exc).__name__}: {exc})"
    module = getattr(oracle.fn, "__module__", None)
    main = sys.modules.get("__main__")
    if module == "__main__" and (multiprocessing.get_start_method() != "fork" or not hasattr(main, "__file__")):
        return "its function lives in an interactive session, which worker processes cannot import"
    return None


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
    register_oracle(_name, _fn, _description, kind="builtin")
#: The shipped oracles, whose names no other oracle, fitted oracle or plugin may take.
BUILTIN_ORACLES = frozenset(ORACLES)


def get_oracle(name: str) -> Oracle:
    """The oracle called ``name`` (registered, fitted or a plugin); a clear error listing the valid names otherwise."""
    if name in ORACLES:
        return ORACLES[name]
    found = _load_fitted(name) or _load_plugin(name)
    if found is None:
        raise MoldiffError(f"unknown oracle '{name}': choose from {', '.join(available_oracles())}, "
                           "or fit one with `moldiff oracle fit`")
    return found


def _load_fitted(name: str) -> Oracle | None:
    from moldiff.chemistry.fitted import find_fitted, read_fitted

    folder = find_fitted(name) if name.isidentifier() else None
    if folder is None:
        return None
    fitted = read_fitted(folder)
    if fitted.name != name:
        raise MoldiffError(f"the fitted oracle in {folder} is named '{fitted.name}', not '{name}': "
                           "rename the folder or refit it")
    return register_oracle(name, fitted, fitted.description, kind="fitted")


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load_plugin(name: str, entry: Any = None) -> Oracle | None:
    entry = entry or _entry_points().get(name)
    if entry is None:
        return None
    try:
        loaded = entry.load()
    except Exception as exc:
        raise MoldiffError(f"oracle plugin '{entry.name}' ({entry.value}) failed to import: "
                           f"{type(exc).__name__}: {exc}") from None
    if not (entry.name.isidentifier() and entry.name not in BUILTIN_ORACLES):
        raise MoldiffError(f"oracle plugin '{entry.name}' ({entry.value}): its name clashes with a built-in "
                           "oracle or is not a plain identifier")
    if isinstance(loaded, Oracle):
        return register_oracle(entry.name, loaded.fn, loaded.description, kind="plugin")
    if not callable(loaded):
        raise MoldiffError(f"oracle plugin '{entry.name}' ({entry.value}) is neither a function nor an Oracle")
    return register_oracle(entry.name, loaded, kind="plugin")


def available_oracles(load_plugins: bool = False) -> list[str]:
    """Every oracle name: registered, fitted (in any asset root) and plugins. With ``load_plugins``,
    plugins are imported (and registered); one that fails to import is skipped with a warning."""
    from moldiff.chemistry.fitted import ORACLE_DIR, RECORD_FILE
    from moldiff.core.assets import list_assets

    names = list(ORACLES)
    names += [n for n, folder in list_assets(ORACLE_DIR).items() if (folder / RECORD_FILE).is_file()]
    for name, entry in _entry_points().items():
        if load_plugins and name not in ORACLES:
            try:
                _load_plugin(name, entry)
            except MoldiffError as exc:
                log.warning("%s", exc)
                continue
        names.append(name)
    return list(dict.fromkeys(names))


def parse_oracles(names: str | Sequence[str]) -> list[str]:
    """Validate oracle names given as a list or as ``'qed,rings'``; duplicates removed, order kept."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise MoldiffError(f"no oracle given: choose from {', '.join(available_oracles())}")
    return [get_oracle(n).name for n in dict.fromkeys(names)]


def _score_molecule(oracles: tuple[Oracle, ...], smiles: str) -> tuple[tuple[float, str | None], ...]:
    mol = to_mol(smiles)
    return tuple(oracle.evaluate(mol) for oracle in oracles)


def score(
    smiles: Sequence[str | None],
    oracles: str | Sequence[str] = ("rings", "qed"),
    *,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Oracle values for each SMILES: one row per input (same order), one column per oracle.

    Invalid or empty strings get NaN. Values are cached by canonical SMILES. Valid molecules that an
    oracle gave no number for are counted in ``attrs["failures"]`` (oracle -> ``{"nan": n, "raised": k,
    "example": message}``) and reported as a warning.
    """
    names = parse_oracles(oracles)
    unique_inputs = list(dict.fromkeys(s for s in smiles if s))
    canonical = dict(zip(unique_inputs, canonicalise_all(unique_inputs, progress=progress)))
    molecules = sorted({c for c in canonical.values() if c is not None})
    caches = [_CACHE.setdefault(n, {}) for n in names]
    missing = [m for m in molecules if any(m not in cache for cache in caches)]
    raised: dict[str, list[str]] = {n: [] for n in names}
    if missing:
        chosen = tuple(ORACLES[n] for n in names)
        local = {o.name: why for o in chosen if (why := portable_reason(o))}
        if local and workers != 1:
            for name, why in local.items():
                log.info("oracle '%s' runs in this process, not in parallel: %s; define it at module level of an "
                         "importable file to score in parallel", name, why)
            workers = 1
        compute = functools.partial(_score_molecule, chosen)
        results = parallel_map(compute, missing, workers=workers, desc="scoring", progress=progress)
        values = []
        for row in results:
            values.append(tuple(v for v, _ in row))
            for name, (_, error) in zip(names, row):
                if error is not None:
                    raised[name].append(error)
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
    table = pd.DataFrame(columns)
    table.attrs["failures"] = _failures(names, caches, molecules, raised)
    return table


def _failures(names: list[str], caches: list[dict[str, float]], molecules: list[str],
              raised: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per oracle, the valid molecules without a value, and a warning naming the count."""
    failures = {}
    for name, cache in zip(names, caches):
        n_nan = sum(1 for m in molecules if math.isnan(cache.get(m, math.nan)))
        if n_nan:
            errors = raised[name]
            failures[name] = {"nan": n_nan, "raised": len(errors), "example": errors[0] if errors else None}
            how = f"; {len(errors)} raised, e.g. {errors[0]}" if errors else ""
            log.warning("oracle '%s' gave no value for %d of %d valid molecules (NaN)%s", name, n_nan, len(molecules), how)
    return failures


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
