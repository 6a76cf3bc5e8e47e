"""The user's own Python scorers: registered functions in every code path, plugins, failing scorers."""

from __future__ import annotations

import logging
import math
import random
import sys
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from moldiff.chemistry import oracles as oracles_module
from moldiff.chemistry.data import load_split
from moldiff.chemistry.oracles import ORACLES, get_oracle, portable_reason, register_oracle, score
from moldiff.core.errors import MoldiffError
from moldiff.core.parallel import MIN_PARALLEL_ITEMS
from moldiff.pipeline.generate import parse_where, passing

MOLECULES = random.Random(11).sample(load_split("qm9", "train"), MIN_PARALLEL_ITEMS + 100)


def n_oxygens(mol: Chem.Mol) -> float:
    """Oxygen atoms (module level: worker processes import it)."""
    return float(sum(a.GetSymbol() == "O" for a in mol.GetAtoms()))


def _expected(smiles: list[str]) -> list[float]:
    return [n_oxygens(Chem.MolFromSmiles(s)) for s in smiles]


@pytest.fixture(autouse=True)
def _forget():
    names = set(ORACLES)
    yield
    for name in set(ORACLES) - names:
        ORACLES.pop(name)
        oracles_module._CACHE.pop(name, None)


def test_module_level_function_scores_in_worker_processes():
    oracle = register_oracle("oxygens", n_oxygens)
    assert portable_reason(oracle) is None and oracle.description.startswith("Oxygen atoms")
    values = score(MOLECULES, ["oxygens"], workers=2, progress=False)["oxygens"].tolist()
    assert values == _expected(MOLECULES)


def test_lambda_runs_in_process_and_says_why(caplog: pytest.LogCaptureFixture):
    oracle = register_oracle("oxygens_lambda", lambda mol: n_oxygens(mol))
    assert "cannot be pickled" in portable_reason(oracle)
    with caplog.at_level(logging.INFO, logger="moldiff"):
        values = score(MOLECULES, ["oxygens_lambda", "rings"], workers=2, progress=False)["oxygens_lambda"].tolist()
    assert values == _expected(MOLECULES)
    assert any("oxygens_lambda" in r.getMessage() and "runs in this process" in r.getMessage() for r in caplog.records)


def test_closure_is_not_portable():
    offset = 1.0

    def shifted(mol: Chem.Mol) -> float:
        return n_oxygens(mol) + offset

    assert "cannot be pickled" in portable_reason(register_oracle("shifted", shifted))
    assert score(["CCO"], ["shifted"], workers=2, progress=False)["shifted"].tolist() == [2.0]


def test_registered_oracle_in_where_filtering():
    register_oracle("oxygens_where", lambda mol: n_oxygens(mol))
    table = pd.DataFrame({"smiles": ["CCO", "CCC", "OCCO"], "valid": [True, True, True]})
    table["oxygens_where"] = score(table["smiles"].tolist(), ["oxygens_where"], progress=False)["oxygens_where"].to_numpy()
    assert passing(table, (), parse_where("oxygens_where>=1"), [], set()).tolist() == [True, False, True]


def test_failing_scorer_gives_nan_counted_and_reported(caplog: pytest.LogCaptureFixture):
    def fragile(mol: Chem.Mol) -> float:
        if mol.GetNumAtoms() == 3:
            raise ValueError("three atoms")
        if mol.GetNumAtoms() == 2:
            return math.nan
        return "not a number" if mol.GetNumAtoms() == 1 else 1.0

    register_oracle("fragile", fragile)
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        table = score(["CCO", "CCC", "CC", "C", "CCCC", "xyz"], ["fragile"], progress=False)
    assert table["fragile"].isna().tolist() == [True, True, True, True, False, True]
    failures = table.attrs["failures"]["fragile"]
    assert failures["nan"] == 4 and failures["raised"] == 3  # two raised ValueError, the string raised in float()
    assert failures["example"].startswith("ValueError")
    assert any("gave no value for 4 of 5 valid molecules" in r.getMessage() for r in caplog.records)


def test_builtin_names_cannot_be_taken():
    with pytest.raises(MoldiffError, match="clashes with a built-in"):
        register_oracle("qed", n_oxygens)
    assert get_oracle("qed").kind == "builtin"


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package (a dist-info on sys.path) with a good, a failing and a clashing oracle plugin."""
    (tmp_path / "oxyplugin.py").write_text(
        "from moldiff.chemistry.oracles import Oracle\n"
        "def nitrogens(mol):\n    '''Nitrogen atoms.'''\n    return float(sum(a.GetSymbol() == 'N' for a in mol.GetAtoms()))\n"
        "heavy = Oracle('heavy_plugin', lambda mol: float(mol.GetNumHeavyAtoms()), 'heavy atoms (plugin)')\n")
    info = tmp_path / "oxyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oxyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[moldiff.oracles]\nnitrogens = oxyplugin:nitrogens\nheavy_plugin = oxyplugin:heavy\n"
        "broken_plugin = no_such_module_xyz:fn\nqed = oxyplugin:nitrogens\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("oxyplugin", None)


def test_plugin_oracles_are_found_by_name(plugins: Path, run_cli):
    assert get_oracle("nitrogens")(Chem.MolFromSmiles("NCCN")) == 2.0
    assert get_oracle("nitrogens").kind == "plugin" and get_oracle("nitrogens").description == "Nitrogen atoms."
    assert get_oracle("heavy_plugin")("CCO") == 3.0
    Path("in.smi").write_text("NCCN\nCCO\n")
    run_cli("score", "in.smi", "--oracles", "nitrogens", "--out", "out.csv")
    assert pd.read_csv("out.csv")["nitrogens"].tolist() == [2.0, 0.0]
    listed = run_cli("oracles")
    assert "nitrogens" in listed.stdout and "[plugin]" in listed.stdout
    assert "broken_plugin" in listed.stderr  # listed as a warning, the rest still shown
    values = score(MOLECULES, ["nitrogens"], workers=2, progress=False)["nitrogens"].tolist()
    assert values == [float(sum(a.GetSymbol() == "N" for a in Chem.MolFromSmiles(s).GetAtoms())) for s in MOLECULES]


def test_failing_plugin_is_a_one_line_error_naming_it(plugins: Path, run_cli):
    Path("in.smi").write_text("CCO\n")
    result = run_cli("score", "in.smi", "--oracles", "broken_plugin", "--out", "out.csv", expect=2)
    assert "oracle plugin 'broken_plugin' (no_such_module_xyz:fn) failed to import" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not Path("out.csv").exists()
    assert get_oracle("qed").kind == "builtin"  # a plugin cannot shadow a built-in
