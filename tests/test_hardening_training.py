"""Issue 29 (Hardening II), training: checkpoints are never unpickled, --out is not silently replaced,
Lightning options and run files are checked before any work, interrupted runs exit 130 / 143.

Each test names the item of the issue it covers. Models are tiny and trained for a few steps.
"""

from __future__ import annotations

import builtins
import json
import re
import shutil
import signal
from pathlib import Path

import pytest
import torch

import moldiff
from moldiff.chemistry.data import load_split
from moldiff.store.modelfile import CONFIG_FILE, WEIGHTS_FILE
from moldiff.training.config import TRAIN_CONFIG_FILE, TrainConfig
from moldiff.training.train import MODULES, train

FEW = {"preset": "tiny", "max_steps": 3, "batch_size": 16, "warmup_steps": 1, "val_every": 3, "checkpoint_every": 3}
PACKAGE = Path(moldiff.__file__).parent


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished tiny MDLM run (3 steps) and the molecule file it was trained on."""
    root = tmp_path_factory.mktemp("hardening-training")
    data = root / "mols.smi"
    data.write_text("\n".join(load_split("qm9", "train")[:400]) + "\n")
    train(TrainConfig(kind="mdlm", out=str(root / "run"), data=str(data), **FEW), progress=False)
    return root / "run", data


def _args(data: Path, out: str, *extra: str, **changed: object) -> list[str]:
    """``train`` arguments that reproduce the fixture's run into ``out`` (``changed`` overrides FEW)."""
    settings = {**FEW, **changed}
    options = [word for key, value in settings.items() for word in (f"--{key.replace('_', '-')}", str(value))]
    return ["train", "--kind", "mdlm", "--data", str(data), *options, *extra, "--out", out]


def _one_line_error(result, *expected: str) -> str:
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert all(text in lines[0] for text in expected), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


