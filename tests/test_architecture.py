"""The package's shape: layers import one way, no import cycles, light imports stay light."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import grimp

import moldiff
from moldiff.pipeline.model import LoadedModel
from moldiff.pipeline.options import SampleOptions

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("core", "chemistry", "diffusion", "guidance", "store", "training", "pipeline", "cli")


def test_import_linter_contracts_are_kept():
    """The layers contract (and the no-RDKit / no-torch contracts) of pyproject.toml; in a process of
    its own, since import-linter reconfigures logging."""
    code = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:]


def test_imports_only_for_annotations_are_under_type_checking():
    """ruff's TC001 (a moldiff import used only in annotations) and pyflakes (unused or undefined names)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F,TC001", "moldiff"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph.find_modules_directly_imported_by(module):
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_counting_function_level_imports():
    graph = grimp.build_graph("moldiff", exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    """The check above can fail: a hand-made loop through three modules is found."""
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]


def test_every_layer_says_what_it_may_import():
    for layer in LAYERS:
        doc = importlib.import_module(f"moldiff.{layer}").__doc__ or ""
        assert "May import" in doc, f"moldiff.{layer} docstring lacks its 'May import' line"


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return set(out.stdout.split())


def test_diffusion_samplers_import_without_rdkit_or_pandas():
    loaded = _modules_after("import moldiff.diffusion.samplers")
    assert "torch" in loaded  # the check sees what was imported
    assert not {"rdkit", "pandas", "selfies"} & loaded


def test_import_moldiff_is_lazy():
    loaded = _modules_after("import moldiff")
    assert not {"torch", "rdkit", "pandas"} & loaded


def test_chemistry_imports_without_torch():
    loaded = _modules_after("import moldiff.chemistry.metrics, moldiff.chemistry.molfiles, moldiff.chemistry.data")
    assert "rdkit" in loaded
    assert "torch" not in loaded


def test_public_names_resolve():
    for name in moldiff.__all__:
        assert getattr(moldiff, name) is not None
    assert set(moldiff.__all__) <= set(dir(moldiff))


def test_model_sample_keywords_are_the_options_fields():
    """``model.sample``'s explicit keywords and :class:`SampleOptions` are one list, in step."""
    keywords = [p.name for p in inspect.signature(LoadedModel.sample).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert sorted(keywords) == sorted(f.name for f in dataclasses.fields(SampleOptions))
