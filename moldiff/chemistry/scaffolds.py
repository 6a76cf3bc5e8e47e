"""Scaffolds, fragments and analogs for constrained generation: token layouts and RDKit checks.

A scaffold is a SMILES with ``*`` attachment points (``*C1CC1``). Generation holds the scaffold's
tokens fixed and lets the model write the decorations, so the token layout decides where new atoms
can bond:

- **one attachment point**: the scaffold is written rooted so that the ``*`` comes last and is not
  inside a branch (``C1CC1*``); with the ``*`` removed, the rest is a fixed prefix whose last atom
  is the attachment atom, and the decoration is the free suffix up to ``<eos>``. A SMILES continues
  the main chain from that atom; a SELFIES string encoded from the same rooted SMILES ends its
  derivation on that atom too, so appended SELFIES symbols bond there as well.
- **two attachment points** (``*C1CC(*)C1``): rooted at one ``*`` with the other last
  (``*C1CC(C1)*``): the first decoration is a free span *before* the fixed scaffold, of a length
  drawn per molecule, the second the free suffix.
- **fragments** ``A*.*B``: ``A`` rooted with its ``*`` last, a free linker span, then ``B`` rooted at
  its ``*``, then ``<eos>``.

The layout makes attachment at the right atom the natural reading, not a guarantee: a SMILES
decoration can still open a ring that closes into the scaffold, and a SELFIES ring symbol can
reach back into it. Every output is therefore checked with RDKit (:func:`check_decorated`): the
scaffold's core (the scaffold without its ``*``) must match with every atom that carries no ``*``
keeping its heavy-atom neighbours (so its hydrogens: no substituent, no fused ring there), and no
new bond between scaffold atoms. An attachment atom takes exactly one new bond per ``*`` on it, as an
R group does (so no spiro ring or second branch there). A molecule that fails is reported invalid
with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from moldiff.chemistry.molecules import smiles_problem, to_mol
from moldiff.core.errors import MoldiffError

#: Random writings of a scaffold searched for a rooted one (seeded, so the layout is always the same).
ROOTINGS = 2000
_FINGERPRINT = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
_INDEX_SYMBOL = re.compile(r"^\[[=#/\\-]?(?:Branch|Ring)(\d)\]$")


@dataclass(frozen=True)
class Scaffold:
    """A parsed scaffold or fragment pair: the ``core`` (without ``*``) and, per attachment point in
    the order written, the core atom it sits on. ``fragments``: the ``A*.*B`` linking form."""

    smiles: str
    mol: Chem.Mol
    core: Chem.Mol
    attachments: tuple[int, ...]
    fragments: bool = False


def parse_scaffold(text: str, what: str = "scaffold", fragments: bool = False) -> Scaffold:
    """Parse a scaffold (``*C1CC1``, one or two ``*``) or, with ``fragments``, two fragments with one
    ``*`` each (``c1ccccc1*.*C1CC1``; one fragment is grown like a scaffold); a one-line
    :class:`MoldiffError` for anything unusable."""
    if not isinstance(text, str) or not text.strip() or smiles_problem(text):
        raise MoldiffError(f"the {what} '{text}' is not a SMILES string")
    text = text.strip()
    mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        raise MoldiffError(f"the {what} '{text}' does not parse as SMILES")
    dummies = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if not dummies:
        raise MoldiffError(f"the {what} '{text}' has no attachment point: mark one with *, e.g. *C1CC1")
    for index in dummies:
        atom = mol.GetAtomWithIdx(index)
        if atom.GetDegree() != 1:
            raise MoldiffError(f"each * of the {what} '{text}' must be bonded to exactly one atom")
        bond = atom.GetBonds()[0]
        if bond.GetBondType() != Chem.BondType.SINGLE and not bond.GetIsAromatic():
            raise MoldiffError(f"the {what} '{text}' has a non-single bond to an attachment point: use single bonds to *")
        if bond.GetOtherAtom(atom).GetAtomicNum() == 0:
            raise MoldiffError(f"the {what} '{text}' bonds two attachment points to each other")
        atom.SetIsotope(0)
        atom.SetAtomMapNum(0)
    core = Chem.RWMol(mol)
    for index in sorted(dummies, reverse=True):
        core.RemoveAtom(index)
    core = core.GetMol()
    try:
        Chem.SanitizeMol(core)
    except Chem.rdchem.MolSanitizeException:
        raise MoldiffError(f"the {what} '{text}' is not a valid molecule without its attachment points") from None
    try:
        Chem.SanitizeMol(mol)
    except Chem.rdchem.MolSanitizeException:
        raise MoldiffError(f"an attachment point of the {what} '{text}' is on an atom that cannot take another bond") from None
    for index in dummies:
        atom = mol.GetAtomWithIdx(index).GetNeighbors()[0]
        if atom.GetTotalNumHs() < 0 or atom.GetNumRadicalElectrons():
            raise MoldiffError(f"an attachment point of the {what} '{text}' is on an atom that cannot take another bond")
    components = Chem.GetMolFrags(mol)
    if fragments and len(components) == 1 and len(dummies) == 1:
        fragments = False  # growing one fragment is decorating it
    if fragments:
        per = [sum(1 for i in c if i in dummies) for c in components]
        if len(components) != 2 or per != [1, 1]:
            raise MoldiffError(f"--fragments takes two fragments with one * each, e.g. 'c1ccccc1*.*C1CC1' "
                               f"(or one, to grow it), not '{text}'")
    else:
        if len(components) != 1:
            raise MoldiffError(f"the {what} '{text}' has several fragments: to link fragments use --fragments")
        if len(dummies) > 2:
            raise MoldiffError(f"the {what} '{text}' has {len(dummies)} attachment points: at most 2 are supported")
    old_to_core = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() != 0:
            old_to_core[atom.GetIdx()] = len(old_to_core)
    attachments = tuple(old_to_core[mol.GetAtomWithIdx(d).GetNeighbors()[0].GetIdx()] for d in dummies)
    return Scaffold(text, mol, core, attachments, fragments)


# --- layouts ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Fixed SMILES pieces around the generated ones: ``head`` (fixed, after ``<bos>``, ending in the
    ``*`` it continues from; or empty), then a free span of a per-molecule length when ``span`` (a
    decoration before the scaffold, or a linker), then ``tail`` (fixed, starting with the ``*`` the
    span bonds to, and ending in a ``*`` when ``open_end``; or empty), then a free suffix to
    ``<eos>`` when ``open_end``, else ``<eos>``. The ``*`` are markers, not tokens."""

    head: str
    tail: str
    span: bool
    open_end: bool


