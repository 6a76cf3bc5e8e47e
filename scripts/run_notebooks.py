"""Execute the notebooks in ``notebooks/`` at full size under a real Jupyter kernel and save them with their outputs.

Each code cell is stamped with the sha256 of its source (``metadata.moldiff.source_sha256``), so the
tests can tell a committed output from a stale one (a cell edited after it ran). The wall time of
each notebook is printed and kept in its metadata (``metadata.moldiff.executed_seconds``). Usage::

    python scripts/run_notebooks.py [NAME.ipynb ...]      # default: every notebook

Run it after changing a notebook, or when a model or a shipped result changes, and commit the result.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: A cell may run this long (the design campaign trains a classifier).
CELL_TIMEOUT = 1800


def source_sha256(cell: nbformat.NotebookNode) -> str:
    """The stamp of a code cell: the sha256 of its source."""
    return hashlib.sha256(cell.source.encode()).hexdigest()


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> float:
    """Run ``path`` top to bottom in its folder, stamp its cells, save it in place; returns the wall time."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata["moldiff"] = {"source_sha256": source_sha256(cell)}
    notebook.metadata["moldiff"] = {"executed_seconds": round(seconds, 1)}
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks in notebooks/ (default: all)")
    args = parser.parse_args()
    paths = [NOTEBOOKS / name for name in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            sys.exit(f"no notebook {path}")
        print(f"{path.name}: {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main()