class _Payload:
    """Unpickling this creates ``marker`` (as a malicious checkpoint would run a command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def _malicious_checkpoint(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": 3, "state_dict": {}, "moldiff": {}, "payload": _Payload(marker)}, path)


def _copy_run(run: Path, to: str) -> Path:
    shutil.copytree(run, to)
    return Path(to)


# --- 1: nothing a user hands us is unpickled -------------------------------------------------------
def test_1_init_from_a_model_directory_reads_its_safetensors_and_never_its_checkpoint(finished, run_cli):
    run, data = finished
    model = Path("model")
    model.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copy(run / name, model / name)
    marker = Path("marker").resolve()
    _malicious_checkpoint(model / "checkpoints" / "last.ckpt", marker)
    run_cli(*_args(data, "warm", "--init-from", "model"))
    assert not marker.exists()
    assert [s["init_from"] for s in moldiff.load("warm").config["training"]["stages"]] == [None, "model"]


@pytest.mark.parametrize("how", ["init-from", "resume"])
def test_1_a_checkpoint_that_needs_unpickling_is_refused_without_running_it(finished, run_cli, how):
    run, data = finished
    marker = Path("marker").resolve()
    if how == "init-from":  # an unfinished run: a checkpoint and nothing else
        _malicious_checkpoint(Path("src/checkpoints/last.ckpt"), marker)
        result = run_cli(*_args(data, "out", "--init-from", "src"), expect=2)
    else:
        _malicious_checkpoint(_copy_run(run, "out") / "checkpoints" / "last.ckpt", marker)
        result = run_cli(*_args(data, "out", "--resume"), expect=2)
    _one_line_error(result, "last.ckpt", "not unpickle")
    assert not marker.exists()


def test_1_resume_loads_every_checkpoint_without_unpickling(finished, monkeypatch):
    run, data = finished
    _copy_run(run, "out")
    loads: list[object] = []
    original = torch.load

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    train(TrainConfig(kind="mdlm", out="out", data=str(data), **{**FEW, "max_steps": 4}), resume=True, progress=False)
    assert moldiff.load("out").config["training"]["steps"] == 4
    assert len(loads) >= 2 and all(value is True for value in loads), loads  # ours and Lightning's


def test_1_package_sources_neither_unpickle_nor_eval():
    forbidden = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\b|allow_pickle\s*=\s*True|(?<![\w.])(?:eval|exec)\s*\(")
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}" for path in sorted(PACKAGE.rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert not found, "\n".join(found)


# --- 5: an existing model in --out is not replaced silently ------------------------------------------
def test_5_train_refuses_an_out_holding_a_model_unless_forced_and_leaves_no_stale_card(finished, run_cli):
    run, data = finished
    run_cli("export-model", run, "mine")
    weights = Path("mine", WEIGHTS_FILE).read_bytes()
    card = Path("mine/README.md").read_text()
    _one_line_error(run_cli(*_args(data, "mine", seed="5"), expect=2), "mine", "--force")
    assert Path("mine", WEIGHTS_FILE).read_bytes() == weights and Path("mine/README.md").read_text() == card
    run_cli(*_args(data, "mine", "--force", seed="5"))
    assert moldiff.load("mine").config["training"]["config"]["seed"] == 5
    assert not Path("mine/README.md").exists()  # the card described the model that was replaced


def test_5_other_files_in_out_are_refused_and_force_is_an_option_of_both_commands(finished, run_cli):
    _, data = finished
    Path("out").mkdir()
    Path("out/notes.txt").write_text("mine")
    _one_line_error(run_cli(*_args(data, "out"), expect=2), "out", "not empty", "--force")
    assert sorted(p.name for p in Path("out").iterdir()) == ["notes.txt"]
    _one_line_error(run_cli(*_args(data, "out", "--resume", "--force"), expect=2), "--resume", "--force")
    for command in ("train", "train-classifier"):
        assert "--force" in run_cli(command, "--help").stdout


def test_5_a_finished_run_is_refused_unless_resumed_or_forced(finished, run_cli):
    run, data = finished
    _copy_run(run, "out")
    _one_line_error(run_cli(*_args(data, "out"), expect=2), "--resume", "--force")
    run_cli(*_args(data, "out", "--force", seed="2"))
    seed = torch.load("out/checkpoints/last.ckpt", weights_only=True)["moldiff"]["train_config"]["seed"]
    assert seed == 2 and sorted(p.name for p in Path("out/checkpoints").iterdir()) == ["last.ckpt", "step=3.ckpt"]


# --- 9: Lightning options, --out and the checkpoint are checked before any work --------------------
@pytest.mark.parametrize("args,flag", [(["--accelerator", "tpu"], "--accelerator tpu"), (["--strategy", "bogus"], "--strategy bogus"),
                                       (["--precision", "bogus"], "--precision bogus"), (["--devices", "0"], "--devices 0"),
                                       (["--devices", "abc"], "--devices abc"), (["--num-nodes", "0"], "--num-nodes 0")])
def test_9_bad_lightning_options_are_one_line_errors_before_the_data_is_read(run_cli, args, flag):
    result = run_cli(*_args(Path("no-such-data.smi"), "run", *args), expect=2)
    _one_line_error(result, flag)
    assert not Path("run").exists()


def test_9_out_that_is_a_file_is_a_one_line_error(run_cli):
    Path("afile").write_text("keep me")
    _one_line_error(run_cli(*_args(Path("no-such-data.smi"), "afile"), expect=2), "afile is a file")
    assert Path("afile").read_text() == "keep me"


def test_9_resume_from_a_truncated_checkpoint_is_a_one_line_error(finished, run_cli):
    run, data = finished
    checkpoint = _copy_run(run, "out") / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    _one_line_error(run_cli(*_args(data, "out", "--resume"), expect=2), "last.ckpt", "damaged")


# --- 13: a hand-edited train_config.json --------------------------------------------------------------
@pytest.mark.parametrize("edit", [lambda c: [c], lambda c: "mdlm", lambda c: None, lambda c: 3,
                                  lambda c: {"kind": "mdlm"}, lambda c: {**c, "colour": "blue"},
                                  lambda c: {**c, "batch_size": "16"}],
                         ids=["list", "string", "null", "number", "missing", "unknown", "type"])
def test_13_a_malformed_train_config_is_a_one_line_error(finished, run_cli, edit):
    run, data = finished
    path = _copy_run(run, "out") / TRAIN_CONFIG_FILE
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    _one_line_error(run_cli(*_args(data, "out", "--resume"), expect=2), TRAIN_CONFIG_FILE)


def test_13_a_checkpoint_with_a_malformed_record_is_a_one_line_error(finished, run_cli):
    run, data = finished
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    state["moldiff"]["train_config"] = [state["moldiff"]["train_config"]]
    Path("src/checkpoints").mkdir(parents=True)
    torch.save(state, "src/checkpoints/last.ckpt")
    _one_line_error(run_cli(*_args(data, "out", "--init-from", "src"), expect=2), "last.ckpt")


# --- 20: interrupted runs exit 130 (Ctrl-C) or 143 (SIGTERM), checkpointed, with their log rows ----------
@pytest.mark.parametrize("stop,code,said", [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "stopped by SIGTERM")])
def test_20_an_interrupted_run_exits_130_or_143_keeps_its_checkpoint_and_log_rows(finished, run_cli, monkeypatch, stop, code, said):
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    _, data = finished
    module_class = MODULES["mdlm"]
    original = module_class.training_step

    def stop_at_step_6(self, batch, batch_idx):
        if self.global_step == 6:
            raise KeyboardInterrupt if stop == "ctrl-c" else SIGTERMException
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_class, "training_step", stop_at_step_6)
    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C while it shuts down
    try:
        result = run_cli(*_args(data, "run", max_steps=12, val_every=4, checkpoint_every=12), expect=code)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert f"{said} at step 6" in result.stderr and "--resume" in result.stderr
    assert torch.load("run/checkpoints/last.ckpt", weights_only=True)["global_step"] == 6
    header, *rows = Path("run/logs/version_0/metrics.csv").read_text().splitlines()
    step = header.split(",").index("step")
    assert any(row.split(",")[step] == "3" for row in rows), rows  # the validation at step 4, before any periodic flush
