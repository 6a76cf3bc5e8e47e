"""Generating until enough candidates pass (`--keep`, `--where`, `--max-samples`), seeds, and the
recommended sampling settings of a model's config."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import moldiff
from moldiff.chemistry.data import load_split
from moldiff.core.errors import MoldiffError
from moldiff.pipeline.generate import parse_where


@pytest.fixture
def tiny(tiny_selfies_mdlm) -> Path:
    return tiny_selfies_mdlm


def test_keep_valid_novel_returns_exactly_n_passing_molecules(tiny, run_cli):
    run_cli("sample", "--model", tiny, "-n", 50, "--keep", "valid,novel", "--steps", 8, "--batch-size", 64, "--out", "kept.csv")
    kept = pd.read_csv("kept.csv", keep_default_na=False)
    assert len(kept) == 50 and kept["valid"].all() and kept["novel"].all()
    reference = set(load_split("qm9", "train")) | set(load_split("qm9", "valid")) | set(load_split("qm9", "test"))
    assert not set(kept["smiles"]) & reference


def test_filters_rounds_unique_where_and_all_column(tiny):
    model = moldiff.load(tiny)
    result = model.sample(40, keep="valid,unique", where="qed>0.3,rings<=1", steps=8, batch_size=32, seed=1, progress=False)
    kept = result.to_dataframe()
    assert len(kept) == 40 and kept["smiles"].is_unique
    assert (kept["qed"] > 0.3).all() and (kept["rings"] <= 1).all()
    everything = result.to_dataframe(all=True)
    assert everything["kept"].sum() == 40 and len(everything) == result.generated >= 40
    assert result.rounds > 1 and result.passed >= 40  # qed > 0.3 does not hold for every molecule
    again = model.sample(40, keep="valid,unique", where="qed>0.3,rings<=1", steps=8, batch_size=32, seed=1, progress=False)
    pd.testing.assert_frame_equal(everything, again.to_dataframe(all=True))
    assert result.metrics()["yield"]["yield"] == pytest.approx(result.passed / result.generated)


def test_spent_budget_keeps_what_passed_and_says_so(tiny, run_cli):
    result = run_cli("sample", "--model", tiny, "-n", 30, "--where", "rings>=3", "--max-samples", 40, "--steps", 8,
                     "--all", "--out", "all.csv")
    table = pd.read_csv("all.csv", keep_default_na=False)
    assert len(table) == 40 and "kept" in table.columns
    passed = int(((table["rings"].replace("", "nan").astype(float) >= 3)).sum())
    assert passed < 30 and table["kept"].sum() == passed
    assert f"only {passed} of the 30 requested molecules passed" in result.stdout + result.stderr
    assert "yield" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--keep", "valid,shiny"], "unknown --keep word 'shiny': choose from valid, unique, novel, hits"),
    (["--where", "beauty>3"], "unknown oracle 'beauty'"),
    (["--where", "qed>>0.5"], "malformed --where condition 'qed>>0.5'"),
    (["--where", "qed"], "malformed --where condition 'qed'"),
    (["--keep", "valid", "--max-samples", "5"], "--max-samples (5) must be at least -n (10)"),
    (["--keep", "hits"], "--keep hits needs a target"),
])
def test_bad_filter_input_is_one_line_exit_2_without_output(tiny, run_cli, args, message):
    result = run_cli("sample", "--model", tiny, "-n", 10, "--steps", 4, *args, "--out", "x.csv", expect=2)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not Path("x.csv").exists()


def test_keep_hits_keeps_only_hits_of_the_target(tiny):
    result = moldiff.load(tiny).sample(3, keep="hits", target="rings", max_samples=60, steps=4, progress=False)
    threshold = moldiff.load_target("rings").threshold
    everything = result.to_dataframe(all=True)
    hits = everything["rings"] > threshold
    assert result.passed == int(hits.sum()) and (everything.loc[everything["kept"], "rings"] > threshold).all()
    assert result.kept == min(3, result.passed)


def test_parse_where_operators():
    conditions = parse_where("qed>=0.5, sa<4 ,rings=2,logp==1e-1")
    assert [(c.oracle, c.op, c.value) for c in conditions] == [("qed", ">=", 0.5), ("sa", "<", 4.0), ("rings", "=", 2.0), ("logp", "=", 0.1)]


def test_seed_none_draws_and_reports_a_seed_and_bad_seed_is_clear(tiny):
    model = moldiff.load(tiny)
    result = model.sample(4, seed=None, steps=4, progress=False)
    drawn = result.seed
    again = model.sample(4, seed=drawn, steps=4, progress=False)
    pd.testing.assert_frame_equal(result.to_dataframe(), again.to_dataframe())
    with pytest.raises(MoldiffError, match="seed must be a whole number or None"):
        model.sample(4, seed="zero", steps=4, progress=False)


def test_load_is_listed_and_sample_has_an_explicit_signature():
    assert "load" in dir(moldiff) and "frontier" in dir(moldiff)
    parameters = inspect.signature(moldiff.pipeline.model.LoadedModel.sample).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    assert {"keep", "where", "max_samples", "steps", "top_p", "guidance", "seed"} <= set(parameters)


@pytest.fixture
def recommending(tiny, tmp_path) -> Path:
    """A copy of the tiny model whose config recommends settings."""
    path = tmp_path / "recommending"
    shutil.copytree(tiny, path)
    config = json.loads((path / "config.json").read_text())
    config["sampling"] = {"sampler": "remdm-cap", "steps": 6, "eta": 0.1, "top_p": 0.8}
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_recommended_settings_are_the_default_and_can_be_overridden(recommending):
    model = moldiff.load(recommending)
    options = model.sample(4, progress=False).options
    assert (options.sampler, options.steps, options.eta, options.top_p) == ("remdm-cap", 6, 0.1, 0.8)
    options = model.sample(4, steps=3, top_p=1.0, progress=False).options
    assert (options.sampler, options.steps, options.eta, options.top_p) == ("remdm-cap", 3, 0.1, 1.0)
    options = model.sample(4, sampler="mdlm", progress=False).options  # cap's eta does not carry over
    assert (options.sampler, options.steps, options.eta, options.top_p) == ("mdlm", 6, None, 0.8)


def test_cli_uses_recommended_settings_unless_given(recommending, run_cli):
    shown = run_cli("sample", "--model", recommending, "-n", 4, "--out", "a.csv").stdout
    assert "remdm-cap, T = 6" in shown
    shown = run_cli("sample", "--model", recommending, "-n", 4, "--steps", 5, "--sampler", "mdlm", "--out", "b.csv").stdout
    assert "mdlm, T = 5" in shown


def test_pipeline_example_writes_sdf_with_property_fields(tiny, repo, monkeypatch, capsys):
    import runpy
    import sys

    from rdkit import Chem

    monkeypatch.setattr(sys, "argv", ["candidates_to_sdf.py", "--model", str(tiny), "--n", "6", "--where", "qed>0.2",
                                      "--steps", "4", "--out", "c.sdf"])
    runpy.run_path(str(repo / "examples" / "candidates_to_sdf.py"), run_name="__main__")
    molecules = list(Chem.SDMolSupplier("c.sdf"))
    assert len(molecules) == 6 and all(m is not None for m in molecules)
    assert all(float(m.GetProp("qed")) > 0.2 and m.HasProp("sa") and m.HasProp("logp") for m in molecules)
    assert "6 candidates" in capsys.readouterr().out


def test_generated_result_keeps_the_guidance_and_classifier_passes():
    model = moldiff.load("qm9-smiles-mdlm")
    result = model.sample(4, steps=4, guidance="cbg", target="rings", gamma=1.0, progress=False)
    assert result.guidance == "cbg" and result.classifier_passes > 0
    assert moldiff.load("qm9-smiles-mdlm").sample(4, steps=4, preset="paper-rings-cfg", progress=False).guidance == "cfg"
