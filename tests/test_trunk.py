"""A classifier's trunk from a denoiser: the shared weights, the conditioning, the record, the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import moldiff
from moldiff.core.errors import MoldiffError
from moldiff.training.config import TrainConfig
from moldiff.training.train import network_config, prepare_training_data, train
from moldiff.training.trunk import TRUNK_MODULES, transfer_trunk

PROCESS_OF = {"mdlm": "mask", "udlm": "uniform"}


def _config(molecules: Path, kind: str, out: str, **overrides) -> TrainConfig:
    settings = dict(kind=kind, out=out, preset="tiny", data=str(molecules), targets=["rings"], max_steps=6, batch_size=32,
                    lr=3e-3, warmup_steps=2, ema_decay=0.9, val_every=6, checkpoint_every=6)
    if kind == "classifier":
        settings["process"] = "mask"
    return TrainConfig(**{**settings, **overrides})


@pytest.mark.parametrize("kind", ["mdlm", "udlm"])
def test_the_classifier_starts_with_the_denoisers_trunk_and_unconditional_conditioning(molecules, kind):
    train(_config(molecules, kind, "denoiser"), progress=False)
    denoiser = moldiff.load("denoiser").network
    config = _config(molecules, "classifier", "c", process=PROCESS_OF[kind])
    data = prepare_training_data(config, progress=False)
    torch.manual_seed(0)
    classifier = moldiff.diffusion.networks.Transformer(network_config(config, data.tokenizer, 1))
    fresh_head = classifier.out.weight.clone()
    transfer_trunk(classifier, PROCESS_OF[kind], "denoiser", data.tokenizer)

    theirs, ours = denoiser.state_dict(), classifier.state_dict()
    shared = [k for k in ours if k.split(".")[0] in TRUNK_MODULES]
    assert len(shared) > 10 and all(torch.equal(ours[k], theirs[k].float()) for k in shared)
    assert torch.equal(classifier.out.weight, fresh_head)  # the class head is not the token head
    levels = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    # before training, the classifier's conditioning at every noise level is the denoiser's unconditional one
    expected = denoiser.condition(5, torch.device("cpu"), levels if kind == "udlm" else None, None).float()
    assert torch.allclose(classifier.condition(5, torch.device("cpu"), levels, None), expected, atol=1e-6)


def test_trunk_from_trains_a_classifier_from_the_denoiser_and_records_it(molecules):
    train(_config(molecules, "mdlm", "denoiser"), progress=False)
    # a negligible learning rate keeps the transferred weights: the export shows them
    train(_config(molecules, "classifier", "c", trunk_from="denoiser", lr=1e-12, max_steps=3, val_every=3), progress=False)
    train(_config(molecules, "classifier", "cold", lr=1e-12, max_steps=3, val_every=3), progress=False)
    denoiser, warm, cold = (moldiff.load(name).network.state_dict() for name in ("denoiser", "c", "cold"))
    blocks = [k for k in warm if k.startswith("blocks.")]
    assert all(torch.allclose(warm[k], denoiser[k], atol=1e-3) for k in blocks)  # float16 export
    assert not all(torch.allclose(cold[k], denoiser[k], atol=1e-3) for k in blocks)
    training = moldiff.load("c").config["training"]
    assert "--trunk-from denoiser" in training["command"] and training["steps"] == 3  # its own steps only
    from moldiff.store.modelcard import render_card

    assert "| Trunk | token embedding and transformer blocks started from the denoiser `denoiser`" in render_card("c", "c")


def test_trunk_from_errors_are_one_line(molecules, run_cli):
    train(_config(molecules, "mdlm", "denoiser"), progress=False)
    train(_config(molecules, "classifier", "classifier"), progress=False)
    for source, overrides, message in (
        ("classifier", {}, "it is a classifier model; a mask classifier starts from a mdlm denoiser"),
        ("denoiser", {"process": "uniform"}, "it is a mdlm model; a uniform classifier starts from a udlm denoiser"),
        ("denoiser", {"preset": "compact"}, "does not fit this classifier (layers"),
        ("denoiser", {"representation": "selfies"}, "another vocabulary"),
        ("missing", {}, "no model 'missing'"),
    ):
        with pytest.raises(MoldiffError, match=message.replace("(", r"\(")):
            train(_config(molecules, "classifier", "run", trunk_from=source, **overrides), progress=False)
    with pytest.raises(MoldiffError, match="noisy-input classifiers"):
        _config(molecules, "classifier", "run", process="prefix", trunk_from="denoiser")
    with pytest.raises(MoldiffError, match="noisy-input classifiers"):
        _config(molecules, "mdlm", "run", trunk_from="denoiser")
    with pytest.raises(MoldiffError, match="give only one"):
        _config(molecules, "classifier", "run", trunk_from="denoiser", init_from="classifier")
    result = run_cli("train-classifier", "--target", "rings", "--process", "mask", "--data", str(molecules), "--preset",
                     "tiny", "--max-steps", "2", "--trunk-from", "classifier", "--out", "run2", expect=2)
    error = result.stderr.strip().splitlines()[-1]  # after the small data set's validation warning
    assert "Traceback" not in result.stderr and error.startswith("Error: --trunk-from classifier: it is a classifier model")


def test_a_classifier_on_a_file_reads_its_trunks_vocabulary(molecules, tmp_path):
    """A classifier trained on the user's own molecules guides the trunk's denoiser, so it keeps that
    denoiser's vocabulary even where the file uses fewer tokens (its own vocabulary would not fit)."""
    train(_config(molecules, "mdlm", "denoiser"), progress=False)
    lines = molecules.read_text().splitlines()
    few = tmp_path / "few.smi"
    few.write_text("\n".join([line for line in lines if "(" not in line and "=" not in line]) + "\n")
    own = prepare_training_data(_config(few, "classifier", "own"), progress=False).tokenizer
    denoiser = moldiff.load("denoiser").tokenizer
    assert len(own.tokens) < len(denoiser.tokens)  # the file alone would give a smaller vocabulary
    train(_config(few, "classifier", "c", trunk_from="denoiser", max_steps=2, val_every=2), progress=False)
    assert list(moldiff.load("c").tokenizer.tokens) == list(denoiser.tokens)
