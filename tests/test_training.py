"""Training: every kind learns, models round-trip through their files, runs resume exactly, DDP runs."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import moldiff
from moldiff.chemistry.data import load_split
from moldiff.core.errors import MoldiffError
from moldiff.store.modelfile import CONFIG_FILE, WEIGHTS_FILE
from moldiff.training.train import (
    MODULES,
    StepBatchSampler,
    TrainConfig,
    lr_factor,
    network_config,
    prepare_training_data,
    train,
)

CASES = [("mdlm", None), ("udlm", None), ("ar", None), ("classifier", "mask"), ("classifier", "uniform"), ("classifier", "prefix")]


def _config(molecules: Path, kind: str, process: str | None, out: str, **overrides) -> TrainConfig:
    settings = dict(
        kind=kind, process=process, out=out, preset="tiny", data=str(molecules), targets=["rings"],
        max_steps=150, batch_size=64, lr=3e-3, warmup_steps=10, ema_decay=0.9, val_every=150, checkpoint_every=150,
    )
    return TrainConfig(**{**settings, **overrides})


def _data_loss(config: TrainConfig, network: torch.nn.Module) -> float:
    data = prepare_training_data(config, progress=False)
    module = MODULES[config.kind](config, network_config(config, data.tokenizer, len(data.targets)))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        losses = [module.loss(network, data.train_ids, data.train_labels, generator, train=False)[0] for _ in range(4)]
    return float(torch.stack(losses).mean())


@pytest.mark.parametrize("kind,process", CASES)
def test_tiny_model_of_each_kind_overfits_64_molecules(molecules, kind, process):
    config = _config(molecules, kind, process, f"run-{kind}-{process}")
    data = prepare_training_data(config, progress=False)
    fresh = MODULES[kind](config, network_config(config, data.tokenizer, len(data.targets))).network
    before = _data_loss(config, fresh)
    train(config, progress=False)
    model = moldiff.load(config.out)
    after = _data_loss(config, model.network)
    assert after < 0.5 * before, (kind, process, before, after)
    assert model.kind == kind and model.process == process and model.target_names == ["rings"]
    record = model.config
    assert record["training"]["steps"] == 150
    assert record["training"]["command"].startswith("moldiff train")
    assert record["data"]["train_molecules"] + record["data"]["valid_molecules"] <= 64
    assert record["validation"] == {} and "no validation" in record["data"]["validation"]  # 3 molecules: too few


def test_save_load_round_trip_gives_identical_outputs(molecules):
    config = _config(molecules, "udlm", None, "run", max_steps=5)
    train(config, progress=False)
    model = moldiff.load("run")
    weights = load_file("run/" + WEIGHTS_FILE)
    assert all(torch.equal(weights[k], v) for k, v in model.network.state_dict().items())
    x = torch.randint(model.tokenizer.vocab_size, (3, 32))
    level = torch.tensor([0.2, 0.5, 0.9])
    labels = torch.tensor([[0], [1], [2]])
    with torch.no_grad():
        first = model.network(x, level, labels)
        second = moldiff.load("run").network(x, level, labels)
    assert torch.equal(first, second)
    assert model.tokenizer == moldiff.load("run").tokenizer


def test_export_model_in_half_precision_keeps_the_record_and_is_upcast_on_load(molecules, run_cli):
    config = _config(molecules, "mdlm", None, "run", max_steps=3)
    train(config, progress=False)
    model = moldiff.load("run")
    result = run_cli("export-model", "run", "shipped/half")
    assert "float16" in result.stdout
    half = moldiff.load("shipped/half")
    assert next(half.network.parameters()).dtype == torch.float32
    assert Path("shipped/half", WEIGHTS_FILE).stat().st_size < 0.6 * Path("run", WEIGHTS_FILE).stat().st_size
    kept = ("kind", "targets", "data", "training", "validation", "tokenizer", "network")
    assert {k: half.config[k] for k in kept} == {k: model.config[k] for k in kept}
    assert half.config["weights"]["dtype"] == "float16"
    x = torch.randint(model.tokenizer.vocab_size, (2, 32))
    with torch.no_grad():
        assert torch.allclose(half.network(x), model.network(x), atol=1e-2)
    assert "no model 'nope'" in run_cli("export-model", "nope", "out", expect=2).output


def test_export_model_records_recommended_settings_that_sampling_then_uses(molecules, run_cli):
    train(_config(molecules, "mdlm", None, "run", max_steps=3), progress=False)
    run_cli("export-model", "run", "shipped/rec", "--recommend", "sampler=mdlm, steps=8, top_p=0.9")
    model = moldiff.load("shipped/rec")
    assert model.config["sampling"] == {"sampler": "mdlm", "steps": 8, "top_p": 0.9}
    assert model.sample(2, seed=0, progress=False).options.steps == 8
    run_cli("export-model", "shipped/rec", "shipped/again")  # without --recommend the record travels along
    assert moldiff.load("shipped/again").config["sampling"] == model.config["sampling"]
    assert "unknown recommended sampling setting(s) top_q" in run_cli(
        "export-model", "run", "shipped/bad", "--recommend", "top_q=0.9", expect=2).output
    assert "needs a value" in run_cli("export-model", "run", "shipped/bad", "--recommend", "steps", expect=2).output
    assert not Path("shipped/bad").exists()


def test_damaged_model_files_are_clear_errors_naming_the_file(molecules):
    train(_config(molecules, "ar", None, "run", max_steps=3), progress=False)
    weights = Path("run", WEIGHTS_FILE)
    blob = weights.read_bytes()

    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MoldiffError, match=r"weights\.safetensors.*(corrupted|truncated)"):
        moldiff.load("run")

    flipped = bytearray(blob)
    flipped[-10] ^= 0xFF
    weights.write_bytes(bytes(flipped))
    with pytest.raises(MoldiffError, match="corrupted"):
        moldiff.load("run")

    weights.write_bytes(blob)
    config_path = Path("run", CONFIG_FILE)
    config = json.loads(config_path.read_text())
    config["network"]["hidden"] = 128
    config_path.write_text(json.dumps(config))
    with pytest.raises(MoldiffError, match="network edited since the model was exported"):
        moldiff.load("run")
    config.pop("integrity")  # a config from before checksums: the shapes still catch it
    config_path.write_text(json.dumps(config))
    with pytest.raises(MoldiffError, match="does not match the architecture"):
        moldiff.load("run")

    config_path.write_text("{ not json")
    with pytest.raises(MoldiffError, match="config.json"):
        moldiff.load("run")

    weights.unlink()
    config["network"]["hidden"] = 64
    config_path.write_text(json.dumps(config))
    with pytest.raises(MoldiffError, match="missing weights file"):
        moldiff.load("run")

    with pytest.raises(MoldiffError, match="no model 'nonexistent'"):
        moldiff.load("nonexistent")


def _weights(directory: str) -> dict[str, torch.Tensor]:
    return load_file(str(Path(directory) / WEIGHTS_FILE))


def test_interrupted_run_resumes_exactly(molecules, monkeypatch):
    settings = dict(max_steps=12, checkpoint_every=5, val_every=6, batch_size=16, dropout=0.1)
    train(_config(molecules, "mdlm", None, "straight", **settings), progress=False)

    module_class = MODULES["mdlm"]
    original = module_class.training_step

    def interrupt_at_step_7(self, batch, batch_idx):
        if self.global_step == 7:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    config = _config(molecules, "mdlm", None, "resumed", **settings)
    monkeypatch.setattr(module_class, "training_step", interrupt_at_step_7)
    with pytest.raises(SystemExit):
        train(config, progress=False)
    checkpoint = torch.load("resumed/checkpoints/last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 7
    assert not Path("resumed", WEIGHTS_FILE).exists()

    monkeypatch.setattr(module_class, "training_step", original)
    train(config, resume=True, progress=False)
    straight, resumed = _weights("straight"), _weights("resumed")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert moldiff.load("resumed").config["training"]["steps"] == 12


def test_resume_errors(molecules):
    config = _config(molecules, "mdlm", None, "run", max_steps=2)
    with pytest.raises(MoldiffError, match="nothing to resume"):
        train(config, resume=True, progress=False)
    train(config, progress=False)
    with pytest.raises(MoldiffError, match="already holds a training run"):
        train(config, progress=False)
    other = _config(molecules, "mdlm", None, "run", max_steps=4, preset="small")
    with pytest.raises(MoldiffError, match="preset 'tiny' -> 'small'"):
        train(other, resume=True, progress=False)
    longer = _config(molecules, "mdlm", None, "run", max_steps=4)
    train(longer, resume=True, progress=False)
    assert moldiff.load("run").config["training"]["steps"] == 4


def test_molecules_longer_than_the_model_are_skipped_and_counted(molecules, caplog):
    config = _config(molecules, "ar", None, "run", max_steps=2, max_length=18)
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        data = prepare_training_data(config, progress=False)
    lengths = [len(data.tokenizer.tokenize(s)) for s in load_split("qm9", "train")[:64]]
    too_long = sum(n > 16 for n in lengths)
    assert 0 < too_long < 64
    assert sum(data.record["train_skipped"].values()) + sum(data.record["valid_skipped"].values()) <= too_long
    assert data.record["train_molecules"] + data.record["valid_molecules"] + too_long <= 64
    assert "longer than 16 tokens" in caplog.text


def test_step_batch_sampler_is_a_function_of_the_step():
    full = list(StepBatchSampler(50, 8, seed=3, start_step=0, end_step=20))
    assert list(StepBatchSampler(50, 8, seed=3, start_step=11, end_step=20)) == full[11:]
    step = [4]
    late = StepBatchSampler(50, 8, seed=3, start_step=lambda: step[0], end_step=20)
    step[0] = 13  # read when iteration begins, e.g. after a checkpoint restored the step
    assert list(late) == full[13:] and len(late) == 20
    epoch = [i for batch in full[:7] for i in batch][:50]
    assert sorted(epoch) == list(range(50))  # each epoch is a permutation
    rank0 = list(StepBatchSampler(50, 4, seed=3, start_step=0, end_step=20, rank=0, world_size=2))
    rank1 = list(StepBatchSampler(50, 4, seed=3, start_step=0, end_step=20, rank=1, world_size=2))
    assert [a + b for a, b in zip(rank0, rank1)] == full


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100) == pytest.approx(0.1)
    values = [lr_factor(s, 10, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_bad_training_settings_are_clear_errors(molecules):
    with pytest.raises(MoldiffError, match="unknown model kind"):
        TrainConfig(kind="gan", out="x")
    with pytest.raises(MoldiffError, match="unknown preset"):
        TrainConfig(kind="mdlm", out="x", preset="huge")
    with pytest.raises(MoldiffError, match="unknown representation"):
        TrainConfig(kind="mdlm", out="x", representation="inchi")
    with pytest.raises(MoldiffError, match="process"):
        TrainConfig(kind="classifier", out="x", targets=["rings"], process="gaussian")
    with pytest.raises(MoldiffError, match="unknown target"):
        prepare_training_data(_config(molecules, "mdlm", None, "x", targets=["nope"]), progress=False)


@pytest.mark.parametrize("args,message", [
    (["train", "--kind", "gan"], "'gan' is not one of"),
    (["train", "--kind", "mdlm", "--preset", "huge"], "unknown preset 'huge'"),
    (["train", "--kind", "mdlm", "--representation", "inchi"], "unknown representation 'inchi'"),
    (["train", "--kind", "mdlm", "--targets", "nope"], "unknown target 'nope'"),
    (["train", "--kind", "mdlm", "--resume"], "nothing to resume"),
    (["train-classifier", "--target", "rings", "--process", "gaussian"], "'gaussian' is not one of"),
    (["train-classifier", "--target", "rings", "--process", "mask", "--sampled", "nope.csv"], "'nope.csv' does not exist"),
    (["train-classifier", "--target", "rings", "--process", "mask", "--perturbed", "-1"], "-1 is not in the range x>=0"),
])
def test_cli_training_bad_input_is_one_line_exit_2(args, message):
    moldiff_script = Path(sys.executable).with_name("moldiff")
    result = subprocess.run([str(moldiff_script), *args, "--out", "run"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.stderr
    assert not Path("run", WEIGHTS_FILE).exists()


def test_two_process_cpu_ddp_trains_and_exports(molecules):
    moldiff_script = Path(sys.executable).with_name("moldiff")
    result = subprocess.run(
        [str(moldiff_script), "train", "--kind", "mdlm", "--preset", "tiny", "--data", str(molecules), "--max-steps", "4",
         "--batch-size", "8", "--val-every", "2", "--checkpoint-every", "2", "--accelerator", "cpu", "--devices", "2",
         "--strategy", "ddp", "--out", "ddp"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model = moldiff.load("ddp")
    assert model.config["training"]["batch_size"] == 16
    assert model.config["training"]["hardware"].startswith("2 x CPU")
    assert result.stdout.count("model -> ddp") == 1


# --- warm starts, label dropout, loss weighting ------------------------------------------------
def test_warm_start_continues_the_weights_and_records_every_stage(molecules):
    first = _config(molecules, "mdlm", None, "first", max_steps=6, val_every=6, checkpoint_every=6)
    train(first, progress=False)
    Path("first-model").mkdir()  # a model directory: config and weights, no checkpoints
    for name in ("config.json", WEIGHTS_FILE):
        shutil.copy(Path("first", name), Path("first-model", name))
    # With a negligible learning rate the second stage cannot move the weights: a warm start exports
    # the first stage's weights, a cold start its own fresh initial weights.
    frozen = dict(max_steps=3, val_every=3, checkpoint_every=3, lr=1e-12, seed=1)
    train(_config(molecules, "mdlm", None, "warm", init_from="first-model", **frozen), progress=False)
    train(_config(molecules, "mdlm", None, "cold", **frozen), progress=False)
    source, warm, cold = _weights("first"), _weights("warm"), _weights("cold")
    assert all(torch.allclose(source[k], warm[k], atol=1e-8) for k in source)
    assert not all(torch.allclose(source[k], cold[k], atol=1e-3) for k in source)

    training = moldiff.load("warm").config["training"]
    assert training["steps"] == 9
    assert [s["steps"] for s in training["stages"]] == [6, 3]
    assert [s["init_from"] for s in training["stages"]] == [None, "first-model"]
    assert "--init-from first-model" in training["stages"][1]["command"] and "--init-from" not in training["stages"][0]["command"]
    assert training["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in training["stages"]), abs=0.2)
    assert all(s["hardware"].endswith(")") for s in training["stages"])

    # A run directory (its checkpoint) works too, and a third stage keeps the first two.
    train(_config(molecules, "mdlm", None, "third", init_from="warm", **frozen), progress=False)
    stages = moldiff.load("third").config["training"]["stages"]
    assert [s["steps"] for s in stages] == [6, 3, 3] and stages[2]["init_from"] == "warm"
    assert all(torch.allclose(source[k], v, atol=1e-8) for k, v in _weights("third").items())
    from moldiff.store.modelcard import render_card

    card = render_card("third", "third")
    assert "12 steps in 3 stages" in card
    positions = [card.index(s["command"]) for s in stages]
    assert positions == sorted(positions)  # the card reproduces every stage, in order


def test_warm_start_errors_are_one_line(molecules, run_cli):
    train(_config(molecules, "mdlm", None, "first", max_steps=2, val_every=2, checkpoint_every=2), progress=False)
    with pytest.raises(MoldiffError, match="no model 'missing'"):
        train(_config(molecules, "mdlm", None, "run", max_steps=2, init_from="missing"), progress=False)
    with pytest.raises(MoldiffError, match="cannot warm-start from first: .*preset 'tiny' -> 'compact'"):
        train(_config(molecules, "mdlm", None, "run", max_steps=2, preset="compact", init_from="first"), progress=False)
    Path("broken/checkpoints").mkdir(parents=True)
    Path("broken/checkpoints/last.ckpt").write_bytes(b"not a checkpoint")
    result = run_cli("train", "--kind", "mdlm", "--data", str(molecules), "--preset", "tiny", "--max-steps", "2",
                     "--init-from", "broken", "--out", "run2", expect=2)
    assert "not a readable moldiff checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_all_label_dropout_nulls_whole_rows_and_leaves_old_runs_replayable(molecules):
    config = _config(molecules, "mdlm", None, "run", targets=["rings", "qed"], label_dropout=0.0, label_dropout_all=0.5)
    data = prepare_training_data(config, progress=False)
    module = MODULES["mdlm"](config, network_config(config, data.tokenizer, 2))
    labels = torch.zeros(4000, 2, dtype=torch.long)
    dropped = module.drop_labels(labels, torch.Generator().manual_seed(0)) == torch.tensor(module.network.null_labels)
    assert torch.equal(dropped[:, 0], dropped[:, 1])  # all or nothing
    assert 0.45 < dropped[:, 0].float().mean() < 0.55
    # Without the all-label dropout no extra random numbers are drawn: a run recorded before the
    # option existed (label_dropout_all 0) replays exactly.
    legacy = _config(molecules, "mdlm", None, "run", targets=["rings", "qed"], label_dropout_all=0.0)
    old = MODULES["mdlm"](legacy, network_config(legacy, data.tokenizer, 2))
    used, replay = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    dropped = old.drop_labels(labels, used) == torch.tensor(old.network.null_labels)
    assert torch.equal(dropped, torch.rand(labels.shape, generator=replay) < 0.1)
    assert torch.equal(used.get_state(), replay.get_state())


def test_cross_entropy_weighting_is_the_elbo_without_its_time_weight(molecules):
    from moldiff.diffusion.processes import get_schedule, masked_cross_entropy, mdlm_loss

    schedule = get_schedule("loglinear")
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(4, 20, (8, 12), generator=generator)
    z = torch.where(torch.rand(8, 12, generator=generator) < 0.5, torch.full_like(x, 3), x)
    log_x = torch.randn(8, 12, 20, generator=generator).log_softmax(-1)
    t = torch.rand(8, generator=generator)
    weight = -schedule.dalpha(t) / (1 - schedule.alpha(t))
    assert torch.allclose(mdlm_loss(log_x, x, z, t, schedule, 3), weight * masked_cross_entropy(log_x, x, z, 3))
    train(_config(molecules, "mdlm", None, "ce", max_steps=3, val_every=3, checkpoint_every=3, loss_weighting="ce"), progress=False)
    assert "--loss-weighting ce" in moldiff.load("ce").config["training"]["command"]
    with pytest.raises(MoldiffError, match="applies to mdlm only"):
        _config(molecules, "ar", None, "x", loss_weighting="ce")


def test_randomized_smiles_add_other_atom_orders_of_the_same_molecules(molecules):
    from moldiff.chemistry.molecules import canonical_smiles

    plain = prepare_training_data(_config(molecules, "mdlm", None, "run"), progress=False)
    augmented = prepare_training_data(_config(molecules, "mdlm", None, "run", randomized_smiles=2), progress=False)
    n = len(plain.train_ids)
    assert augmented.train_ids.shape == (3 * n, plain.train_ids.shape[1])
    assert torch.equal(augmented.train_ids[:n], plain.train_ids)
    assert torch.equal(augmented.train_labels, plain.train_labels.repeat(3, 1))
    assert torch.equal(augmented.valid_ids, plain.valid_ids)  # validation stays canonical
    decode = lambda row: plain.tokenizer.decode(row).smiles  # noqa: E731
    for i in range(n):
        variants = [decode(augmented.train_ids[i + j * n]) for j in range(3)]
        assert len({canonical_smiles(v) for v in variants}) == 1
    assert sum(decode(augmented.train_ids[i]) != decode(augmented.train_ids[i + n]) for i in range(n)) > n // 2
    again = prepare_training_data(_config(molecules, "mdlm", None, "run", randomized_smiles=2), progress=False)
    assert torch.equal(again.train_ids, augmented.train_ids)  # seeded


def test_sampled_validity_is_logged_along_the_way_and_leaves_training_unchanged(tmp_path):
    molecules = tmp_path / "mols.smi"
    molecules.write_text("\n".join(load_split("qm9", "train")[:400]) + "\n")  # 20 validation molecules
    settings = dict(max_steps=4, val_every=2, checkpoint_every=4, batch_size=16)
    train(_config(molecules, "mdlm", None, "plain", **settings), progress=False)
    train(_config(molecules, "mdlm", None, "sampled", val_samples=8, **settings), progress=False)
    assert load_file("plain/" + WEIGHTS_FILE).keys() == load_file("sampled/" + WEIGHTS_FILE).keys()
    for key, value in load_file("plain/" + WEIGHTS_FILE).items():  # sampling draws from its own random state
        assert torch.equal(value, load_file("sampled/" + WEIGHTS_FILE)[key]), key
    import pandas as pd

    log = pd.read_csv("sampled/logs/version_0/metrics.csv").dropna(subset=["val/validity"])
    assert sorted(set(log["step"])) == [1, 3, 4] and log["val/validity"].between(0, 1).all()
    assert "val/validity" not in pd.read_csv("plain/logs/version_0/metrics.csv")
    model = moldiff.load("sampled")  # the last value is what sampling the exported model gives
    table = model.sample(8, seed=0, progress=False).table
    assert model.config["validation"]["validity"] == pytest.approx(table["valid"].mean())
    assert model.config["validation"]["novelty"] == pytest.approx(table["novel"].mean())
    with pytest.raises(MoldiffError, match="samples nothing"):
        TrainConfig(kind="classifier", process="mask", targets=["rings"], out="x", val_samples=8)


def test_validation_noise_is_the_same_in_every_run_whatever_its_seed(molecules):
    """Validation draws its noise independently of the run's seed, so runs and training stages
    compare paired (one draw's mean moves by up to ~0.5 nats on QM9)."""
    logged = {}
    for seed in (0, 1):
        config = _config(molecules, "mdlm", None, "run", seed=seed)
        data = prepare_training_data(config, progress=False)
        module = MODULES["mdlm"](config, network_config(config, data.tokenizer, len(data.targets)))
        if seed == 0:
            weights = module.ema_network.state_dict()
        module.ema_network.load_state_dict(weights)
        values = logged.setdefault(seed, {})
        module.log = lambda key, value, **_: values.__setitem__(key, float(value))
        with torch.no_grad():
            module.validation_step((data.train_ids[:32], data.train_labels[:32]), batch_idx=0)
    assert logged[0]["val/nll"] == logged[1]["val/nll"] > 0


def test_sampled_molecules_join_the_training_split_as_sampled_with_oracle_labels(molecules, tmp_path):
    from moldiff.chemistry.data import load_sampled

    sampled = tmp_path / "cbg.csv"  # the columns of `moldiff sample --out FILE.csv` that matter
    sampled.write_text("raw,valid,smiles,rings\n"
                       "OCC,True,CCO,0\n"                             # non-canonical: kept as written
                       "C1CC1C1CC1C1CC1C1CC1,True,C1CC1C1CC1C1CC1C1CC1,4\n"
                       "C1CC,False,,\n"                               # invalid: skipped
                       "CCCl,True,CCCl,0\n")                          # Cl is outside the vocabulary: skipped, counted
    plain = prepare_training_data(_config(molecules, "classifier", "mask", "run"), progress=False)
    config = _config(molecules, "classifier", "mask", "run", sampled=[str(sampled)], sampled_repeat=3)
    data = prepare_training_data(config, progress=False)
    n = len(plain.train_ids)
    assert torch.equal(data.train_ids[:n], plain.train_ids) and torch.equal(data.valid_ids, plain.valid_ids)
    added = data.train_ids[n:]
    assert len(added) == 6
    assert [data.tokenizer.decode(row).text for row in added[:2]] == ["OCC", "C1CC1C1CC1C1CC1C1CC1"]
    assert torch.equal(added, added[:2].repeat(3, 1))
    assert data.train_labels[n:, 0].tolist() == [0, 1] * 3  # rings > 3 from the oracle, not the file's column
    (entry,) = data.record["sampled"]
    assert entry["molecules"] == 2 and entry["repeat"] == 3 and entry["invalid_skipped"] == 1
    assert entry["skipped"] == {"token outside the vocabulary": 1} and entry["positive_fraction"] == {"rings": 0.5}
    assert data.record["positive_fraction"] == plain.record["positive_fraction"]  # of the data set alone
    assert "--sampled " + str(sampled) in config.command() and "--sampled-repeat 3" in config.command()
    assert len(load_sampled(sampled, data.tokenizer)) == 2

    (tmp_path / "bad.csv").write_text("smiles\nCCO\n")
    (tmp_path / "none.csv").write_text("raw,valid,smiles\nCCCl,True,CCCl\n")
    for path, message in (("bad.csv", "lacks the column"), ("none.csv", "none of its 1 rows"), ("missing.csv", "cannot read")):
        with pytest.raises(MoldiffError, match=message):
            prepare_training_data(_config(molecules, "classifier", "mask", "run", sampled=[str(tmp_path / path)]), progress=False)
    with pytest.raises(MoldiffError, match="applies to classifiers"):
        _config(molecules, "mdlm", None, "run", sampled=[str(sampled)])


def test_train_molecules_draws_a_seeded_sample_of_the_train_split_and_leaves_validation_alone(molecules):
    whole = prepare_training_data(_config(molecules, "mdlm", None, "run"), progress=False)
    rows = {tuple(row) for row in whole.train_ids.tolist()}
    sample = prepare_training_data(_config(molecules, "mdlm", None, "run", train_molecules=20), progress=False)
    assert len(sample.train_ids) == 20 and {tuple(row) for row in sample.train_ids.tolist()} <= rows
    assert sample.record["train_sample"] == {"molecules": 20, "seed": 0}
    assert torch.equal(sample.valid_ids, whole.valid_ids)
    again = prepare_training_data(_config(molecules, "mdlm", None, "run", train_molecules=20), progress=False)
    assert torch.equal(again.train_ids, sample.train_ids) and torch.equal(again.train_labels, sample.train_labels)
    other = prepare_training_data(_config(molecules, "mdlm", None, "run", train_molecules=20, seed=1), progress=False)
    assert not torch.equal(other.train_ids, sample.train_ids)
    everything = prepare_training_data(_config(molecules, "mdlm", None, "run", train_molecules=10**6), progress=False)
    assert torch.equal(everything.train_ids, whole.train_ids)
    config = _config(molecules, "mdlm", None, "run", train_molecules=20)
    assert "--train-molecules 20" in config.command()
    with pytest.raises(MoldiffError, match="train_molecules must be at least 0"):
        _config(molecules, "mdlm", None, "x", train_molecules=-1)


def test_cpu_training_takes_moldiff_threads_when_set_else_the_cores_shared_among_its_processes(monkeypatch):
    from moldiff.core.parallel import available_cpus
    from moldiff.training.train import cpu_training_threads

    monkeypatch.delenv("MOLDIFF_THREADS", raising=False)
    assert cpu_training_threads(1) == available_cpus()
    assert cpu_training_threads(available_cpus() * 2) == 1
    monkeypatch.setenv("MOLDIFF_THREADS", "1")
    assert cpu_training_threads(1) == 1
    monkeypatch.setenv("MOLDIFF_THREADS", "0")
    with pytest.raises(MoldiffError, match="MOLDIFF_THREADS"):
        cpu_training_threads(1)