def _writings(mol: Chem.Mol) -> list[str]:
    """Writings of ``mol`` (dummies written ``*``), canonical then seeded random, shortest (fewest
    branches) first: the most QM9-like first."""
    seen = dict.fromkeys([Chem.MolToSmiles(mol), *Chem.MolToRandomSmilesVect(mol, ROOTINGS, randomSeed=0)])
    return sorted(seen, key=lambda s: (len(s), s.count("("), s))


def layouts(scaffold: Scaffold) -> list[Layout]:
    """Candidate token layouts of a scaffold or fragment pair, best first (see the module docstring);
    the caller keeps the first that its representation reads back correctly (:func:`probe`)."""
    if scaffold.fragments:
        first, second = Chem.GetMolFrags(scaffold.mol, asMols=True)
        heads = [w for w in _writings(first) if w.endswith("*")][:20]
        tails = [w for w in _writings(second) if w.startswith("*")][:20]
        pairs = sorted(((h, t) for h in heads for t in tails), key=lambda p: (len(p[0]) + len(p[1]), p))
        return [Layout(h, t, span=True, open_end=False) for h, t in pairs]
    if len(scaffold.attachments) == 1:
        return [Layout(w, "", span=False, open_end=True) for w in _writings(scaffold.mol) if w.endswith("*")]
    return [Layout("", w, span=True, open_end=True) for w in _writings(scaffold.mol) if w.startswith("*") and w.endswith("*")]


def probe(scaffold: Scaffold, text: str | None) -> bool:
    """Whether a layout filled with one carbon at every free place (``text``: its SMILES, ``None`` if it
    could not be spelled) reads back as the scaffold with a methyl (linker: a CH2) at each attachment."""
    found = check_decorated(text, scaffold)
    if scaffold.fragments:
        return found.ok and found.decorations[0] == "*C*"
    per_atom = {a: ".".join(["*C"] * scaffold.attachments.count(a)) for a in scaffold.attachments}
    return found.ok and dict(zip(scaffold.attachments, found.decorations)) == per_atom


# --- checks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decorated:
    """Whether a molecule carries the scaffold correctly; the decoration (SMILES with ``*`` where it
    bonds, ``""`` when none) at each attachment point, or the reason it does not."""

    ok: bool
    decorations: tuple[str, ...] = ()
    reason: str = ""


def check_decorated(smiles: str | None, scaffold: Scaffold) -> Decorated:
    """Check with RDKit that ``smiles`` is the scaffold with new atoms only at its attachment points
    (see the module docstring) and name the decoration at each attachment point."""
    mol = to_mol(smiles)
    if mol is None:
        return Decorated(False, reason="not a molecule")
    if len(Chem.GetMolFrags(mol)) != 1:
        return Decorated(False, reason="not one connected molecule")
    core = scaffold.core
    marked = {i: scaffold.attachments.count(i) for i in scaffold.attachments}
    matches = mol.GetSubstructMatches(core, uniquify=False, useChirality=False, maxMatches=10_000)
    if not matches:
        return Decorated(False, reason="does not contain the scaffold")
    for match in matches:
        if _fits(mol, core, match, marked):
            return Decorated(True, _decorations(mol, core, match, scaffold.attachments))
    return Decorated(False, reason="new atoms at a scaffold atom without an attachment point")


