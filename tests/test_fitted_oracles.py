"""Fitted oracles (`moldiff oracle fit`): fit, record, use by name everywhere, refuse tampered files."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from moldiff.chemistry import oracles as oracles_module
from moldiff.chemistry.data import load_split
from moldiff.chemistry.fitted import (
    MIN_FIT_MOLECULES,
    RECORD_FILE,
    WEIGHTS_FILE,
    features,
    morgan_counts,
    read_fitted,
    tanimoto_nearest,
)
from moldiff.chemistry.oracles import ORACLES, get_oracle, score
from moldiff.core.errors import MoldiffError
from moldiff.core.parallel import MIN_PARALLEL_ITEMS
from moldiff.pipeline.generate import parse_where, passing


def heteroatoms(smiles: str) -> float:
    """An additive property a fingerprint model learns almost exactly: 1.5 per O, 1 per N, 0.1 per C."""
    mol = Chem.MolFromSmiles(smiles)
    weights = {"O": 1.5, "N": 1.0, "C": 0.1}
    return sum(weights.get(a.GetSymbol(), 0.0) for a in mol.GetAtoms())


MOLECULES = sorted(random.Random(3).sample(load_split("qm9", "train"), 160))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOLDIFF_HOME", raising=False)
    table = pd.DataFrame({"smiles": MOLECULES, "hetero": [heteroatoms(s) for s in MOLECULES]})
    table.loc[[5, 17], "hetero"] = np.nan  # molecules without a measurement
    table.to_csv(tmp_path / "data.csv", index=False)
    yield tmp_path
    for name in [n for n, o in ORACLES.items() if o.kind == "fitted"]:
        ORACLES.pop(name)
        oracles_module._CACHE.pop(name, None)


@pytest.fixture
def fitted(workdir: Path, run_cli) -> Path:
    result = run_cli("oracle", "fit", "hetero_fit", "--data", "data.csv", "--column", "hetero")
    assert "held-out R²" in result.stdout and "2 rows without a value" in result.stderr
    return workdir / "oracles" / "hetero_fit"


def test_fit_writes_record_card_and_weights(fitted: Path, workdir: Path):
    record = json.loads((fitted / RECORD_FILE).read_text())
    assert record["column"] == "hetero" and record["molecules"] == len(MOLECULES) - 2
    assert record["data_sha256"] == hashlib.sha256((workdir / "data.csv").read_bytes()).hexdigest()
    assert record["weights_sha256"] == hashlib.sha256((fitted / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert record["metrics"]["heldout"]["r2"] > 0.7 and record["metrics"]["heldout"]["spearman"] > 0.8
    assert record["metrics"]["cross_validation"]["folds"] == 5 and record["metrics"]["cross_validation"]["r2_mean"] > 0.6
    assert record["domain"]["reference_molecules"] == len(MOLECULES) - 2
    card = (fitted / "README.md").read_text()
    assert "held out" in card and record["data_sha256"] in card


def test_numpy_prediction_equals_scikit_learn(fitted: Path):
    from sklearn.linear_model import Ridge

    oracle = read_fitted(fitted)
    known = [s for i, s in enumerate(MOLECULES) if i not in (5, 17)]
    x = features(morgan_counts([Chem.MolFromSmiles(s) for s in known]))
    y = np.array([heteroatoms(s) for s in known])
    reference = Ridge(alpha=oracle.record["model"]["alpha"]).fit(x, y)
    assert np.allclose(oracle.predict_features(x), reference.predict(x), atol=1e-8)
    assert oracle(Chem.MolFromSmiles("CCO")) == pytest.approx(float(reference.predict(features(morgan_counts([Chem.MolFromSmiles("CCO")])))[0]))


def test_domain_is_nearest_neighbour_tanimoto(fitted: Path):
    oracle = read_fitted(fitted)
    domain = oracle.domain([MOLECULES[0], "not a molecule", "CCCCCCCCCCCCCCCCCCCC"])
    assert domain[0] == 1.0 and np.isnan(domain[1]) and 0 <= domain[2] < 1
    a = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    b = np.array([[1, 0, 0, 0], [0, 0, 1, 1]], dtype=bool)
    assert tanimoto_nearest(a, b).tolist() == [0.5, 1.0]


def test_used_by_name_in_score_where_target_and_evaluate(fitted: Path, run_cli, workdir: Path):
    Path("in.smi").write_text("CCO\nC1CC1\nxyz\n")
    run_cli("score", "in.smi", "--oracles", "hetero_fit,rings", "--out", "scored.csv")
    scored = pd.read_csv("scored.csv")
    assert scored["hetero_fit"].notna().tolist() == [True, True, False]
    assert "hetero_fit_domain" in scored.columns and scored["hetero_fit_domain"].between(0, 1).sum() == 2
    expected = read_fitted(fitted)(Chem.MolFromSmiles("CCO"))
    assert scored["hetero_fit"].iloc[0] == pytest.approx(expected)
    # --where / keep filtering
    table = pd.DataFrame({"smiles": ["CCO", "CCC"], "valid": [True, True]})
    table["hetero_fit"] = score(table["smiles"].tolist(), ["hetero_fit"], progress=False)["hetero_fit"].to_numpy()
    v0, v1 = table["hetero_fit"]
    assert v0 != v1
    middle = (v0 + v1) / 2
    assert passing(table, (), parse_where(f"hetero_fit>{middle}"), [], set()).tolist() == [v0 > middle, v1 > middle]
    # a target on the fitted oracle, and evaluate
    run_cli("target", "create", "hetero_high", "--oracle", "hetero_fit", "--data", "data.csv", "--percentile", "80")
    result = run_cli("evaluate", "in.smi", "--reference", "data.csv", "--oracles", "hetero_fit", "--targets", "hetero_high",
                     "--out", "m.json")
    metrics = json.loads(Path("m.json").read_text())
    assert metrics["targets"]["hetero_high"]["oracle"] == "hetero_fit"
    assert "hetero_fit" in metrics["properties"]
    assert "m.json" in result.stdout
    listed = run_cli("oracles").stdout
    assert "hetero_fit" in listed and "[fitted]" in listed


def test_fitted_oracle_in_worker_processes(fitted: Path):
    molecules = random.Random(8).sample(load_split("qm9", "valid"), MIN_PARALLEL_ITEMS + 50)
    parallel = score(molecules, ["hetero_fit"], workers=2, progress=False)["hetero_fit"].to_numpy()
    oracles_module.clear_cache()
    serial = score(molecules, ["hetero_fit"], workers=1, progress=False)["hetero_fit"].to_numpy()
    assert np.array_equal(parallel, serial)


def _pickle_bomb(marker: Path) -> bytes:
    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Bomb())


def test_tampered_weights_are_refused_without_running_them(fitted: Path, workdir: Path):
    marker = workdir / "executed"
    (fitted / WEIGHTS_FILE).write_bytes(_pickle_bomb(marker))
    with pytest.raises(MoldiffError, match="does not match the sha256"):
        read_fitted(fitted)
    # an attacker who also rewrites the hash in the record: still only parsed as safetensors
    record = json.loads((fitted / RECORD_FILE).read_text())
    record["weights_sha256"] = hashlib.sha256((fitted / WEIGHTS_FILE).read_bytes()).hexdigest()
    (fitted / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(MoldiffError, match="not a safetensors file"):
        read_fitted(fitted)
    with pytest.raises(MoldiffError, match="refusing the fitted oracle"):
        get_oracle("hetero_fit")
    assert not marker.exists()


def test_tampered_record_is_refused(fitted: Path):
    record = json.loads((fitted / RECORD_FILE).read_text())
    (fitted / RECORD_FILE).write_text(json.dumps({**record, "model": {"kind": "os.system"}}))
    with pytest.raises(MoldiffError, match="unknown model"):
        read_fitted(fitted)


@pytest.mark.parametrize("case", ["missing column", "non-numeric", "too few", "builtin name", "exists", "bad name"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: str, workdir: Path, run_cli):
    Path("text.csv").write_text("smiles,value\nCCO,1\nCCC,abc\nCCN,\nCCCC,x\n")
    few = pd.DataFrame({"smiles": MOLECULES[: MIN_FIT_MOLECULES - 1], "v": range(MIN_FIT_MOLECULES - 1)})
    few.to_csv("few.csv", index=False)
    if case == "exists":
        run_cli("oracle", "fit", "taken", "--data", "data.csv", "--column", "hetero")
    args, message = {
        "missing column": (["fit", "x", "--data", "data.csv", "--column", "nope"], "no column 'nope'"),
        "non-numeric": (["fit", "x", "--data", "text.csv", "--column", "value"], "2 non-numeric value(s) (lines 3, 5"),
        "too few": (["fit", "x", "--data", "few.csv", "--column", "v"], f"only {MIN_FIT_MOLECULES - 1} molecule(s)"),
        "builtin name": (["fit", "qed", "--data", "data.csv", "--column", "hetero"], "clashes with a built-in"),
        "exists": (["fit", "taken", "--data", "data.csv", "--column", "hetero"], "--force"),
        "bad name": (["fit", "a-b", "--data", "data.csv", "--column", "hetero"], "plain identifier"),
    }[case]
    before = sorted(p.name for p in Path("oracles").glob("*")) if Path("oracles").exists() else []
    result = run_cli("oracle", *args, expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    after = sorted(p.name for p in Path("oracles").glob("*")) if Path("oracles").exists() else []
    assert after == before
