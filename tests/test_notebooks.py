"""The notebooks: committed with fresh outputs and a figure, and each runs top to bottom under a real
Jupyter kernel (nbclient) at a toy size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: A committed notebook stays small enough to open quickly on a code host.
MAX_BYTES = 1_500_000


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def has_figure(outputs) -> bool:
    """Whether any output is a PNG, or HTML with one inlined (a molecule grid)."""
    return any("image/png" in output.get("data", {}) or "data:image/png" in output.get("data", {}).get("text/html", "")
               for output in outputs)


def problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Why a committed notebook's outputs cannot be shown as they are (empty: they can)."""
    stamp = _runner().source_sha256
    found = []
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code):
        if cell.execution_count is None:
            found.append(f"code cell {number} has not run")
        elif cell.metadata.get("moldiff", {}).get("source_sha256") != stamp(cell):
            found.append(f"code cell {number} changed after its outputs were made")
        if any(output.output_type == "error" for output in cell.outputs):
            found.append(f"code cell {number} ends in an error")
    if not has_figure(output for cell in code for output in cell.outputs):
        found.append("no figure")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_fresh_outputs_and_a_figure(path):
    assert not problems(nbformat.read(path, as_version=4)), f"{path.name}: run `python scripts/run_notebooks.py {path.name}`"
    assert path.stat().st_size < MAX_BYTES


def test_the_check_finds_stale_missing_and_failed_outputs():
    stamp = _runner().source_sha256
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"x = {i}", execution_count=i + 1) for i in range(3)]
    for cell in notebook.cells:
        cell.metadata["moldiff"] = {"source_sha256": stamp(cell)}
    notebook.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    assert problems(notebook) == []
    code = notebook.cells
    code[0].source += "\nprint('edited')"
    code[1].execution_count = None
    code[2].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="", traceback=[]))
    assert problems(notebook) == ["code cell 0 changed after its outputs were made", "code cell 1 has not run",
                                  "code cell 2 ends in an error"]
    code[2].outputs = []
    assert problems(notebook)[-1] == "no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_under_a_real_kernel(path, tmp_path, monkeypatch):
    """Toy size (``MOLDIFF_NOTEBOOK_N``), outputs under a temporary folder (``MOLDIFF_NOTEBOOK_OUT``)."""
    monkeypatch.setenv("MOLDIFF_NOTEBOOK_N", "4")
    monkeypatch.setenv("MOLDIFF_NOTEBOOK_OUT", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    assert has_figure(output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
