"""RDKit helpers: parsing and canonical SMILES, with RDKit's own logging silenced.

Before RDKit sees a string, :func:`smiles_problem` refuses (as invalid) one longer than
:data:`MAX_SMILES_LENGTH` characters (RDKit's time and memory grow faster than linearly with it,
and it crashed on 100,000) and one with a character outside the SMILES alphabet, printable ASCII
without spaces (RDKit would read ``'Cé'`` or ``'C C'`` as methane, dropping the rest).
Whitespace around the string is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rdkit import Chem, RDLogger

from moldiff.core.parallel import parallel_map

RDLogger.DisableLog("rdApp.*")

#: Longest molecule string parsed (after stripping surrounding whitespace); longer ones are invalid.
MAX_SMILES_LENGTH = 5_000
_SMILES_ALPHABET = re.compile(r"[!-~]*")  # printable ASCII without the space


def smiles_problem(smiles: str) -> str | None:
    """Why a string is refused before parsing (too long, or characters outside the SMILES
    alphabet); ``None`` when RDKit may try it."""
    smiles = smiles.strip()
    if len(smiles) > MAX_SMILES_LENGTH:
        return f"longer than {MAX_SMILES_LENGTH:,} characters"
    if not _SMILES_ALPHABET.fullmatch(smiles):
        return "characters outside the SMILES alphabet (printable ASCII, no spaces)"
    return None


def to_mol(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES string; ``None`` for an empty, missing, refused (:func:`smiles_problem`) or
    unparsable string."""
    if not smiles or not isinstance(smiles, str) or smiles_problem(smiles):
        return None
    try:
        mol = Chem.MolFromSmiles(smiles.strip())
    except Exception:  # RDKit raises on some pathological inputs instead of returning None
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def canonical_smiles(smiles: str | None) -> str | None:
    """RDKit canonical (isomeric) SMILES, or ``None`` when the string is not a valid molecule."""
    mol = to_mol(smiles)
    if mol is None:
        return None
    try:
        return Chem.MolToSmiles(mol)
    except Exception:
        return None


def canonicalise_all(smiles: Sequence[str | None], progress: bool = True) -> list[str | None]:
    """:func:`canonical_smiles` of each string, on all cores for long lists."""
    return parallel_map(canonical_smiles, smiles, desc="canonicalising", progress=progress)


def randomized_smiles(smiles: str, count: int, seed: int) -> list[str]:
    """``count`` SMILES of the molecule written from random atom orders (RDKit, seeded); ``[]`` if invalid."""
    mol = to_mol(smiles)
    if mol is None:
        return []
    return list(Chem.MolToRandomSmilesVect(mol, count, randomSeed=seed))
