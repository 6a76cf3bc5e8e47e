"""Issue 13: no silent data loss, no misleading numbers, no tracebacks.

Each test names the item of the issue it covers. Models are tiny and trained for a few steps: the
tests check what is written, refused and recorded, not sample quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

import moldiff
from moldiff.chemistry.data import load_split
from moldiff.core.errors import MoldiffError
from moldiff.training.config import TrainConfig
from moldiff.training.train import train

FEW = dict(preset="tiny", max_steps=3, batch_size=16, warmup_steps=1, val_every=3, checkpoint_every=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A tiny MDLM conditioned on rings, a mask classifier for rings and an AR model (3 steps each)."""
    root = tmp_path_factory.mktemp("hardening")
    data = root / "mols.smi"
    data.write_text("\n".join(load_split("qm9", "train")[:400]) + "\n")
    paths = {"data": data}
    for kind in ("mdlm", "ar"):
        train(TrainConfig(kind=kind, out=str(root / kind), targets=["rings"], data=str(data), **FEW), progress=False)
        paths[kind] = root / kind
    out = root / "guidance" / "rings" / "mask"
    train(TrainConfig(kind="classifier", process="mask", out=str(out), targets=["rings"], data=str(data), **FEW), progress=False)
    paths["rings/mask"] = out
    return paths


def _one_line_error(result, expected: str) -> None:
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output


# --- 1: evaluate counts every generated row ---------------------------------------------------
@pytest.mark.parametrize("suffix", [".smi", ".csv", ".jsonl", ".sdf"])
def test_1_sample_output_round_trips_through_evaluate_with_its_invalid_rows(trained, run_cli, suffix):
    out = f"samples{suffix}"
    run_cli("sample", "--model", trained["mdlm"], "-n", "16", "--steps", "4", "--out", out)
    run_cli("sample", "--model", trained["mdlm"], "-n", "16", "--steps", "4", "--out", "reference.csv")
    table = pd.read_csv("reference.csv")
    assert (~table["valid"]).any(), "a 3-step model should produce some invalid molecules"
    run_cli("evaluate", out, "--oracles", "rings", "--out", "m.json")
    metrics = json.loads(Path("m.json").read_text())
    assert metrics["n"] == 16
    assert metrics["valid"] == int(table["valid"].sum())


def test_1_evaluate_counts_blank_lines_and_empty_csv_fields_as_invalid(run_cli, tmp_path):
    (tmp_path / "g.smi").write_text("CCO\n\nc1ccccc1\n\n", encoding="utf-8")
    (tmp_path / "g.csv").write_text("smiles\nCCO\n\nc1ccccc1\n\n", encoding="utf-8")
    for name in ("g.smi", "g.csv"):
        run_cli("evaluate", name, "--oracles", "rings", "--out", "m.json")
        metrics = json.loads(Path("m.json").read_text())
        assert (metrics["n"], metrics["valid"]) == (3, 2), name  # the blank line inside counts, trailing ones do not
    assert "blank" in run_cli("evaluate", "--help").stdout


