"""The settings of a training run, importable without torch (the CLI reads its defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from moldiff.chemistry.tokenizers import tokenizer_class
from moldiff.core.errors import MoldiffError
from moldiff.store.modelfile import KINDS

PROCESSES = ("mask", "uniform", "prefix")
#: MDLM training losses: the ELBO (weight alpha'/(1 - alpha), i.e. 1/t) or plain cross-entropy on masked tokens.
LOSS_WEIGHTINGS = ("elbo", "ce")

TRAIN_CONFIG_FILE = "train_config.json"
#: Fields that may differ when a run is resumed; every other field must match.
RESUMABLE_CHANGES = ("max_steps", "val_every", "checkpoint_every", "val_samples", "out")
#: Values that reproduce runs recorded before a field existed (read for ``train_config.json`` files that lack it).
LEGACY_VALUES = {"label_dropout_all": 0.0, "loss_weighting": "elbo", "randomized_smiles": 0, "init_from": None,
                 "val_samples": 0, "sampled": [], "sampled_repeat": 1, "perturbed": 0,
                 "trunk_from": None, "train_molecules": 0}


@dataclass
class TrainConfig:
    """Everything that defines a training run (recorded in ``train_config.json`` and the model)."""

    kind: str
    out: str
    process: str | None = None
    representation: str = "smiles"
    targets: list[str] = field(default_factory=list)
    preset: str = "small"
    data: str = "qm9"
    #: Train on a sample of this many molecules of the train split, drawn with ``seed`` (0: all of it).
    #: For a large data set that a run will not see whole: only the sample is tokenized and labelled.
    train_molecules: int = 0
    max_steps: int = 5000
    batch_size: int = 128
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    label_dropout: float = 0.1
    label_dropout_all: float = 0.1
    loss_weighting: str = "elbo"
    randomized_smiles: int = 0
    #: Classifiers: sampler outputs (``moldiff sample --out FILE.csv``) added to the training split as
    #: sampled, labelled by the oracle, each row ``sampled_repeat`` times (see :func:`moldiff.chemistry.data.load_sampled`).
    sampled: list[str] = field(default_factory=list)
    sampled_repeat: int = 1
    #: Classifiers: copies of each training molecule with a few tokens redrawn, labelled by the oracle
    #: on what they decode to (see :mod:`moldiff.training.perturbation`).
    perturbed: int = 0
    #: Noisy-input classifiers: a denoiser (model name or directory) whose trunk the classifier starts
    #: from (see :mod:`moldiff.training.trunk`).
    trunk_from: str | None = None
    init_from: str | None = None
    dropout: float = 0.0
    schedule: str = "loglinear"
    max_length: int = 32
    seed: int = 0
    val_every: int = 500
    checkpoint_every: int = 500
    val_molecules: int = 2048
    #: Unguided molecules sampled at each validation to log their validity and novelty (0: none).
    val_samples: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MoldiffError(f"unknown model kind '{self.kind}': choose one of {', '.join(KINDS[:-1])}")
        if self.kind == "classifier":
            if self.process not in PROCESSES:
                raise MoldiffError(f"unknown classifier process '{self.process}': choose one of {', '.join(PROCESSES)}")
            if len(self.targets) != 1:
                raise MoldiffError("a classifier is trained for exactly one target")
        from moldiff.diffusion.networks import PRESETS
        from moldiff.diffusion.processes import get_schedule

        tokenizer_class(self.representation)
        get_schedule(self.schedule)
        if self.preset not in PRESETS:
            raise MoldiffError(f"unknown preset '{self.preset}': choose one of {', '.join(PRESETS)}")
        for name, value in (("max_steps", self.max_steps), ("batch_size", self.batch_size),
                            ("val_every", self.val_every), ("checkpoint_every", self.checkpoint_every)):
            if value < 1:
                raise MoldiffError(f"{name} must be at least 1, not {value}")
        for name, low, high in (("label_dropout", 0.0, 1.0), ("label_dropout_all", 0.0, 1.0), ("dropout", 0.0, 1.0),
                                ("ema_decay", 0.0, 1.0)):
            if not low <= getattr(self, name) < high:
                raise MoldiffError(f"{name} must be in [{low:g}, {high:g}), not {getattr(self, name)}")
        if not self.lr > 0:
            raise MoldiffError(f"lr must be positive, not {self.lr}")
        for name in ("weight_decay", "grad_clip", "warmup_steps", "randomized_smiles", "val_samples", "perturbed",
                     "train_molecules"):
            if getattr(self, name) < 0:
                raise MoldiffError(f"{name} must be at least 0, not {getattr(self, name)}")
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise MoldiffError(f"unknown loss weighting '{self.loss_weighting}': choose one of {', '.join(LOSS_WEIGHTINGS)}")
        if self.sampled_repeat < 1:
            raise MoldiffError(f"sampled_repeat must be at least 1, not {self.sampled_repeat}")
        if self.sampled and self.kind != "classifier":
            raise MoldiffError("--sampled applies to classifiers; a generative model is trained on data, not on its own samples")
        if self.perturbed and self.kind != "classifier":
            raise MoldiffError("--perturbed applies to classifiers; a generative model learns the data as it is")
        if self.trunk_from and (self.kind != "classifier" or self.process == "prefix"):
            raise MoldiffError("--trunk-from applies to noisy-input classifiers (--process mask or uniform)")
        if self.trunk_from and self.init_from:
            raise MoldiffError("--trunk-from starts a new classifier and --init-from continues one: give only one")
        if self.val_samples and self.kind == "classifier":
            raise MoldiffError("--val-samples applies to generative models; a classifier samples nothing")
        if self.loss_weighting != "elbo" and self.kind != "mdlm":
            raise MoldiffError(f"--loss-weighting {self.loss_weighting} applies to mdlm only; {self.kind} trains on its own likelihood")

    def command(self) -> str:
        """The ``moldiff`` command line that reproduces this run."""
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.default is not dataclasses.MISSING}
        if self.kind == "classifier":
            words = ["moldiff", "train-classifier", "--target", self.targets[0], "--process", str(self.process)]
        else:
            words = ["moldiff", "train", "--kind", self.kind] + (["--targets", ",".join(self.targets)] if self.targets else [])
        always = ("representation", "preset", "max_steps", "data")
        for key, value in asdict(self).items():
            if value is None:
                continue
            if key == "sampled":
                words += [word for path in value for word in ("--sampled", path)]
            elif key not in ("kind", "process", "targets", "out") and (key in always or value != defaults.get(key)):
                words += [f"--{key.replace('_', '-')}", str(value)]
        return " ".join(words + ["--out", self.out])


def read_train_config(data: Any, source: str) -> TrainConfig:
    """The settings a run recorded (``train_config.json`` or a checkpoint's record), filled in for runs
    recorded before a field existed; a hand-edited or foreign record is a one-line error naming ``source``."""
    if not isinstance(data, dict):
        held = "null" if data is None else type(data).__name__
        raise MoldiffError(f"{source} is not a moldiff training config: it holds a {held}, not an object of "
                           "settings; restore it, or start a new run with another --out")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown, missing = sorted(set(data) - fields), sorted(fields - set(data) - set(LEGACY_VALUES))
    if unknown or missing:
        shown = "; ".join(f"{what} {', '.join(names)}" for what, names in (("unknown", unknown), ("missing", missing)) if names)
        raise MoldiffError(f"{source} is not a moldiff training config ({shown}); restore it, or start a new run with another --out")
    try:
        return TrainConfig(**{**LEGACY_VALUES, **data})
    except (MoldiffError, TypeError, ValueError) as exc:
        raise MoldiffError(f"{source} holds bad settings ({exc}); restore it, or start a new run with another --out") from None
