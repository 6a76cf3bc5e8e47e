"""Commands that train: ``train`` (denoisers) and ``train-classifier`` (guidance classifiers)."""

from __future__ import annotations

from pathlib import Path

import click

from moldiff.cli.app import cli


# --- training ----------------------------------------------------------------------------
def _training_options(function):
    """Options shared by `train` and `train-classifier` (defaults from TrainConfig)."""
    from moldiff.training.config import TrainConfig

    defaults = {f.name: f.default for f in TrainConfig.__dataclass_fields__.values()}
    options = [
        click.option("--representation", default=defaults["representation"], show_default=True, help="smiles or selfies."),
        click.option("--preset", default=defaults["preset"], show_default=True, help="Network size: tiny, compact (0.3M), medium (1.2M), small (6M), base (92M, GPU)."),
        click.option("--data", default=defaults["data"], show_default=True, help="qm9 or a molecule file (split 90/5/5, test held out)."),
        click.option("--train-molecules", type=click.IntRange(min=0), default=defaults["train_molecules"], show_default=True, help="Train on a sample of N molecules of the train split, drawn with --seed (0: all); only they are tokenized and labelled."),
        click.option("--max-steps", type=click.IntRange(min=1), default=defaults["max_steps"], show_default=True, help="Optimiser steps (may be raised when resuming)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=defaults["batch_size"], show_default=True, help="Molecules per step per device; memory grows linearly with it (base preset: 256 fits 16 GB of GPU memory in bf16)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=defaults["lr"], show_default=True, help="Peak learning rate (AdamW)."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=defaults["weight_decay"], show_default=True),
        click.option("--warmup-steps", type=click.IntRange(min=0), default=defaults["warmup_steps"], show_default=True, help="Linear warm-up, then cosine decay to 10%."),
        click.option("--grad-clip", type=click.FloatRange(min=0), default=defaults["grad_clip"], show_default=True),
        click.option("--ema-decay", type=click.FloatRange(0, 1, max_open=True), default=defaults["ema_decay"], show_default=True),
        click.option("--label-dropout", type=click.FloatRange(0, 1, max_open=True), default=defaults["label_dropout"], show_default=True, help="Probability of the null label per target (classifier-free guidance)."),
        click.option("--label-dropout-all", type=click.FloatRange(0, 1, max_open=True), default=defaults["label_dropout_all"], show_default=True, help="Probability of nulling all of a molecule's labels together (trains the unconditional mode)."),
        click.option("--loss-weighting", type=click.Choice(["elbo", "ce"]), default=defaults["loss_weighting"], show_default=True, help="MDLM loss: the ELBO (1/t weight) or plain cross-entropy on masked tokens."),
        click.option("--randomized-smiles", type=click.IntRange(min=0), default=defaults["randomized_smiles"], show_default=True, help="Add K randomized (non-canonical) atom orders of each training molecule."),
        click.option("--init-from", default=None, help="Warm-start network and EMA from a model (directory or name) or a run directory; the record keeps every stage."),
        click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=defaults["dropout"], show_default=True),
        click.option("--schedule", default=defaults["schedule"], show_default=True, help="Noise schedule: loglinear or linear."),
        click.option("--max-length", type=int, default=defaults["max_length"], show_default=True, help="Tokens per sequence incl. <bos>/<eos>; longer molecules are skipped."),
        click.option("--seed", type=int, default=defaults["seed"], show_default=True),
        click.option("--val-every", type=click.IntRange(min=1), default=defaults["val_every"], show_default=True, help="Validate every N steps."),
        click.option("--checkpoint-every", type=click.IntRange(min=1), default=defaults["checkpoint_every"], show_default=True, help="Checkpoint every N steps."),
        click.option("--val-molecules", type=click.IntRange(min=1), default=defaults["val_molecules"], show_default=True, help="Validation molecules used."),
        click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory; the trained model is exported into it."),
        click.option("--resume", is_flag=True, help="Continue the interrupted run in --out exactly."),
        click.option("--force", is_flag=True, help="Replace the run or model already in --out (its run and model files and card; other files are left alone)."),
        click.option("--accelerator", default="auto", show_default=True, help="Lightning accelerator: auto, cpu, gpu. On CPU a run takes every core; $MOLDIFF_THREADS=N limits it (training beside other work)."),
        click.option("--devices", default="auto", show_default=True, help="Lightning devices: auto, a count, or a list like 0,1."),
        click.option("--num-nodes", type=int, default=1, show_default=True, help="Nodes for multi-node DDP."),
        click.option("--strategy", default="auto", show_default=True, help="Lightning strategy, e.g. ddp."),
        click.option("--precision", default=None, help="Lightning precision [default: bf16-mixed on GPU, 32-true on CPU]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _run_training(kind: str, process: str | None, targets: list[str], options: dict) -> None:
    from moldiff.training.config import TrainConfig
    from moldiff.training.train import train

    lightning = {k: options.pop(k) for k in ("resume", "force", "accelerator", "devices", "num_nodes", "strategy", "precision")}
    devices = lightning["devices"]
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    config = TrainConfig(kind=kind, process=process, targets=targets, **{**options, "out": str(options["out"])})
    out = train(config, resume=lightning["resume"], force=lightning["force"], accelerator=lightning["accelerator"], devices=devices,
                num_nodes=lightning["num_nodes"], strategy=lightning["strategy"], precision=lightning["precision"])
    if out is not None:  # the main process of a multi-process run
        click.echo(f"model -> {out} (load with moldiff.load('{out}'))")


@cli.command("train")
@click.option("--kind", required=True, type=click.Choice(["mdlm", "udlm", "ar"]), help="Masked diffusion, uniform diffusion or autoregressive.")
@click.option("--targets", default="", help="Guidance targets to condition on (classifier-free guidance), e.g. rings,qed.")
@click.option("--val-samples", type=click.IntRange(min=0), default=0, show_default=True,
              help="Unguided molecules sampled at each validation (the kind's default sampler, T = 128); logs val/validity and val/novelty.")
@_training_options
def train_command(kind: str, targets: str, **options) -> None:
    """Train a denoiser (MDLM, UDLM) or autoregressive model with PyTorch Lightning."""
    from moldiff.chemistry.targets import parse_targets

    names = [t.name for t in parse_targets(targets)] if targets else []
    _run_training(kind, None, names, options)


@cli.command("train-classifier")
@click.option("--target", required=True, help="Guidance target the classifier predicts.")
@click.option("--process", required=True, type=click.Choice(["mask", "uniform", "prefix"]), help="Noisy inputs of the masking or uniform process (D-CBG), or clean prefixes (FUDGE).")
@click.option("--sampled", multiple=True, metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False),
              help="Also train on a sampler's molecules as it wrote them (`moldiff sample --out FILE.csv`, e.g. under "
                   "this classifier's guidance), labelled by the oracle; repeatable.")
@click.option("--sampled-repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Times each --sampled molecule is added to the training split.")
@click.option("--perturbed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Add K copies of each training molecule with 1-4 tokens redrawn at the data's token frequencies, "
                   "labelled by the oracle on what they decode to (copies that decode to no molecule are dropped).")
@click.option("--trunk-from", default=None, metavar="MODEL",
              help="Start the classifier's embedding and transformer blocks from a denoiser of the same preset and "
                   "representation (mdlm for --process mask, udlm for uniform); its class head starts fresh. With --data FILE, "
                   "the file is tokenised with that denoiser's vocabulary, so the classifier can guide it.")
@_training_options
def train_classifier_command(target: str, process: str, sampled: tuple[str, ...], **options) -> None:
    """Train a guidance classifier: p(y | z_t) for D-CBG or p(y | prefix) for FUDGE.

    Guided sampling chases the classifier's mistakes; --sampled teaches it the sequences that
    guidance wrote, and --perturbed near misses of the data, with their true labels
    (guidance/README.md: classifier exploitation).
    """
    from moldiff.chemistry.targets import load_target

    _run_training("classifier", process, [load_target(target).name], {**options, "sampled": list(sampled)})