# --- 2: a target must be the one the model was trained on -------------------------------------
def _shadow_rings(oracle: str = "logp", threshold: float = 1.113) -> None:
    path = Path("guidance/rings/target.toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'name = "rings"\noracle = "{oracle}"\ndirection = "above"\nthreshold = {threshold}\n')


def test_2_a_shadowing_target_that_differs_from_the_classifiers_is_refused(trained):
    _shadow_rings()
    model = moldiff.load(trained["mdlm"])
    with pytest.raises(MoldiffError, match=r"rings.*trained on rings > 3.*logp > 1\.113"):
        model.sample(2, steps=2, guidance="cbg-taylor", target="rings", classifier=str(trained["rings/mask"]), progress=False)
    with pytest.raises(MoldiffError, match=r"rings.*trained on rings > 3.*logp > 1\.113"):
        model.sample(2, steps=2, guidance="cfg", target="rings", progress=False)


def test_2_the_same_target_definition_is_accepted(trained):
    _shadow_rings("rings", 3.0)
    model = moldiff.load(trained["mdlm"])
    result = model.sample(2, steps=2, guidance="cbg-taylor", target="rings", classifier=str(trained["rings/mask"]), progress=False)
    assert [t.oracle for t in result.targets] == ["rings"]


def test_2_target_list_shows_shadowed_targets_and_their_sources(run_cli, repo):
    _shadow_rings()
    out = run_cli("target", "list").stdout
    lines = [line for line in out.splitlines() if line.split() and line.split()[0] == "rings"]
    assert len(lines) == 2, out
    assert "logp" in lines[0] and str(Path.cwd() / "guidance" / "rings" / "target.toml") in lines[0]
    assert "shadowed" in lines[1] and str(repo / "guidance" / "rings" / "target.toml") in lines[1]


# --- 3: no validation NLL from a split too small to measure it -------------------------------
@pytest.mark.parametrize("molecules", [8, 100])
def test_3_a_small_data_file_records_no_validation_and_says_so(tmp_path, caplog, molecules):
    data = tmp_path / "few.smi"
    data.write_text("\n".join(load_split("qm9", "train")[:molecules]) + "\n")
    train(TrainConfig(kind="mdlm", out="run", data=str(data), **FEW), progress=False)
    config = json.loads(Path("run/config.json").read_text())
    assert config["validation"] == {}
    assert "no validation" in config["data"]["validation"]
    assert any("no validation" in r.getMessage() for r in caplog.records)


def test_3_enough_data_records_validation_metrics(trained):
    for name, keys in (("mdlm", {"nll", "bits_per_token"}), ("rings/mask", {"cross_entropy", "accuracy"})):
        config = json.loads((trained[name] / "config.json").read_text())
        assert set(config["validation"]) >= keys and "validation" not in config["data"]


# --- 5: each molecule's random stream is a function of (seed, index) ---------------------------
SETTINGS = {
    "mdlm": dict(steps=8),
    "mdlm-cbg": dict(steps=8, guidance="cbg", gamma=2.0, target="rings"),
    "mdlm-cfg-top-p": dict(steps=8, guidance="cfg", gamma=2.0, target="rings", top_p=0.9, sampler="remdm-cap"),
    "ar": dict(),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_5_batch_size_never_changes_the_molecules_and_a_larger_n_extends_a_smaller_one(trained, name):
    model = moldiff.load(trained[name.split("-")[0]])
    options = dict(SETTINGS[name], seed=7, progress=False)
    if options.get("guidance") == "cbg":
        options["classifier"] = str(trained["rings/mask"])

    def tokens(n: int, batch_size: int) -> list[str]:
        return model.sample(n, batch_size=batch_size, **options).to_dataframe()["raw"].tolist()

    whole = tokens(8, 8)
    assert tokens(8, 3) == whole and tokens(8, 1) == whole
    assert tokens(4, 8) == whole[:4]
    assert len(set(whole)) > 1, "different molecules of a run draw from different streams"
    assert model.sample(8, batch_size=8, **{**options, "seed": 8}).to_dataframe()["raw"].tolist() != whole


def test_5_cli_batch_size_and_n_prefix(trained, run_cli):
    base = ["sample", "--model", trained["mdlm"], "--steps", "4", "--seed", "3"]
    run_cli(*base, "-n", "6", "--batch-size", "6", "--out", "a.csv")
    run_cli(*base, "-n", "6", "--batch-size", "4", "--out", "b.csv")
    run_cli(*base, "-n", "3", "--out", "c.csv")
    a, b, c = (pd.read_csv(f"{x}.csv") for x in "abc")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(c, a.iloc[:3])


# --- 24: a deliberate thread count, the caller's own setting restored ----------------------------
def test_24_sampling_uses_the_chosen_threads_and_restores_the_callers(trained, monkeypatch):
    import torch

    seen = []
    model = moldiff.load(trained["mdlm"])
    forward = model.network.forward
    monkeypatch.setattr(model.network, "forward", lambda *a, **k: seen.append(torch.get_num_threads()) or forward(*a, **k))
    before = torch.get_num_threads()
    model.sample(2, steps=2, progress=False)
    model.sample(2, steps=2, progress=False, threads=2)
    monkeypatch.setenv("MOLDIFF_THREADS", "3")
    model.sample(2, steps=2, progress=False)
    assert seen[0] == 1 and seen[-1] == 3 and 2 in seen
    assert torch.get_num_threads() == before
    monkeypatch.setenv("MOLDIFF_THREADS", "many")
    with pytest.raises(MoldiffError, match=r"\$MOLDIFF_THREADS must be a positive number"):
        model.sample(2, steps=2, progress=False)


# --- 4: FCD says when it is unreliable or missing ----------------------------------------------
def test_4_fcd_on_few_molecules_warns_and_a_missing_fcd_says_why(run_cli, tmp_path):
    reference = tmp_path / "ref.smi"
    reference.write_text("\n".join(load_split("qm9", "test")[:20]) + "\n")
    (tmp_path / "three.smi").write_text("CCO\nc1ccccc1\nCCN\n")
    (tmp_path / "one.smi").write_text("CCO\nxyz\n")
    result = run_cli("evaluate", "three.smi", "--fcd", "--fcd-reference", reference, "--out", "m.json")
    fcd = json.loads(Path("m.json").read_text())["fcd"]
    assert fcd["value"] is not None and "3 valid molecules" in fcd["warning"]
    assert "FCD" in result.stderr and "3 valid molecules" in result.stderr
    result = run_cli("evaluate", "one.smi", "--fcd", "--fcd-reference", reference, "--out", "m.json")
    fcd = json.loads(Path("m.json").read_text())["fcd"]
    assert fcd["value"] is None and "at least 2 valid molecules" in fcd["reason"]
    assert "at least 2 valid molecules" in result.stdout + result.stderr


# --- 23: one bad target file does not hide the others -----------------------------------------
def test_23_target_list_and_data_info_name_a_bad_target_file_and_list_the_others(run_cli):
    bad = Path("guidance/broken/target.toml")
    bad.parent.mkdir(parents=True)
    bad.write_text("oracle = \n")
    for args in (("target", "list"), ("data", "info")):
        result = run_cli(*args)
        assert "rings" in result.stdout and "qed" in result.stdout
        assert str(bad.resolve()) in result.stderr.replace("\n", "") or "broken/target.toml" in result.stderr


# --- 6: an output path that is the input is refused -------------------------------------------
@pytest.mark.parametrize("command", [["score", "x.csv", "--oracles", "rings"], ["data", "export", "x.csv"]])
def test_6_output_that_is_the_input_is_refused(run_cli, command):
    Path("x.csv").write_text("smiles\nCCO\nc1ccccc1\n")
    before = Path("x.csv").read_bytes()
    result = run_cli(*command, "--out", "./x.csv", expect=2)
    _one_line_error(result, "is the input")
    assert Path("x.csv").read_bytes() == before


# --- 7, 13: export-model refuses to overwrite, writes the card, refuses a file -----------------
def test_7_export_model_refuses_an_existing_destination_unless_forced_and_writes_a_card(trained, run_cli):
    run_cli("export-model", trained["mdlm"], "mine")
    card = Path("mine/README.md").read_text()
    assert card.startswith("# mine") and "float16" in card
    weights = Path("mine/weights.safetensors").read_bytes()
    result = run_cli("export-model", trained["ar"], "mine", expect=2)
    _one_line_error(result, "--force")
    assert Path("mine/weights.safetensors").read_bytes() == weights
    run_cli("export-model", trained["ar"], "mine", "--force", "--dtype", "float32")
    assert moldiff.load("mine").kind == "ar" and "float32" in Path("mine/README.md").read_text()


def test_export_into_a_target_folder_names_the_card_target_slash_process(trained, run_cli):
    Path("guidance/mytarget").mkdir(parents=True)
    Path("guidance/mytarget/target.toml").write_text("")
    run_cli("export-model", trained["mdlm"], "guidance/mytarget/mask")
    assert Path("guidance/mytarget/mask/README.md").read_text().startswith("# mytarget/mask\n")


def test_13_export_model_to_a_file_is_a_one_line_error(trained, run_cli):
    Path("afile").write_text("keep me")
    result = run_cli("export-model", trained["mdlm"], "afile", expect=2)
    _one_line_error(result, "afile is a file")
    assert Path("afile").read_text() == "keep me"


# --- 8: score keeps one row per input line; sample outputs carry the sample index ------------
def test_8_score_keeps_every_row_in_input_order_with_valid_and_line_columns(run_cli):
    Path("in.smi").write_text("CCO\nxyz\nCCO\n\nc1ccccc1\n")
    run_cli("score", "in.smi", "--oracles", "rings", "--out", "o.csv")
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert table["line"].tolist() == [1, 2, 3, 4, 5]
    assert table["valid"].tolist() == [True, False, True, False, True]
    assert table["input"].tolist() == ["CCO", "xyz", "CCO", "", "c1ccccc1"]
    assert table["smiles"].tolist() == ["CCO", "", "CCO", "", "c1ccccc1"]
    assert [float(v) for v in table["rings"].tolist()[::2]] == [0, 0, 1] and table["rings"].tolist()[1] == ""
    api = moldiff.score(["CCO", "xyz", "CCO", "", "c1ccccc1"], "rings", progress=False)
    assert len(api) == len(table)


@pytest.mark.parametrize("suffix", [".smi", ".sdf", ".csv"])
def test_8_sample_outputs_carry_the_sample_index(trained, run_cli, suffix):
    run_cli("sample", "--model", trained["mdlm"], "-n", "6", "--steps", "4", "--out", f"s{suffix}")
    if suffix == ".smi":
        names = [line.split("\t")[1] for line in Path("s.smi").read_text().splitlines()]
    elif suffix == ".sdf":
        names = [m.GetProp("_Name") for m in Chem.SDMolSupplier("s.sdf")]
    else:
        names = [str(i) for i in pd.read_csv("s.csv")["index"]]
    assert names == [str(i) for i in range(6)]


# --- 22: a JSONL row without a smiles key is named as such ------------------------------------
def test_22_jsonl_row_with_a_smi_key_is_a_missing_smiles_key(run_cli):
    Path("in.jsonl").write_text('{"smiles": "CCO"}\n{"smi": "CCN"}\n')
    result = run_cli("score", "in.jsonl", "--out", "o.csv", expect=2)
    _one_line_error(result, "line 2: no 'smiles' key (keys: smi)")
    assert not Path("o.csv").exists()


# --- 12, 18: data prepare and target create leave nothing behind on bad input ------------------
@pytest.mark.parametrize("name,content", [("fake.txt.gz", b"not gzip at all"), ("binary.txt", bytes(range(256)) * 4),
                                          ("empty.smi", b"")])
def test_12_18_data_prepare_bad_source_is_one_line_error_without_output(run_cli, name, content):
    Path(name).write_bytes(content)
    result = run_cli("data", "prepare", "--source", name, "--out", "prepared", expect=2)
    _one_line_error(result, name)
    assert not Path("prepared").exists()


def test_18_target_create_bad_percentile_leaves_no_directory(run_cli):
    result = run_cli("target", "create", "x", "--oracle", "rings", "--percentile", "150", expect=2)
    assert "--percentile" in result.stderr and "150" in result.stderr and "Traceback" not in result.output
    assert not Path("guidance").exists()


# --- 14: devices -------------------------------------------------------------------------------
def test_14_unknown_or_missing_device_is_a_clear_error(trained, run_cli, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without CUDA
    for device in ("tpu", "cuda"):
        result = run_cli("sample", "--model", trained["mdlm"], "--device", device, "--out", "o.csv", expect=2)
        _one_line_error(result, device)
        with pytest.raises(MoldiffError, match=device):
            moldiff.load(trained["mdlm"]).sample(2, device=device, progress=False)
        result = run_cli("frontier", "--model", trained["mdlm"], "--device", device, "--out", "f.csv", expect=2)
        _one_line_error(result, device)
    assert not Path("o.csv").exists() and not Path("f.csv").exists()


# --- 15, 27: sampling options are checked before the model loads, named by their flags -----------
@pytest.mark.parametrize("args,flag", [(["--top-k", "-2"], "--top-k"), (["--top-k", "0"], "--top-k"),
                                       (["-n", "0"], "--num-samples"), (["--top-p", "0"], "--top-p"),
                                       (["--batch-size", "0"], "--batch-size"), (["--steps", "0"], "--steps")])
def test_15_27_bad_sampling_options_name_the_flag_before_loading(run_cli, args, flag):
    result = run_cli("sample", "--model", "no-such-model", *args, "--out", "o.csv", expect=2)
    assert flag in result.stderr and "no model" not in result.stderr  # checked before the model is looked up


def test_15_top_k_below_one_is_refused_by_the_api(trained):
    for top_k in (0, -2):
        with pytest.raises(MoldiffError, match="top_k"):
            moldiff.load(trained["ar"]).sample(2, guidance="fudge", target="rings", top_k=top_k, progress=False)


# --- 16: training options ----------------------------------------------------------------------
@pytest.mark.parametrize("args,flag", [(["--lr", "-1"], "--lr"), (["--weight-decay", "-1"], "--weight-decay"),
                                       (["--dropout", "1.5"], "--dropout"), (["--ema-decay", "2"], "--ema-decay"),
                                       (["--grad-clip", "-1"], "--grad-clip")])
def test_16_bad_training_options_are_refused(run_cli, args, flag):
    result = run_cli("train", "--kind", "mdlm", *args, "--out", "run", expect=2)
    assert flag in result.stderr and "Traceback" not in result.output
    assert not Path("run").exists()


def test_16_training_options_are_checked_by_the_api_too():
    for field, value in (("lr", -1.0), ("weight_decay", -1.0), ("dropout", 1.5), ("ema_decay", 2.0)):
        with pytest.raises(MoldiffError, match=field):
            TrainConfig(kind="mdlm", out="run", **{field: value})


def test_16_gpu_accelerator_without_a_gpu_is_refused(run_cli, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run_cli("train", "--kind", "mdlm", "--accelerator", "gpu", "--out", "run", expect=2)
    _one_line_error(result, "no GPU")
    assert not Path("run").exists()


# --- 19, 20: options that would be silently ignored ----------------------------------------------
@pytest.mark.parametrize("args,message", [(["--gamma", "2"], "--gamma has no effect without --guidance"),
                                          (["--sampler", "mdlm", "--eta", "0.1"], "--eta has no effect with --sampler mdlm"),
                                          (["--top-k", "3"], "--top-k has no effect without --guidance cbg or fudge")])
def test_19_ignored_options_are_refused(trained, run_cli, args, message):
    result = run_cli("sample", "--model", trained["mdlm"], *args, "--out", "o.csv", expect=2)
    _one_line_error(result, message)


def test_19_target_without_guidance_warns_that_sampling_is_unguided(trained, run_cli):
    result = run_cli("sample", "--model", trained["mdlm"], "-n", "4", "--steps", "2", "--target", "rings", "--out", "o.csv")
    assert "unguided" in result.stderr


def test_20_ar_summary_has_no_T(trained, run_cli):
    out = run_cli("sample", "--model", trained["ar"], "-n", "4", "--out", "o.csv").stdout
    assert "T = " not in out and "4 samples, ar" in out


# --- 25: models listing for scripts ------------------------------------------------------------
def test_25_models_lists_full_names_when_piped_and_as_json(run_cli, repo):
    names = sorted(p.name for p in (repo / "models").iterdir() if (p / "config.json").exists())
    out = run_cli("models", env={"COLUMNS": "40"}).stdout
    for name in names:
        assert name in out
    listed = json.loads(run_cli("models", "--json").stdout)
    assert {m["name"] for m in listed} >= set(names) and all("path" in m and "kind" in m for m in listed)


# --- 21: edits to config.json that keep shapes are detected ------------------------------------
def _edit_config(folder: Path, edit) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_21_edited_model_config_is_detected_and_named(trained, run_cli):
    run_cli("export-model", trained["ar"], "m")
    assert "integrity" in json.loads(Path("m/config.json").read_text())
    moldiff.load("m")
    _edit_config(Path("m"), lambda c: c.update(kind="mdlm"))
    with pytest.raises(MoldiffError, match=r"m/config.json.*kind"):
        moldiff.load("m")
    run_cli("export-model", trained["ar"], "t")
    tokens = json.loads(Path("t/config.json").read_text())["tokenizer"]
    key = "tokens" if "tokens" in tokens else next(k for k, v in tokens.items() if isinstance(v, list))

    def swap(config):
        listed = config["tokenizer"][key]
        listed[-1], listed[-2] = listed[-2], listed[-1]
    _edit_config(Path("t"), swap)
    with pytest.raises(MoldiffError, match="tokenizer"):
        moldiff.load("t")


def test_21_a_config_without_a_checksum_still_loads(trained, run_cli):
    run_cli("export-model", trained["ar"], "old")
    _edit_config(Path("old"), lambda c: c.pop("integrity", None))
    assert moldiff.load("old").kind == "ar"


# --- 9, 10: SIGTERM and resuming with another --max-steps ----------------------------------------
def test_9_sigterm_checkpoints_says_how_to_resume_and_exits_non_zero(trained, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "moldiff", "train", "--kind", "mdlm", "--preset", "tiny", "--data", str(trained["data"]),
            "--max-steps", "100000", "--batch-size", "16", "--val-every", "100000", "--checkpoint-every", "100000", "--out", "run"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not Path("run/train_config.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None), stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    assert Path("run/checkpoints/last.ckpt").exists()


def test_10_resume_below_the_checkpoint_step_is_refused(trained, tmp_path):
    config = dict(kind="mdlm", out="run", data=str(trained["data"]), **{**FEW, "max_steps": 4, "checkpoint_every": 2})
    train(TrainConfig(**config), progress=False)
    with pytest.raises(MoldiffError, match="checkpoint is at step 4; give --max-steps 4 or more"):
        train(TrainConfig(**{**config, "max_steps": 3}), resume=True, progress=False)
    train(TrainConfig(**{**config, "max_steps": 6}), resume=True, progress=False)
    record = json.loads(Path("run/config.json").read_text())["training"]
    assert record["steps"] == 6 and record["config"]["max_steps"] == 6


# --- 11: plain progress lines when not on a terminal, one log per run ---------------------------
def test_11_progress_lines_without_a_terminal_and_one_log_directory_per_run(trained, caplog):
    caplog.set_level("INFO", logger="moldiff")
    config = dict(kind="mdlm", out="run", data=str(trained["data"]), **{**FEW, "max_steps": 4, "checkpoint_every": 2})
    train(TrainConfig(**config), progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert lines and lines[-1].startswith("step 4/4") and "loss" in lines[-1]
    earlier = Path("run/logs/version_0/metrics.csv").read_text()
    train(TrainConfig(**{**config, "max_steps": 6}), resume=True, progress=True)
    assert sorted(p.name for p in Path("run/logs").iterdir()) == ["version_0"]
    # Lightning deletes metrics.csv on resume; the earlier part is kept beside the new one
    assert Path("run/logs/version_0/metrics.before-resume-001.csv").read_text() == earlier
    assert Path("run/logs/version_0/metrics.csv").exists()


def test_11_terminal_progress_bar_counts_steps_toward_max_steps_not_epochs(trained):
    from types import SimpleNamespace

    from moldiff.training.train import StepProgressBar

    bar = StepProgressBar()
    bar._trainer = SimpleNamespace(max_steps=1234, max_epochs=-1)
    assert bar.total_train_batches == 1234
    description = bar._get_train_description(0)
    assert "Epoch" not in description and "-2" not in description and "step" in description
