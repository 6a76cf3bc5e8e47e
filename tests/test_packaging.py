"""Packaging: dependency lists agree, set-up pins, entry points, artifact folders are not packages."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import moldiff

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))


def _conda_python_version(env: dict) -> str:
    specs = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(specs) == 1, f"environment.yml should name python exactly once: {specs}"
    match = re.fullmatch(r"python\s*=+\s*([0-9][0-9.]*)(\.\*)?", specs[0].strip())
    assert match, f"cannot read the python version of {specs[0]!r}"
    return match.group(1)


def test_environment_pip_section_equals_project_dependencies():
    env = _environment()
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    pip = [str(r).strip() for r in pip_sections[0]]
    deps = [r.strip() for r in _pyproject()["project"]["dependencies"]]
    assert len(pip) == len(set(pip)), "pip section repeats a requirement"
    assert set(pip) == set(deps), (
        f"only in environment.yml: {sorted(set(pip) - set(deps))}; only in pyproject.toml: {sorted(set(deps) - set(pip))}"
    )
    for requirement in deps:  # every entry is a valid requirement string
        Requirement(requirement)
    assert "pip" in env["dependencies"], "the pip section needs pip itself among the conda dependencies"


def test_environment_python_satisfies_requires_python():
    version = _conda_python_version(_environment())
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    # conda's "python=3.11" means any 3.11.x: the lowest and a late patch release must both fit
    assert requires.contains(Version(f"{version}.0" if version.count(".") == 1 else version))
    assert requires.contains(Version(f"{version}.99" if version.count(".") == 1 else version))


def test_running_python_satisfies_requires_python():
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert requires.contains(".".join(map(str, sys.version_info[:3])))


def test_constraints_pin_cpu_torch():
    lines = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    ]
    pins = [line.replace(" ", "") for line in lines if line]
    assert "torch==2.13.0" in pins
    import torch

    assert Version(torch.__version__).public == "2.13.0", "the venv was not installed with constraints.txt"


def _make_recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"{re.escape(target)}\s*:(?!=)", line):
            recipe = []
            for following in lines[i + 1 :]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return recipe
    raise AssertionError(f"Makefile has no '{target}' target")


def test_make_test_runs_pytest_and_ci_calls_it():
    recipe = _make_recipe("test")
    assert any(re.search(r"\bpytest\b", line) for line in recipe), recipe
    ci = REPO / ".ci" / "run"
    commands = [line.strip() for line in ci.read_text(encoding="utf-8").splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands
    assert ci.stat().st_mode & 0o111, ".ci/run must be executable"


def test_make_demo_exists():
    assert _make_recipe("demo"), "the demo target has no recipe"


def test_readme_starts_with_make_demo_and_make_test():
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", readme.read_text(encoding="utf-8"), flags=re.M | re.S)
    assert blocks, "README.md has no fenced code block"
    commands = [
        re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ ")).strip()  # drop trailing comments
        for line in blocks[0].splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[:2] == ["make demo", "make test"], commands


@pytest.mark.parametrize("folder", ["models", "guidance"])
def test_artifact_folders_are_not_packages(folder: str, tmp_path: Path):
    assert (REPO / folder).is_dir()
    assert not list((REPO / folder).rglob("__init__.py")), f"{folder}/ must not be a Python package"
    # outside the checkout (cwd is tmp_path), the installed distribution exposes only moldiff
    proc = subprocess.run(
        [sys.executable, "-c", f"import {folder}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "ModuleNotFoundError" in proc.stderr


def test_python_dash_m_moldiff_help(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "moldiff", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: moldiff"), proc.stdout[:200]
    for command in ("data", "score", "evaluate", "target", "oracles"):
        assert re.search(rf"^\s+{command}\b", proc.stdout, flags=re.M), f"--help does not list {command}"


def test_versions_agree():
    declared = _pyproject()["project"]["version"]
    assert moldiff.__version__ == declared
    assert importlib.metadata.version("moldiff") == declared


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "moldiff"
    assert script.is_file()
    entry = _pyproject()["project"]["scripts"]["moldiff"]
    assert entry == "moldiff.cli:main"


def test_packaged_resources_are_package_data():
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["moldiff"]
    assert "resources/**/*" in patterns
    for name in ("qm9_smiles.txt.gz", "qm9.csv.gz", "qm9.json", "qm9.smiles.json", "qm9.selfies.json", "SOURCE.md"):
        assert (REPO / "moldiff" / "resources" / "qm9" / name).is_file(), name
