"""Molecule grids for notebooks and reports: RDKit's grid drawing as PNG, and as an HTML ``<img>``."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from rdkit.Chem import Draw

from moldiff.chemistry.molecules import to_mol
from moldiff.core.errors import MoldiffError

#: Cell size of a grid, in pixels: small enough that a notebook with a few grids stays well under a megabyte.
CELL = (150, 120)


def grid_png(smiles: Sequence[str], legends: Sequence[str] | None = None, per_row: int = 4,
             cell: tuple[int, int] = CELL) -> bytes:
    """A PNG grid of the molecules (SMILES that RDKit cannot parse are drawn as empty cells, their legend kept)."""
    if not smiles:
        raise MoldiffError("no molecules to draw")
    molecules = [to_mol(s) for s in smiles]
    image = Draw.MolsToGridImage(molecules, molsPerRow=min(per_row, len(molecules)), subImgSize=cell,
                                 legends=list(legends) if legends is not None else None, returnPNG=True)
    return image if isinstance(image, bytes) else image.data  # an IPython Image once rdkit's IPythonConsole is loaded


def grid_html(smiles: Sequence[str], legends: Sequence[str] | None = None, per_row: int = 4,
              cell: tuple[int, int] = CELL) -> str:
    """The grid as an HTML ``<img>`` with the PNG inlined (empty string for no molecules)."""
    if not smiles:
        return ""
    data = base64.b64encode(grid_png(smiles, legends, per_row, cell)).decode("ascii")
    title = html.escape("; ".join(smiles[:50]), quote=True)
    return f'<img src="data:image/png;base64,{data}" title="{title}" alt="molecule grid">'
