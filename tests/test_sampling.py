"""Sampling trained (tiny) models through the Python API and `moldiff sample`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import moldiff
from moldiff.chemistry.data import load_split
from moldiff.core.errors import MoldiffError
from moldiff.training.config import TrainConfig
from moldiff.training.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    data = root / "mols.smi"
    data.write_text("\n".join(load_split("qm9", "train")[:256]) + "\n")
    paths = {}
    common = dict(preset="tiny", data=str(data), max_steps=60, batch_size=64, lr=3e-3, warmup_steps=5, val_every=60, checkpoint_every=60)
    for kind in ("mdlm", "udlm", "ar"):
        train(TrainConfig(kind=kind, out=str(root / kind), targets=["rings"], **common), progress=False)
        paths[kind] = root / kind
    for process in ("mask", "uniform", "prefix"):
        out = root / "guidance" / "rings" / process
        train(TrainConfig(kind="classifier", process=process, out=str(out), targets=["rings"], **common), progress=False)
        paths[f"rings/{process}"] = out
    return paths


@pytest.mark.parametrize("kind,sampler", [("mdlm", "mdlm"), ("mdlm", "remdm-loop"), ("mdlm", "remdm-conf"), ("udlm", "udlm"), ("ar", "ar")])
def test_api_sample_returns_scored_rows_and_is_reproducible(models, kind, sampler):
    model = moldiff.load(models[kind])
    result = model.sample(24, sampler=sampler, steps=16, batch_size=10, seed=3, progress=False)
    table = result.to_dataframe()
    assert list(table.columns[:4]) == ["smiles", "raw", "valid", "novel"] and {"rings", "qed"} <= set(table.columns)
    assert len(table) == 24
    assert (table.loc[~table["valid"], "smiles"] == "").all()
    assert table.loc[table["valid"], "rings"].notna().all() and table.loc[~table["valid"], "rings"].isna().all()
    assert not table["raw"].str.contains("<mask>").any()  # the last step leaves no mask
    again = model.sample(24, sampler=sampler, steps=16, batch_size=10, seed=3, progress=False).to_dataframe()
    pd.testing.assert_frame_equal(table, again)
    metrics = result.metrics()
    assert metrics["n"] == 24 and metrics["speed"]["evaluations_per_molecule"] > 0
    assert result.device == "cpu"  # where it was sampled (a GPU by name: core.runtime.device_label)


def test_mdlm_forward_skipping_saves_evaluations_on_a_real_model(models):
    model = moldiff.load(models["mdlm"])
    result = model.sample(32, sampler="mdlm", steps=128, batch_size=32, progress=False)
    assert result.speed()["evaluations_per_molecule"] < 0.4 * 128


@pytest.mark.parametrize("kind,sampler,message", [
    ("udlm", "remdm-loop", "does not fit udlm models: use udlm"),
    ("mdlm", "udlm", "does not fit mdlm models"),
    ("ar", "mdlm", "does not fit ar models: use ar"),
])
def test_sampler_that_does_not_fit_the_model_is_an_error(models, kind, sampler, message):
    with pytest.raises(MoldiffError, match=message):
        moldiff.load(models[kind]).sample(2, sampler=sampler, progress=False)


def test_cli_sample_writes_rows_and_prints_a_summary(models, run_cli):
    result = run_cli("sample", "--model", models["mdlm"], "-n", "20", "--steps", "16", "--out", "out.jsonl")
    assert "molecules/s on cpu" in result.stdout and "denoiser evaluations per molecule" in result.stdout
    rows = pd.read_json("out.jsonl", lines=True)
    assert len(rows) == 20 and {"smiles", "raw", "valid", "novel", "rings", "qed"} <= set(rows.columns)


@pytest.mark.parametrize("args,message", [
    (["--sampler", "gibbs"], "unknown sampler 'gibbs'"),
    (["--sampler", "remdm-loop", "--eta", "0.5"], "eta must be in [0, 0.1111]"),
    (["--sampler", "remdm-loop", "--t-on", "0.1", "--t-off", "0.2"], "t_off < t_on"),
    (["--steps", "0"], "Invalid value for '--steps'"),
    (["--top-p", "1.5"], "Invalid value for '--top-p'"),
    (["--preset", "paper-magic"], "unknown preset 'paper-magic': choose one of paper-rings-cfg, paper-rings-cbg, paper-qed-cfg, paper-qed-cbg"),
    (["--preset", "paper-rings-cfg", "--guidance", "cbg"], "preset 'paper-rings-cfg' is for --guidance cfg, not cbg"),
    (["--preset", "paper-rings-cfg", "--target", "qed"], "preset 'paper-rings-cfg' is for --target rings, not qed"),
    (["--guidance", "cbg", "--target", "rings", "--top-k", "0"], "Invalid value for '--top-k'"),
    (["--guidance", "cbg", "--target", "rings", "--top-k", "99"], "--top-k must be between 1 and"),
    (["--guidance", "cfg", "--target", "rings", "--top-k", "5"], "--top-k has no effect without --guidance cbg or fudge"),
    (["--sampler", "mdlm", "--loop-window"], "the loop window needs a remasking schedule"),
    (["--sampler", "mdlm", "--confidence"], "confidence weighting needs a remasking schedule"),
    (["--sampler", "remdm-loop", "--switch", "0.5"], "a switch time needs"),
])
def test_cli_sample_bad_input(models, run_cli, args, message):
    result = run_cli("sample", "--model", models["mdlm"], *args, "--out", "out.csv", expect=2)
    assert message in result.output and "Traceback" not in result.output
    if not message.startswith("Invalid value"):  # click's own range errors add a usage line in the test runner
        assert len(result.output.strip().splitlines()) == 1
    assert not Path("out.csv").exists()


def test_cli_sample_missing_model_names_what_exists(run_cli):
    result = run_cli("sample", "--model", "no-such-model", "--out", "out.csv", expect=2)
    assert "no model 'no-such-model'" in result.output


@pytest.mark.parametrize("kind,guidance,sampler", [
    ("mdlm", "cfg", "remdm-loop"), ("mdlm", "cbg", "mdlm"), ("mdlm", "cbg-taylor", "remdm-cap"),
    ("udlm", "cfg", "udlm"), ("udlm", "cbg-taylor", "udlm"), ("ar", "cfg", "ar"), ("ar", "fudge", "ar"),
])
def test_guided_sampling_runs_with_every_fitting_combination(models, kind, guidance, sampler):
    process = {"mdlm": "mask", "udlm": "uniform", "ar": "prefix"}[kind]
    classifier = None if guidance == "cfg" else str(models[f"rings/{process}"])
    model = moldiff.load(models[kind])
    n, steps = (4, 4) if guidance == "cbg" else (12, 8)  # exact CBG scores L x N substitutions per row and step
    result = model.sample(n, sampler=sampler, steps=steps, batch_size=12, guidance=guidance, gamma=2.0, target="rings",
                          classifier=classifier, top_k=5 if guidance in ("cbg", "fudge") else None, progress=False)
    metrics = result.metrics()
    assert "rings" in metrics["targets"] and 0.0 <= metrics["targets"]["rings"]["hit_fraction_valid"] <= 1.0 or metrics["valid"] == 0
    unguided = model.sample(n, sampler=sampler, steps=steps, batch_size=12, progress=False).to_dataframe()
    same = model.sample(n, sampler=sampler, steps=steps, batch_size=12, guidance=guidance, gamma=0.0, target="rings",
                        classifier=classifier, progress=False).to_dataframe()
    pd.testing.assert_frame_equal(unguided, same)  # gamma 0 is unguided, draw for draw


@pytest.mark.parametrize("kind,options,message", [
    ("mdlm", dict(guidance="fudge", target="rings"), "guidance 'fudge' does not fit mdlm models"),
    ("mdlm", dict(guidance="cfg", target="qed"), "not trained with target 'qed' for cfg; its targets: rings"),
    ("mdlm", dict(guidance="cbg", target="qed"), "guidance/qed/mask was trained on another vocabulary than the model"),
    ("mdlm", dict(guidance="cbg", target="heavy"), "moldiff train-classifier --target heavy --process mask"),
    ("mdlm", dict(guidance="cfg", target="rings", gamma=-1.0), "gamma must be >= 0"),
    ("mdlm", dict(guidance="cfg"), "needs --target"),
    ("udlm", dict(guidance="cbg", target="nope"), "unknown target 'nope'"),
])
def test_bad_guidance_requests_are_clear_errors(models, kind, options, message):
    heavy = Path("guidance/heavy/target.toml")  # a target of the user's, with no classifier trained yet
    heavy.parent.mkdir(parents=True)
    heavy.write_text('name = "heavy"\noracle = "heavy_atoms"\ndirection = "above"\nthreshold = 8.0\n')
    with pytest.raises(MoldiffError, match=message):
        moldiff.load(models[kind]).sample(2, progress=False, **options)


def test_cli_guided_sample_reports_the_target(models, run_cli):
    result = run_cli("sample", "--model", models["mdlm"], "-n", "16", "--steps", "8", "--guidance", "cfg", "--gamma", "2",
                     "--target", "rings", "--out", "guided.csv")
    assert "rings: rings > 3" in result.stdout and "cfg gamma 2 toward rings" in result.stdout
    bad = run_cli("sample", "--model", models["mdlm"], "--guidance", "fudge", "--target", "rings", "--out", "x.csv", expect=2)
    assert "does not fit mdlm models" in bad.output and not Path("x.csv").exists()


def test_presets_hold_the_paper_settings():
    from moldiff.guidance.presets import PRESETS

    assert {name: (p.guidance, p.target, p.sampler) for name, p in PRESETS.items()} == {
        "paper-rings-cfg": ("cfg", "rings", dict(sampler="remdm-rescale", eta=0.9, confidence=True, loop_window=True, t_on=0.25, t_off=0.125)),
        "paper-rings-cbg": ("cbg", "rings", dict(sampler="remdm-rescale", eta=0.9, confidence=True)),
        "paper-qed-cfg": ("cfg", "qed", dict(sampler="remdm-rescale", eta=0.1, confidence=True, t_switch=0.1)),
        "paper-qed-cbg": ("cbg", "qed", dict(sampler="remdm-rescale", eta=1.0, confidence=True, t_switch=0.5)),
    }


@pytest.mark.parametrize("preset", ["paper-rings-cfg", "paper-rings-cbg"])
def test_api_preset_sets_guidance_and_sampler_and_explicit_options_win(models, preset):
    model = moldiff.load(models["mdlm"])
    classifier = str(models["rings/mask"]) if preset.endswith("cbg") else None  # cfg uses none (and refuses one)
    result = model.sample(3, steps=4, preset=preset, classifier=classifier, progress=False)
    options = result.options
    assert result.guidance == preset.split("-")[-1] and [t.name for t in result.targets] == ["rings"]
    assert (options.sampler, options.eta, options.confidence) == ("remdm-rescale", 0.9, True)
    assert options.loop_window == (preset == "paper-rings-cfg")
    assert (options.t_on, options.t_off) == ((0.25, 0.125) if preset == "paper-rings-cfg" else (0.55, 0.05))
    override = model.sample(3, steps=4, preset=preset, eta=0.5, classifier=classifier, progress=False)
    assert override.options.eta == 0.5 and override.options.confidence


def test_cli_help_lists_the_presets(run_cli):
    out = run_cli("sample", "--help").stdout
    assert all(name in out for name in ("paper-rings-cfg", "paper-rings-cbg", "paper-qed-cfg", "paper-qed-cbg"))


def test_novelty_is_judged_against_the_data_set_the_model_learned_unless_a_reference_is_given(monkeypatch):
    from moldiff.pipeline import sampling
    from moldiff.pipeline.sampling import default_reference

    moses = {"data": {"spec": "moses"}}
    if (REPO / "data" / "moses").exists():  # this checkout fetched the MOSES data
        assert default_reference(moses, "moses-selfies-mdlm") == "moses"

    def not_fetched(name: str):
        raise MoldiffError(f"the {name} data is not fetched")

    monkeypatch.setattr(sampling, "fetched_dir", not_fetched)
    with pytest.raises(MoldiffError, match=r"not fetched here: run `moldiff data fetch moses` once, or pass a reference"):
        default_reference(moses, "moses-selfies-mdlm")
    assert default_reference({"data": {"spec": "qm9"}}, "m") == "qm9"
    assert default_reference({"data": {"spec": "/somewhere/mine.csv"}}, "m") == "qm9"
    assert default_reference({}, "m") == "qm9"
    model = moldiff.load("qm9-selfies-mdlm")
    assert model.sample(2, steps=4, progress=False).reference == "qm9"
    assert model.sample(2, steps=4, reference="qm9:test", progress=False).reference == "qm9:test"
    drug_like = moldiff.load("moses-selfies-mdlm")  # the Python API has the CLI's default: never QM9 for a MOSES model
    with pytest.raises(MoldiffError, match="judges novelty against the moses data it learned"):
        drug_like.sample(2, steps=2, progress=False)
    assert drug_like.sample(2, steps=2, reference="qm9", progress=False).reference == "qm9"