def _fits(mol: Chem.Mol, core: Chem.Mol, match: Sequence[int], marked: dict[int, int]) -> bool:
    """Whether ``match`` places the core so that each core atom has its own heavy neighbours plus one
    new bond per attachment point on it (``marked``: core atom -> attachment points), and nothing else."""
    inside = set(match)
    for i, j in enumerate(match):
        a, b = core.GetAtomWithIdx(i), mol.GetAtomWithIdx(j)
        if (a.GetFormalCharge(), a.GetIsAromatic()) != (b.GetFormalCharge(), b.GetIsAromatic()):
            return False
        if b.GetDegree() != a.GetDegree() + marked.get(i, 0):
            return False
        for neighbour in b.GetNeighbors():  # no new bond between scaffold atoms
            k = neighbour.GetIdx()
            if k in inside and core.GetBondBetweenAtoms(i, match.index(k)) is None:
                return False
    for bond in core.GetBonds():
        other = mol.GetBondBetweenAtoms(match[bond.GetBeginAtomIdx()], match[bond.GetEndAtomIdx()])
        if other.GetBondType() != bond.GetBondType():
            return False
    return True


def _decorations(mol: Chem.Mol, core: Chem.Mol, match: Sequence[int], attachments: Sequence[int]) -> tuple[str, ...]:
    """The new atoms bonded at each attachment atom, as SMILES with ``*`` at the bond(s) to it."""
    side = Chem.ReplaceCore(mol, core, list(match), replaceDummies=False, labelByIndex=True, requireDummyMatch=False)
    pieces: dict[int, list[str]] = {}
    if side is not None and side.GetNumAtoms():
        for fragment in Chem.GetMolFrags(side, asMols=True, sanitizeFrags=False):
            labels = {a.GetIsotope() for a in fragment.GetAtoms() if a.GetAtomicNum() == 0}
            for atom in fragment.GetAtoms():
                if atom.GetAtomicNum() == 0:
                    atom.SetIsotope(0)
            text = Chem.MolToSmiles(fragment)
            for label in labels:
                pieces.setdefault(label, []).append(text)
    out, used = [], set()
    for index in attachments:  # two * on one atom share its decorations
        found = ".".join(sorted(pieces.get(index, []))) if index not in used else ""
        used.add(index)
        out.append(found)
    return tuple(out)


# --- analogs and substructures -------------------------------------------------------------------
def parse_smarts(text: str, what: str = "SMARTS pattern") -> Chem.Mol:
    """An RDKit query from SMARTS, or a one-line error."""
    query = Chem.MolFromSmarts(text) if isinstance(text, str) and text.strip() and not smiles_problem(text) else None
    if query is None:
        raise MoldiffError(f"the {what} '{text}' does not parse as SMARTS")
    return query


def has_substructure(smiles: Sequence[str | None], smarts: str) -> np.ndarray:
    """Whether each molecule contains the SMARTS pattern (an invalid molecule never does)."""
    query = parse_smarts(smarts)
    out = np.zeros(len(smiles), dtype=bool)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        out[i] = mol is not None and mol.HasSubstructMatch(query)
    return out


def parse_molecule(smiles: str, what: str = "--from molecule") -> str:
    """The canonical SMILES of a start molecule, or a one-line error."""
    mol = to_mol(smiles)
    if mol is None:
        raise MoldiffError(f"the {what} '{smiles}' is not a valid SMILES")
    if any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        raise MoldiffError(f"the {what} '{smiles}' has a * attachment point: use --scaffold to decorate a scaffold")
    return Chem.MolToSmiles(mol)


def atom_order_matches(canonical: str, smarts: str) -> list[int]:
    """The atoms of ``canonical`` (numbered in the order the string writes them) that the SMARTS matches."""
    mol, query = Chem.MolFromSmiles(canonical), parse_smarts(smarts, "--remask-atoms pattern")
    return sorted({i for match in mol.GetSubstructMatches(query) for i in match})


def atom_token_positions(tokens: Sequence[str], representation: str) -> list[int]:
    """Index of the token of each atom, in written order, among a SMILES's or SELFIES's tokens
    (a SELFIES ``[Branch..]``/``[Ring..]`` symbol is followed by index symbols that are not atoms)."""
    positions, skip = [], 0
    for i, token in enumerate(tokens):
        if representation == "smiles":
            if token[0].isalpha() or token.startswith("[") or token == "*":
                positions.append(i)
            continue
        if skip:
            skip -= 1
            continue
        index = _INDEX_SYMBOL.match(token)
        if index:
            skip = int(index.group(1))
        else:
            positions.append(i)
    return positions


def tanimoto(smiles: Sequence[str | None], reference: str) -> np.ndarray:
    """Tanimoto similarity (Morgan radius 2, 2048 bits) of each molecule to ``reference``; NaN when invalid."""
    ref = _FINGERPRINT.GetFingerprint(to_mol(reference))
    out = np.full(len(smiles), np.nan)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        if mol is not None:
            out[i] = DataStructs.TanimotoSimilarity(ref, _FINGERPRINT.GetFingerprint(mol))
    return out
