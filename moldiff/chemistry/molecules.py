"""RDKit helpers: parsing and canonical SMILES, with RDKit's own logging silenced."""

from __future__ import annotations

from collections.abc import Sequence

from rdkit import Chem, RDLogger

from moldiff.core.parallel import parallel_map

RDLogger.DisableLog("rdApp.*")


def to_mol(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES string; ``None`` for an empty, missing or unparsable string."""
    if not smiles or not isinstance(smiles, str):
        return None
    try:
        mol = Chem.MolFromSmiles(smiles)
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
