"""Targets labelled by data (`target create --data FILE --column COL --above X`) and training on them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from moldiff.chemistry import oracles as oracles_module
from moldiff.chemistry.data import MIN_LABELLED, load_split
from moldiff.chemistry.oracles import ORACLES
from moldiff.chemistry.targets import load_target, measured_labels, read_target
from moldiff.training.config import TrainConfig
from moldiff.training.train import NULL_LABEL, prepare_training_data

MOLECULES = sorted(random.Random(5).sample(load_split("qm9", "train"), 200))
MISSING = set(range(0, 200, 4))  # every fourth molecule has no measurement


def oxygens(smiles: str) -> float:
    return float(sum(a.GetSymbol() == "O" for a in Chem.MolFromSmiles(smiles).GetAtoms()))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOLDIFF_HOME", raising=False)
    values = [None if i in MISSING else oxygens(s) for i, s in enumerate(MOLECULES)]
    pd.DataFrame({"smiles": MOLECULES, "oxygens": values}).to_csv("data.csv", index=False)
    run_cli("oracle", "fit", "oxy_fit", "--data", "data.csv", "--column", "oxygens")
    yield tmp_path
    for name in [n for n, o in ORACLES.items() if o.kind == "fitted"]:
        ORACLES.pop(name)
        oracles_module._CACHE.pop(name, None)


def test_create_labels_by_data_and_finds_its_fitted_oracle(workdir: Path, run_cli):
    result = run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "1.5")
    target = load_target("oxy")
    assert target.oracle == "oxy_fit" and target.direction == "above" and target.threshold == 1.5
    assert target.measured == {"data": "data.csv", "column": "oxygens", "data_sha256": target.computed["data_sha256"],
                               "pseudo_labels": False}
    assert "hits among generated molecules: fitted oracle 'oxy_fit'" in result.stdout
    assert read_target(target.path) == target  # the TOML round trip keeps [measured]
    measured = [oxygens(s) for i, s in enumerate(MOLECULES) if i not in MISSING]
    assert target.computed["molecules"] == len(measured)
    assert target.computed["positive_fraction"] == round(float(np.mean(np.array(measured) > 1.5)), 6)


def test_percentile_of_measured_values(workdir: Path, run_cli):
    run_cli("target", "create", "oxy_low", "--data", "data.csv", "--column", "oxygens", "--oracle", "oxy_fit",
            "--direction", "below", "--percentile", "30")
    measured = [oxygens(s) for i, s in enumerate(MOLECULES) if i not in MISSING]
    assert load_target("oxy_low").threshold == float(np.percentile(measured, 30))


def test_measured_labels_unlabelled_and_pseudo(workdir: Path, run_cli):
    run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "0.5")
    run_cli("target", "create", "oxy_pseudo", "--data", "data.csv", "--column", "oxygens", "--above", "0.5",
            "--pseudo-labels")
    canonical = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in MOLECULES] + ["CCCCCCCCCO"]
    labels, counts = measured_labels(load_target("oxy"), canonical, progress=False)
    for i, s in enumerate(MOLECULES):
        assert np.isnan(labels[i]) if i in MISSING else labels[i] == float(oxygens(s) > 0.5)
    assert np.isnan(labels[-1]) and counts == {"measured": 150, "pseudo": 0, "unlabelled": 51}
    pseudo, counts = measured_labels(load_target("oxy_pseudo"), canonical, progress=False)
    assert counts == {"measured": 150, "pseudo": 51, "unlabelled": 0}
    known = ~np.isnan(labels)
    assert np.array_equal(pseudo[known], labels[known]) and not np.isnan(pseudo).any()


def test_training_data_leaves_unlabelled_out_of_classifiers_and_nulls_them_for_cfg(workdir: Path, run_cli):
    run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "0.5")
    classifier = prepare_training_data(TrainConfig(kind="classifier", process="mask", targets=["oxy"], data="data.csv",
                                                   out="run"), progress=False)
    labels = classifier.train_labels.numpy()
    assert set(np.unique(labels)) == {0, 1}
    counts = classifier.record["labels"]["train"]["oxy"]
    assert len(labels) == counts["measured"] == classifier.record["train_molecules"] and counts["unlabelled"] > 0
    cfg = prepare_training_data(TrainConfig(kind="mdlm", targets=["oxy"], data="data.csv", out="run"), progress=False)
    labels = cfg.train_labels.numpy()[:, 0]
    counts = cfg.record["labels"]["train"]["oxy"]
    assert (labels == NULL_LABEL).sum() == counts["unlabelled"] > 0 and len(labels) == sum(counts.values())
    assert cfg.record["positive_fraction"]["oxy"] == round(float(labels[labels != NULL_LABEL].mean()), 6)


def test_train_classifier_cli_on_a_data_target(workdir: Path, run_cli):
    run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "0.5")
    run_cli("train-classifier", "--target", "oxy", "--data", "data.csv", "--process", "mask", "--preset", "tiny",
            "--max-steps", "2", "--batch-size", "8", "--warmup-steps", "0", "--out", "run", "--accelerator", "cpu")
    config = json.loads(Path("run/config.json").read_text())
    assert config["data"]["labels"]["train"]["oxy"]["measured"] > 0


def test_evaluate_says_hits_come_from_the_fitted_oracle(workdir: Path, run_cli):
    run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "0.5")
    Path("gen.smi").write_text("CCO\nCCC\n")
    result = run_cli("evaluate", "gen.smi", "--targets", "oxy", "--oracles", "qed", "--out", "m.json")
    assert "hits measured with the fitted oracle 'oxy_fit'" in result.stdout
    assert "fitted oracle 'oxy_fit'" in json.loads(Path("m.json").read_text())["targets"]["oxy"]["measured_by"]


def test_changed_data_is_refused(workdir: Path, run_cli):
    run_cli("target", "create", "oxy", "--data", "data.csv", "--column", "oxygens", "--above", "0.5")
    with open("data.csv", "a") as handle:
        handle.write("CCOCC,1\n")
    with pytest.raises(Exception, match="changed since the target was created"):
        measured_labels(load_target("oxy"), ["CCO"], progress=False)


@pytest.mark.parametrize("case", ["missing column", "non-numeric", "too few", "one side", "builtin name", "no oracle",
                                  "above and below", "pseudo without column"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: str, workdir: Path, run_cli):
    Path("text.csv").write_text("smiles,v\nCCO,1\nCCC,high\n")
    pd.DataFrame({"smiles": MOLECULES[: MIN_LABELLED - 1], "v": range(MIN_LABELLED - 1)}).to_csv("few.csv", index=False)
    pd.DataFrame({"smiles": MOLECULES[:40], "w": range(40)}).to_csv("other.csv", index=False)
    args, message = {
        "missing column": (["--data", "data.csv", "--column", "nope", "--above", "1"], "no column 'nope'"),
        "non-numeric": (["--data", "text.csv", "--column", "v", "--above", "1"], "1 non-numeric value(s) (line 3"),
        "too few": (["--data", "few.csv", "--column", "v", "--above", "1"], f"only {MIN_LABELLED - 1} molecule(s)"),
        "one side": (["--data", "data.csv", "--column", "oxygens", "--above", "99"], "no molecule with a value is above 99"),
        "builtin name": (["--data", "data.csv", "--column", "oxygens", "--above", "1"], "clashes with a built-in target"),
        "no oracle": (["--data", "other.csv", "--column", "w", "--above", "3"], "moldiff oracle fit NAME --data other.csv"),
        "above and below": (["--data", "data.csv", "--column", "oxygens", "--above", "1", "--below", "2"], "one of --above"),
        "pseudo without column": (["--oracle", "rings", "--pseudo-labels"], "--pseudo-labels applies"),
    }[case]
    name = "rings" if case == "builtin name" else "t"
    result = run_cli("target", "create", name, *args, expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not Path("guidance").exists()
