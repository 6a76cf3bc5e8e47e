"""Training with PyTorch Lightning: data, one LightningModule per model kind, EMA, checkpoints, export.

- Data: QM9 (its train / valid splits) or any molecule file (split 90/5/5 with the QM9 seed, the
  test part held out), tokenized to fixed length (a file: with its own vocabulary, or a classifier's
  ``--trunk-from`` denoiser's); molecules that do not fit are skipped and counted. Target labels
  come from the oracles (values cached on disk), or, for a target labelled by data, from its
  measured values: a molecule without one gets the null label (classifier-free guidance) or is
  left out (classifiers). ``--train-molecules N`` trains on a seeded sample of the train split, so a
  large data set (MOSES) that a run will not see whole is tokenized and labelled only as far as used.
- Optimisation: AdamW, linear warm-up then cosine decay to 10% of the peak rate, gradient
  clipping, EMA weights (a frozen copy of the network, used for validation and export).
- Exact resumption: every random draw of a step (batch order, noise, label dropout, dropout)
  is a function of (seed, step, rank), so a run resumed from a checkpoint continues exactly as
  if it had not stopped.
- A run's directory holds ``train_config.json``, ``checkpoints/`` (every N steps and at the end),
  ``logs/`` (CSV, TensorBoard if installed) and, when training finishes, the exported model
  (``config.json`` + ``weights.safetensors``), so the directory itself loads with :func:`moldiff.load`.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
import os
import pickle
import platform
import re
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from torch.utils.data import DataLoader, Dataset, Sampler

from moldiff import __version__
from moldiff.chemistry.data import (
    data_hash,
    dataset_tokenizer,
    load_molecules,
    load_sampled,
    parse_spec,
    sha256_text,
    split_molecules,
    training_splits,
)
from moldiff.chemistry.metrics import molecule_table
from moldiff.chemistry.molecules import randomized_smiles
from moldiff.chemistry.oracles import score_persistent
from moldiff.chemistry.targets import Target, measured_labels, parse_targets
from moldiff.chemistry.tokenizers import BOS_ID, MASK_ID, Tokenizer, tokenizer_class
from moldiff.core.errors import MoldiffError
from moldiff.core.files import write_json
from moldiff.core.parallel import available_cpus, parallel_map
from moldiff.core.runtime import THREADS_ENV, thread_count
from moldiff.diffusion.denoisers import ModelDenoiser
from moldiff.diffusion.networks import NetworkConfig, Transformer
from moldiff.diffusion.processes import (
    Support,
    antithetic_times,
    forbid_bos,
    get_schedule,
    mask_forward,
    masked_cross_entropy,
    mdlm_loss,
    subs_log_probs,
    udlm_loss,
    uniform_forward,
)
from moldiff.diffusion.samplers import DEFAULT_SAMPLER, SamplerOptions, sample_tokens
from moldiff.store.modelcard import CARD_FILE
from moldiff.store.modelfile import CONFIG_FILE, WEIGHTS_FILE, StoredModel, read_model, save_model, target_to_dict
from moldiff.training.config import (
    RESUMABLE_CHANGES,
    TRAIN_CONFIG_FILE,
    TrainConfig,
    read_train_config,
)
from moldiff.training.perturbation import perturbed_molecules
from moldiff.training.trunk import transfer_trunk

log = logging.getLogger("moldiff")
#: The label of a molecule without one: the null class of a two-class target (``Transformer.null_labels``).
NULL_LABEL = 2
#: Fewer validation molecules than this give no validation metrics (one noise draw per molecule is no estimate).
MIN_VALIDATION_MOLECULES = 16

# --- data -----------------------------------------------------------------------------------
@dataclass
class TrainingData:
    """Tokenized train / valid sequences with target labels, and a record of where they came from."""

    tokenizer: Tokenizer
    targets: list[Target]
    train_ids: torch.Tensor
    train_labels: torch.Tensor
    valid_ids: torch.Tensor
    valid_labels: torch.Tensor
    record: dict[str, Any]


def prepare_training_data(config: TrainConfig, progress: bool = True) -> TrainingData:
    """Load, split, tokenize and label the data of a run (see the module docstring)."""
    targets = parse_targets(config.targets) if config.targets else []
    parsed = parse_spec(config.data)
    if parsed is not None:
        name, split = parsed
        if split is not None:
            raise MoldiffError(f"train on a whole data set ('{name}'); its train and valid splits are used")
        train, valid = training_splits(name)
        packaged = dataset_tokenizer(config.representation, name)
        tokenizer = type(packaged)(packaged.tokens, config.max_length)
        record = {"spec": config.data, "sha256": data_hash(name)}
    else:
        molecules = load_molecules(config.data, progress=progress)
        table = split_molecules(molecules.smiles)
        train = table.loc[table["split"] == "train", "smiles"].tolist()
        valid = table.loc[table["split"] == "valid", "smiles"].tolist()
        trunk = read_model(config.trunk_from).tokenizer if config.trunk_from else None
        if isinstance(trunk, tokenizer_class(config.representation)):  # it will guide that denoiser: its vocabulary
            tokenizer = type(trunk)(trunk.tokens, config.max_length)
        else:
            tokenizer = tokenizer_class(config.representation).build(train + valid, config.max_length, progress=progress)
        record = {"spec": config.data, "sha256": sha256_text("\n".join(molecules.smiles)),
                  "invalid_skipped": molecules.n_invalid}
    if config.train_molecules:
        train = _train_sample(train, config.train_molecules, config.seed)
        record["train_sample"] = {"molecules": len(train), "seed": config.seed}
    parts = {}
    for split_name, smiles in (("train", train), ("valid", valid)):
        encoded = tokenizer.encode_batch(smiles, progress=progress)
        if encoded.n_skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in encoded.skipped.items())
            log.warning("%s split: skipped %d of %d molecules (%s)", split_name, encoded.n_skipped, len(smiles), reasons)
        kept = [smiles[i] for i in encoded.kept]
        ids = torch.from_numpy(encoded.ids)
        labels, sources = _target_labels(kept, targets, progress)
        if sources:
            record.setdefault("labels", {})[split_name] = sources
        if config.kind == "classifier" and sources:  # a classifier learns from labelled molecules only
            labelled = (labels != NULL_LABEL).all(1)
            kept, ids, labels = [s for s, k in zip(kept, labelled) if k], ids[torch.from_numpy(labelled)], labels[labelled]
        if split_name == "valid" and len(kept) < MIN_VALIDATION_MOLECULES:
            record["validation"] = (f"no validation: the validation split holds {len(kept)} molecules, fewer than "
                                    f"{MIN_VALIDATION_MOLECULES} (it is 5% of the data; give at least "
                                    f"{20 * MIN_VALIDATION_MOLECULES} molecules to validate)")
            log.warning("%s: %s", config.data, record["validation"])
        elif not kept:
            raise MoldiffError(f"no molecule of the {split_name} split fits max_length {config.max_length}"
                               + (" and has a label" if sources else ""))
        if split_name == "train" and config.randomized_smiles:
            ids = torch.cat([ids, _randomized_variants(kept, ids, tokenizer, config, progress)])
            labels = np.tile(labels, (config.randomized_smiles + 1, 1))
            record["randomized_smiles"] = config.randomized_smiles
        parts[split_name] = (ids, torch.from_numpy(labels), encoded.skipped, len(kept))
        record[f"{split_name}_molecules"] = len(kept)
        record[f"{split_name}_skipped"] = encoded.skipped
    if targets:
        record["positive_fraction"] = _positive_fraction(parts["train"][1].numpy(), targets)
    train_ids, train_labels = parts["train"][0], parts["train"][1]
    for path in config.sampled:
        ids, labels, record_entry = _sampled_rows(path, tokenizer, targets, config.sampled_repeat, progress)
        train_ids, train_labels = torch.cat([train_ids, ids]), torch.cat([train_labels, labels])
        record.setdefault("sampled", []).append(record_entry)
    if config.perturbed:
        canonical = parts["train"][0][: parts["train"][3]].numpy()  # before any randomized variants
        ids, labels, record["perturbed"] = _perturbed_rows(canonical, tokenizer, targets, config, progress)
        train_ids, train_labels = torch.cat([train_ids, ids]), torch.cat([train_labels, labels])
    if config.kind == "classifier" and (config.sampled or config.perturbed):  # their unlabelled rows left out too
        labelled = (train_labels != NULL_LABEL).all(1)
        train_ids, train_labels = train_ids[labelled], train_labels[labelled]
    return TrainingData(tokenizer, targets, train_ids, train_labels, parts["valid"][0], parts["valid"][1], record)


def _train_sample(train: list[str], count: int, seed: int) -> list[str]:
    """``count`` molecules of the train split drawn without replacement with ``seed``, in their order;
    the whole split when it holds no more."""
    if count >= len(train):
        return train
    chosen = np.sort(np.random.default_rng(seed).choice(len(train), count, replace=False))
    return [train[i] for i in chosen]


def _oracle_labels(smiles: list[str], targets: list[Target], progress: bool) -> np.ndarray:
    """``[molecules, targets]`` int64 labels (see :func:`_target_labels`)."""
    return _target_labels(smiles, targets, progress)[0]


def _target_labels(smiles: list[str], targets: list[Target], progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """``[molecules, targets]`` int64 labels from each target's oracle (values cached on disk) or, for a
    target labelled by data, its measured values (:data:`NULL_LABEL` without one); and, for the latter,
    how many labels came from measurements, from the fitted oracle (pseudo-labels) or from neither."""
    labels = np.zeros((len(smiles), len(targets)), dtype=np.int64)
    sources: dict[str, Any] = {}
    for j, target in enumerate(targets):
        if target.measured:
            values, sources[target.name] = measured_labels(target, smiles, progress=progress)
            labels[:, j] = np.where(np.isfinite(values), values, NULL_LABEL).astype(np.int64)
        else:
            labels[:, j] = target.labels(score_persistent(smiles, target.oracle, progress=progress))
    return labels, sources


def _positive_fraction(labels: np.ndarray, targets: list[Target]) -> dict[str, float]:
    """The share of positive labels per target among the labelled molecules (6 decimals, for the record)."""
    fractions = {}
    for j, target in enumerate(targets):
        labelled = labels[:, j] != NULL_LABEL
        fractions[target.name] = round(float(labels[labelled, j].mean()), 6) if labelled.any() else None
    return fractions


def _sampled_rows(path: str, tokenizer: Tokenizer, targets: list[Target], repeat: int,
                  progress: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """A sampler's output as extra training rows (its tokens as sampled, oracle labels), ``repeat``
    times each, and the record of what was added."""
    sampled = load_sampled(path, tokenizer)
    labels = _oracle_labels(sampled.smiles, targets, progress)
    entry = {"path": path, "sha256": sampled.sha256, "molecules": len(sampled), "repeat": repeat,
             "invalid_skipped": sampled.n_invalid, "skipped": sampled.skipped,
             "positive_fraction": _positive_fraction(labels, targets)}
    log.info("%s: %d sampled molecules added to the training split (x%d)", path, len(sampled), repeat)
    return (torch.from_numpy(sampled.ids).repeat(repeat, 1), torch.from_numpy(labels).repeat(repeat, 1), entry)


def _perturbed_rows(canonical: np.ndarray, tokenizer: Tokenizer, targets: list[Target], config: TrainConfig,
                    progress: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """``config.perturbed`` token-substitution copies of each training row that decode to a valid
    molecule, labelled by the oracle on that molecule, and the record of what was added."""
    perturbed = perturbed_molecules(canonical, tokenizer, config.perturbed, config.seed, progress=progress)
    labels = _oracle_labels(perturbed.smiles, targets, progress)
    entry = {"copies": config.perturbed, "molecules": len(perturbed), "invalid_skipped": perturbed.n_invalid,
             "positive_fraction": _positive_fraction(labels, targets)}
    log.info("%d perturbed copies added to the training split (%d more did not decode to a molecule)",
             len(perturbed), perturbed.n_invalid)
    return torch.from_numpy(perturbed.ids), torch.from_numpy(labels), entry


def _randomized_variants(smiles: list[str], canonical: torch.Tensor, tokenizer: Tokenizer, config: TrainConfig,
                         progress: bool) -> torch.Tensor:
    """``config.randomized_smiles`` rows per molecule, each its SMILES from a random atom order (seeded
    by the run seed and the molecule's index); a variant that does not fit keeps the canonical row."""
    k = config.randomized_smiles
    draws = parallel_map(functools.partial(_randomized_draw, k, config.seed), list(enumerate(smiles)), desc="randomizing", progress=progress)
    variants = canonical.repeat(k, 1)
    for j in range(k):
        encoded = tokenizer.encode_batch([d[j] if len(d) == k else smiles[i] for i, d in enumerate(draws)], progress=progress)
        rows = torch.as_tensor(encoded.kept, dtype=torch.long) + j * len(smiles)
        variants[rows] = torch.from_numpy(encoded.ids)
    return variants


def _randomized_draw(count: int, seed: int, item: tuple[int, str]) -> list[str]:
    index, smiles = item
    return randomized_smiles(smiles, count, seed * 1_000_003 + index + 1)  # RDKit reads seed 0 as "unseeded"


class _Rows(Dataset):
    def __init__(self, ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.ids, self.labels = ids, labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.ids[index], self.labels[index]


def _identity(batch: Any) -> Any:
    return batch


class StepBatchSampler(Sampler[list[int]]):
    """Batches as a pure function of the step: an endless stream of seeded permutations.

    Global batch ``k`` is positions ``[k B W, (k+1) B W)`` of the stream (``B`` per-rank batch,
    ``W`` ranks); rank ``r`` takes its ``r``-th slice. Each iteration starts at ``start_step``
    (an int, or a callable read when iteration begins, e.g. the trainer's restored step), so a
    resumed run sees exactly the batches it would have seen. Its length is the whole run,
    ``end_step`` batches, which is what Lightning's restored batch counter is measured against.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start_step: int | Callable[[], int], end_step: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start_step, self.end_step = start_step, end_step
        self.rank, self.world_size = rank, world_size
        self._perms: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.end_step

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))}
        return self._perms[epoch]

    def __iter__(self):
        start = self.start_step() if callable(self.start_step) else self.start_step
        for step in range(start, self.end_step):
            begin = (step * self.world_size + self.rank) * self.batch_size
            positions = range(begin, begin + self.batch_size)
            yield [int(self._permutation(p // self.size)[p % self.size]) for p in positions]


class MoleculeDataModule(pl.LightningDataModule):
    """Train batches from :class:`StepBatchSampler`; validation on the first molecules of the valid split."""

    def __init__(self, data: TrainingData, config: TrainConfig) -> None:
        super().__init__()
        self.data, self.config = data, config

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = StepBatchSampler(
            len(self.data.train_ids), self.config.batch_size, self.config.seed,
            start_step=lambda: trainer.global_step, end_step=self.config.max_steps,
            rank=trainer.global_rank, world_size=trainer.world_size,
        )
        return DataLoader(_Rows(self.data.train_ids, self.data.train_labels), batch_sampler=sampler, collate_fn=_identity)

    def val_dataloader(self) -> DataLoader:
        n = min(self.config.val_molecules, len(self.data.valid_ids))
        rows = _Rows(self.data.valid_ids[:n], self.data.valid_labels[:n])
        return DataLoader(rows, batch_size=self.config.batch_size, shuffle=False, collate_fn=_identity)


# --- modules --------------------------------------------------------------------------------
def network_config(config: TrainConfig, tokenizer: Tokenizer, n_targets: int) -> NetworkConfig:
    """The architecture of a run's network from its kind, preset, vocabulary and targets."""
    common = {"vocab_size": tokenizer.vocab_size, "max_length": tokenizer.max_length, "dropout": config.dropout}
    if config.kind == "classifier":
        prefix = config.process == "prefix"
        return NetworkConfig.from_preset(config.preset, **common, out_dim=2, causal=prefix,
                                         time_conditioning=not prefix, head="positions" if prefix else "pooled")
    return NetworkConfig.from_preset(
        config.preset, **common, out_dim=tokenizer.vocab_size, causal=config.kind == "ar",
        time_conditioning=config.kind == "udlm", label_classes=[2] * n_targets,
    )


#: Stands in for the rank in validation seeds, so validation noise differs from any training step's.
VALIDATION_STREAM = 7


def step_seed(seed: int, step: int, rank: int) -> int:
    """A 63-bit seed for one (run seed, step, rank)."""
    return (seed * 1_000_003 + step * 10_007 + rank * 101 + 12_345) % (2**63 - 1)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1 at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


class TrainingModule(pl.LightningModule):
    """Optimiser, schedule, EMA, seeding and logging shared by every kind; subclasses define ``loss``."""

    def __init__(self, config: TrainConfig, net_config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.schedule = get_schedule(config.schedule)
        with torch.random.fork_rng(devices=[]):  # same seed, same initial weights
            torch.manual_seed(config.seed)
            self.network = Transformer(net_config)
        self.ema_network = copy.deepcopy(self.network).requires_grad_(False)
        self.wall_time = 0.0
        #: Earlier training stages this run continues (``--init-from``), oldest first.
        self.prior_stages: list[dict[str, Any]] = []
        self._step_started = 0.0
        self._support: Support | None = None

    def support(self, device: torch.device) -> Support:
        """The uniform process's support (every token but the mask) on ``device``."""
        if self._support is None or self._support.tokens.device != device:
            self._support = Support(self.network.config.vocab_size, MASK_ID, device)
        return self._support

    def loss(self, network: Transformer, ids: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, train: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean training loss of a batch and per-batch metrics to log."""
        raise NotImplementedError

    def drop_labels(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Replace labels by their null class: each target's with probability ``label_dropout``, and
        all of a molecule's together with probability ``label_dropout_all`` (this trains the fully
        unconditional mode that unguided sampling and the CFG baseline use)."""
        p_each, p_all = self.config.label_dropout, self.config.label_dropout_all
        if labels.shape[1] == 0 or (p_each == 0 and p_all == 0):
            return labels
        drop = torch.rand(labels.shape, generator=generator, device=labels.device) < p_each
        if p_all > 0:  # drawn only when used, so runs recorded without it replay exactly
            drop |= (torch.rand(labels.shape[0], generator=generator, device=labels.device) < p_all)[:, None]
        null = torch.tensor(self.network.null_labels, device=labels.device).expand_as(labels)
        return torch.where(drop, null, labels)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        seed = step_seed(self.config.seed, self.global_step, self.global_rank)
        torch.manual_seed(seed)  # dropout
        ids, labels = batch
        loss, metrics = self.loss(self.network, ids, labels, self._generator(seed), train=True)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/wall_time_s", self.wall_time)  # learning curves compared at equal wall time
        for key, value in metrics.items():
            self.log(f"train/{key}", value)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        ids, labels = batch
        # the same noise at every validation of every run (not drawn from the run's seed): runs and
        # training stages compare paired; one draw's mean moves by up to ~0.5 nats (scripts/validation_nll.py)
        seed = step_seed(0, batch_idx, VALIDATION_STREAM)
        _, metrics = self.loss(self.ema_network, ids, labels, self._generator(seed), train=False)
        for key, value in metrics.items():
            self.log(f"val/{key}", value, prog_bar=key in ("nll", "accuracy"), sync_dist=True, batch_size=len(ids))

    @property
    def prior_steps(self) -> int:
        return sum(stage["steps"] for stage in self.prior_stages)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        steps = self.prior_steps + self.global_step  # a warm start continues the EMA's warm-up
        decay = min(self.config.ema_decay, (1 + steps) / (10 + steps))
        with torch.no_grad():
            for ema, param in zip(self.ema_network.parameters(), self.network.parameters()):
                ema.lerp_(param.detach(), 1.0 - decay)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.wall_time += time.perf_counter() - self._step_started

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["moldiff"] = {"train_config": asdict(self.config), "wall_time": self.wall_time, "version": __version__,
                                 "hardware": hardware_description(self.trainer), "precision": str(self.trainer.precision),
                                 "prior_stages": self.prior_stages}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = checkpoint.get("moldiff", {})
        self.wall_time = record.get("wall_time", 0.0)
        self.prior_stages = record.get("prior_stages", [])

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.network.parameters(), lr=self.config.lr, betas=(0.9, 0.999), weight_decay=self.config.weight_decay)
        warmup, total = min(self.config.warmup_steps, self.config.max_steps // 2), self.config.max_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, warmup, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _nll_metrics(nll: torch.Tensor, length: int) -> dict[str, torch.Tensor]:
    mean = nll.mean()
    return {"nll": mean, "bits_per_token": mean / (length * math.log(2))}


class MDLMModule(TrainingModule):
    """Masked diffusion: SUBS parameterisation, continuous-time loss, antithetic times."""

    def loss(self, network, ids, labels, generator, train):
        t = antithetic_times(len(ids), generator, ids.device)
        alpha = self.schedule.alpha(t)
        z = mask_forward(ids, alpha, MASK_ID, generator)
        cond = self.drop_labels(labels, generator) if train else None
        level = (1 - alpha) if network.config.time_conditioning else None
        log_x = subs_log_probs(forbid_bos(network(z, level, cond), BOS_ID), z, MASK_ID)
        nll = mdlm_loss(log_x, ids, z, t, self.schedule, MASK_ID)
        if train and self.config.loss_weighting == "ce":
            objective = masked_cross_entropy(log_x, ids, z, MASK_ID)
        else:
            objective = nll
        return objective.mean() / ids.shape[1], _nll_metrics(nll, ids.shape[1])


class UDLMModule(TrainingModule):
    """Uniform-noise diffusion over every token but the mask, continuous-time ELBO, time-conditioned."""

    def loss(self, network, ids, labels, generator, train):
        support = self.support(ids.device)
        t = antithetic_times(len(ids), generator, ids.device)
        alpha = self.schedule.alpha(t)
        x = support.to_support[ids]
        z = uniform_forward(x, alpha, support.size, generator)
        cond = self.drop_labels(labels, generator) if train else None
        logits = forbid_bos(network(support.tokens[z], 1 - alpha, cond), BOS_ID)
        log_x = logits.float().index_select(-1, support.tokens).log_softmax(-1)
        nll = udlm_loss(log_x, x, z, t, self.schedule)
        return nll.mean() / ids.shape[1], _nll_metrics(nll, ids.shape[1])


class ARModule(TrainingModule):
    """Autoregressive: next-token cross-entropy from ``<bos>``, causal attention."""

    def loss(self, network, ids, labels, generator, train):
        cond = self.drop_labels(labels, generator) if train else None
        logits = forbid_bos(network(ids[:, :-1], None, cond), BOS_ID, first=0)
        nll = F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none").sum(-1)
        return nll.mean() / ids.shape[1], _nll_metrics(nll, ids.shape[1])


class ClassifierModule(TrainingModule):
    """Guidance classifiers: p(y | z_t) on noisy inputs of the masking or uniform process (given the
    noise level, as samplers give it), or p(y | x_<=i) on clean prefixes (FUDGE)."""

    def loss(self, network, ids, labels, generator, train):
        y = labels[:, 0]
        if self.config.process == "prefix":
            logits = network(ids).float()  # [B, L, 2]: one prediction per prefix
            loss = F.cross_entropy(logits.transpose(1, 2), y[:, None].expand(-1, ids.shape[1]))
            correct = (logits.argmax(-1) == y[:, None]).float().mean()
            return loss, {"cross_entropy": loss, "accuracy": correct}
        t = antithetic_times(len(ids), generator, ids.device)
        alpha = self.schedule.alpha(t)
        if self.config.process == "mask":
            z = mask_forward(ids, alpha, MASK_ID, generator)
        else:
            support = self.support(ids.device)
            z = support.tokens[uniform_forward(support.to_support[ids], alpha, support.size, generator)]
        logits = network(z, 1 - alpha).float()
        loss = F.cross_entropy(logits, y)
        return loss, {"cross_entropy": loss, "accuracy": (logits.argmax(-1) == y).float().mean()}


MODULES: dict[str, type[TrainingModule]] = {"mdlm": MDLMModule, "udlm": UDLMModule, "ar": ARModule, "classifier": ClassifierModule}


# --- running --------------------------------------------------------------------------------
def hardware_description(trainer: pl.Trainer) -> str:
    """'4 x NVIDIA H200' or 'CPU (2 cores, x86_64)'."""
    if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
        return f"{trainer.world_size} x {torch.cuda.get_device_name(trainer.strategy.root_device)}"
    return f"{trainer.world_size} x CPU ({os.cpu_count()} cores, {platform.machine()})"


class SaveOnInterrupt(pl.Callback):
    """On Ctrl-C or SIGTERM (how schedulers such as SLURM stop jobs), save ``last.ckpt`` and the log
    rows before Lightning shuts down, so ``--resume`` loses nothing, and note the exit code the run
    ends with (128 + the signal: 130 or 143)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exit_code: int | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            trainer.save_checkpoint(self.path)
            for logger in trainer.loggers:
                logger.save()
            sigterm = isinstance(exception, SIGTERMException)
            self.exit_code = 128 + (signal.SIGTERM if sigterm else signal.SIGINT)
            how = "stopped by SIGTERM" if sigterm else "interrupted"
            log.warning("%s at step %d: checkpoint saved; continue with the same command and --resume", how, trainer.global_step)


class SampleQuality(pl.Callback):
    """At each validation, sample ``config.val_samples`` molecules unguided from the EMA network (the
    kind's default sampler at T = 128, seed 0) and log ``val/validity`` and ``val/novelty``: learning
    curves that show sample quality, not only the likelihood. Runs on the main process only; its time
    is not counted in ``train/wall_time_s``."""

    def __init__(self, tokenizer: Tokenizer, config: TrainConfig) -> None:
        self.tokenizer, self.config = tokenizer, config

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        record = {"kind": self.config.kind, "process": None, "representation": self.config.representation}
        model = StoredModel(Path(self.config.out), record, pl_module.ema_network, self.tokenizer, [])
        denoiser = ModelDenoiser(model)
        options = SamplerOptions(sampler=DEFAULT_SAMPLER[denoiser.kind], seed=0)
        with torch.random.fork_rng(devices=[]):  # leaves the training's random state alone
            tokens = sample_tokens(denoiser, self.config.val_samples, options).tokens
        # rings is the cheapest oracle; its values are not used here
        table = molecule_table(self.tokenizer, tokens.numpy(), "qm9", ["rings"])
        pl_module.log("val/validity", float(table["valid"].mean()), rank_zero_only=True)
        pl_module.log("val/novelty", float(table["novel"].mean()), rank_zero_only=True)


class ProgressLines(pl.Callback):
    """Plain ``step N/M: loss ...`` lines, about every 5% of the run, for output that is not a terminal
    (a log file or a scheduler's output), where a progress bar would only show at exit."""

    def __init__(self, max_steps: int) -> None:
        self.max_steps, self.every = max_steps, max(1, max_steps // 20)
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every == 0 or step == self.max_steps:
            loss = trainer.callback_metrics.get("train/loss")
            shown = f", loss {float(loss):.4f}" if loss is not None else ""
            log.info("step %d/%d%s (%.0f s)", step, self.max_steps, shown, time.perf_counter() - self.started)


class StepProgressBar(RichProgressBar):
    """The terminal progress bar, counted in optimiser steps toward ``--max-steps``: a run is one
    endless epoch, so Lightning's own bar would show "Epoch 0/-2" and batches of a sampler epoch."""

    @property
    def total_train_batches(self) -> int:
        return self.trainer.max_steps

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{'training step':{len(self.validation_description)}}"

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, trainer.global_step - 1)


def _quiet_lightning() -> None:
    """Keep Lightning's banners and deprecation chatter out of the terminal; warnings still show."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*weights_only.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")  # batches are a function of the step
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")  # resuming into the same run directory
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def _first_line(exc: BaseException) -> str:
    return next(iter(str(exc).splitlines()), "") or type(exc).__name__


def read_checkpoint(path: Path, action: str) -> dict[str, Any]:
    """A moldiff checkpoint's contents, read with ``weights_only=True``: tensors and plain data only, so
    a file that needs anything more is refused without running it. A moldiff checkpoint (Lightning's
    loops, callbacks, optimiser and scheduler states, moldiff's record) needs nothing allow-listed.
    Any problem is a one-line error that starts with ``action`` ("cannot resume", ...)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        why = (f"it holds Python objects ({found.group(1)}) that moldiff does not unpickle, only tensors and plain data"
               if found else "not a PyTorch checkpoint")
        raise MoldiffError(f"{action} from {path}: not a readable moldiff checkpoint ({why})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise MoldiffError(f"{action} from {path}: not a readable moldiff checkpoint "
                           f"(damaged or truncated: {_first_line(exc).split('. ')[0]})") from None
    missing = [key for key in ("global_step", "state_dict", "moldiff") if not isinstance(state, dict) or key not in state]
    if missing:
        raise MoldiffError(f"{action} from {path}: not a readable moldiff checkpoint (no {', '.join(missing)})")
    return state


def _check_resume(out: Path, config: TrainConfig) -> Path:
    checkpoint = out / "checkpoints" / "last.ckpt"
    saved_path = out / TRAIN_CONFIG_FILE
    if not checkpoint.exists() or not saved_path.exists():
        raise MoldiffError(f"nothing to resume in {out}: no checkpoints/last.ckpt and {TRAIN_CONFIG_FILE}; start without --resume")
    try:
        saved = asdict(read_train_config(json.loads(saved_path.read_text(encoding="utf-8")), str(saved_path)))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MoldiffError(f"cannot read {saved_path}: {exc}") from None
    step = read_checkpoint(checkpoint, "cannot resume")["global_step"]
    if config.max_steps < step:
        raise MoldiffError(f"cannot resume {out} with --max-steps {config.max_steps}: its checkpoint is at step {step}; "
                           f"give --max-steps {step} or more (a larger value extends the run)")
    current = asdict(config)
    differ = [k for k in current if k not in RESUMABLE_CHANGES and saved[k] != current[k]]
    if differ:
        shown = ", ".join(f"{k} {saved[k]!r} -> {current[k]!r}" for k in differ)
        raise MoldiffError(f"cannot resume {out}: the run was started with other settings ({shown}); use the same options or another --out")
    return checkpoint


#: What a run writes into ``--out`` before its first checkpoint: leftovers of a run that never got going.
RUN_STARTED = {TRAIN_CONFIG_FILE, "checkpoints", "logs", "tensorboard"}
#: What ``--force`` removes from ``--out``: a run's files and the model it exported (a card goes in any case).
RUN_AND_MODEL = (*sorted(RUN_STARTED), CONFIG_FILE, WEIGHTS_FILE)


def _check_out(out: Path, resume: bool, force: bool) -> None:
    """Refuse an ``--out`` that is a file, or that holds a run, a model or other files that this run
    would replace or mix with, unless ``--resume`` (a run) or ``--force``."""
    if resume and force:
        raise MoldiffError("--resume continues the run in --out and --force replaces it: give only one")
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise MoldiffError(f"{existing} is a file: give a directory for the run (--out)")
    if resume or force or not out.is_dir():
        return
    if (out / "checkpoints" / "last.ckpt").exists():
        raise MoldiffError(f"{out} already holds a training run: add --resume to continue it, --force to replace it, or choose another --out")
    if {p.name for p in out.iterdir()} - RUN_STARTED:
        raise MoldiffError(f"{out} already exists and is not empty: add --force to replace the model in it, or choose another --out")


def _clear_out(out: Path) -> None:
    """Remove the run and model files of ``out`` (``--force``); other files are left alone."""
    for name in RUN_AND_MODEL:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def check_hardware(accelerator: str, devices: str | int, num_nodes: int, strategy: str, precision: str) -> None:
    """Refuse Lightning options that Lightning would refuse, before any work, in one line naming the
    first bad option: each is tried with those before it on a Trainer that runs nothing."""
    given = {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes, "strategy": strategy, "precision": precision}
    tried: dict[str, Any] = {}
    for name, value in given.items():
        tried[name] = value
        try:
            pl.Trainer(**tried, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        except (MisconfigurationException, ImportError, ValueError, TypeError, RuntimeError) as exc:
            raise MoldiffError(f"--{name.replace('_', '-')} {value}: {_first_line(exc)}") from None


def _keep_earlier_log(log_dir: Path) -> None:
    """Lightning's CSV logger deletes an existing ``metrics.csv`` when a run resumes: keep the earlier
    part as ``metrics.before-resume-NNN.csv`` (NNN counts the resumes), beside the new ``metrics.csv``."""
    log = log_dir / "metrics.csv"
    if log.exists():
        count = len(list(log_dir.glob("metrics.before-resume-*.csv"))) + 1
        log.rename(log_dir / f"metrics.before-resume-{count:03d}.csv")


def train(
    config: TrainConfig,
    resume: bool = False,
    accelerator: str = "auto",
    devices: str | int = "auto",
    num_nodes: int = 1,
    strategy: str = "auto",
    precision: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path | None:
    """Run (or resume) training and export the EMA model into ``config.out``.

    Returns the run directory on the main process (``None`` on the other DDP ranks).

    An ``out`` that holds a run, a model or other files is refused unless ``resume`` (continue the
    run exactly) or ``force`` (its run and model files and card are replaced; other files are left
    alone). An interrupted run (Ctrl-C, SIGTERM) saves a checkpoint and exits with 130 or 143.
    """
    _quiet_lightning()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise MoldiffError(f"--accelerator {accelerator}: no GPU is available on this machine; use --accelerator cpu or auto")
    if precision is None:
        precision = "bf16-mixed" if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()) else "32-true"
    check_hardware(accelerator, devices, num_nodes, strategy, precision)
    out = Path(config.out)
    _check_out(out, resume, force)
    checkpoint = _check_resume(out, config) if resume else None
    if resume:
        _keep_earlier_log(out / "logs" / "version_0")
    warm = read_warm_start(config.init_from) if config.init_from and not resume else None  # resume: the checkpoint has it
    data = prepare_training_data(config, progress=progress)
    net_config = network_config(config, data.tokenizer, len(data.targets))
    module = MODULES[config.kind](config, net_config)
    if warm is not None:
        warm.apply(module, data.tokenizer)
    if config.trunk_from and not resume:  # resume: the checkpoint has the trained weights
        transfer_trunk(module.network, config.process, config.trunk_from, data.tokenizer)
        module.ema_network.load_state_dict(module.network.state_dict())
    loggers: list[Any] = [CSVLogger(out, name="logs", version=0)]  # one log directory per run (see _keep_earlier_log)
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard", version=0))
    except ImportError:
        pass
    interactive = progress and sys.stderr.isatty()
    checkpoints = ModelCheckpoint(dirpath=out / "checkpoints", filename="{step}", every_n_train_steps=config.checkpoint_every,
                                  save_last=True, save_top_k=1, monitor=None)
    interrupt = SaveOnInterrupt(out / "checkpoints" / "last.ckpt")
    trainer = pl.Trainer(
        max_steps=config.max_steps, accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
        precision=precision, gradient_clip_val=config.grad_clip, logger=loggers,
        callbacks=[checkpoints, interrupt,
                   *([SampleQuality(data.tokenizer, config)] if config.val_samples else []),
                   *([ProgressLines(config.max_steps)] if progress and not interactive else []),
                   *([StepProgressBar()] if interactive else [])],
        val_check_interval=min(config.val_every, config.max_steps), check_val_every_n_epoch=None,
        use_distributed_sampler=False, enable_progress_bar=interactive, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=min(50, config.max_steps), max_epochs=-1,
        limit_val_batches=None if "validation" not in data.record else 0,
    )
    if trainer.strategy.root_device.type == "cpu":
        torch.set_num_threads(cpu_training_threads(trainer.num_devices if trainer.world_size > 1 else 1))
    if trainer.is_global_zero:
        if force:
            _clear_out(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / CARD_FILE).unlink(missing_ok=True)  # a card there describes a model this run replaces
        write_json(asdict(config), out / TRAIN_CONFIG_FILE)
    try:
        trainer.fit(module, datamodule=MoleculeDataModule(data, config), ckpt_path=checkpoint, weights_only=True)
    except SystemExit:  # Lightning exits 1 after Ctrl-C, and raises SIGTERMException (a SystemExit) on SIGTERM
        if interrupt.exit_code is None:
            raise
        raise SystemExit(interrupt.exit_code) from None  # not 0: the run did not finish
    trainer.save_checkpoint(out / "checkpoints" / "last.ckpt")
    validation = {} if "validation" in data.record else trainer.validate(module, datamodule=MoleculeDataModule(data, config), verbose=False)[0]
    if not trainer.is_global_zero:
        return None
    export_model(module, data, config, trainer, validation)
    return out


# --- warm starts ----------------------------------------------------------------------------
#: Training settings that fix a network's architecture and vocabulary: a run continues another only if they agree.
ARCHITECTURE_FIELDS = ("kind", "process", "representation", "targets", "preset", "data", "max_length")


@dataclass
class WarmStart:
    """Weights (network and EMA) and the training record of a model or run to continue from.

    A run's checkpoint is described by its ``train_config`` (compared field by field); a model
    directory by its network description and vocabulary (``train_config``, when recorded, names
    what differs).
    """

    source: str
    network: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    stages: list[dict[str, Any]]
    train_config: dict[str, Any] | None = None
    network_config: dict[str, Any] | None = None
    tokens: list[str] | None = None

    def _mismatch(self, module: TrainingModule, tokenizer: Tokenizer) -> str:
        named = _differences(self.train_config, asdict(module.config), ARCHITECTURE_FIELDS) if self.train_config else ""
        if self.network_config is None:
            return named
        network = module.network.config.to_dict()
        differ = _differences(self.network_config, network, [k for k in network if k != "dropout"])
        if not differ and self.tokens == list(tokenizer.tokens):
            return ""
        return named or differ or "it was trained on another vocabulary"

    def apply(self, module: TrainingModule, tokenizer: Tokenizer) -> None:
        """Load the weights into ``module`` after checking that architecture and vocabulary agree."""
        mismatch = self._mismatch(module, tokenizer)
        if mismatch:
            raise MoldiffError(f"cannot warm-start from {self.source}: {mismatch}; use the same kind, preset, targets, representation and data")
        module.network.load_state_dict(self.network)
        module.ema_network.load_state_dict(self.ema)
        module.prior_stages = self.stages


def _differences(theirs: dict[str, Any], ours: dict[str, Any], keys: Any) -> str:
    """``key theirs -> ours`` for each of ``keys`` where the two differ."""
    return ", ".join(f"{k} {theirs.get(k)!r} -> {ours[k]!r}" for k in keys if theirs.get(k) != ours[k])


def cpu_training_threads(processes: int) -> int:
    """Torch threads of each CPU training process: ``$MOLDIFF_THREADS`` when set (training beside other work),
    else the available cores shared among the ``processes`` (oversubscribed OpenMP crawls)."""
    shared = max(1, available_cpus() // processes)
    explicit = thread_count() if os.environ.get(THREADS_ENV, "").strip() else None  # None: unset or "auto"
    return explicit or shared


def _stages_of(training: Any, source: str) -> list[dict[str, Any]]:
    """The stage list of a training record (records older than stages are one stage), checked."""
    if isinstance(training, dict) and "stages" not in training:
        keys = ("steps", "batch_size", "wall_time_s", "hardware", "precision", "command")
        training = {"stages": [{**{k: training.get(k) for k in keys}, "init_from": None}]}
    stages = training.get("stages") if isinstance(training, dict) else None
    if not isinstance(stages, list) or not all(
            isinstance(s, dict) and isinstance(s.get("steps"), int) and isinstance(s.get("wall_time_s"), (int, float)) for s in stages):
        raise MoldiffError(f"cannot warm-start from {source}: its training record is damaged (stages are not a list of "
                           "tables with steps and wall_time_s); restore or re-export it")
    return stages


def read_warm_start(source: str) -> WarmStart:
    """Read what ``--init-from`` continues: a model directory or name (its safetensors weights start
    network and EMA; a finished run is one), or else a run directory with ``checkpoints/last.ckpt``
    (network, EMA and record of an unfinished run), read without unpickling anything."""
    checkpoint = Path(source) / "checkpoints" / "last.ckpt"
    if (Path(source) / CONFIG_FILE).exists() or not checkpoint.is_file():
        model = read_model(source)
        weights = {k: v.detach().clone() for k, v in model.network.state_dict().items()}
        training = model.config.get("training", {})
        recorded = training.get("config") if isinstance(training, dict) else None
        return WarmStart(source, weights, weights, _stages_of(training, source), train_config=recorded if isinstance(recorded, dict) else None,
                         network_config=model.config["network"], tokens=list(model.tokenizer.tokens))
    state = read_checkpoint(checkpoint, "cannot warm-start")
    try:
        record, weights = state["moldiff"], state["state_dict"]
        saved = read_train_config(record["train_config"], f"the record of {checkpoint}")
        network = {k.removeprefix("network."): v for k, v in weights.items() if k.startswith("network.")}
        ema = {k.removeprefix("ema_network."): v for k, v in weights.items() if k.startswith("ema_network.")}
        stage = {"steps": int(state["global_step"]), "batch_size": saved.batch_size, "wall_time_s": round(record.get("wall_time", 0.0), 1),
                 "hardware": record.get("hardware", "not recorded"), "precision": record.get("precision", "not recorded"),
                 "command": saved.command(), "init_from": saved.init_from}
        stages = _stages_of({"stages": [*record.get("prior_stages", []), stage]}, str(checkpoint))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MoldiffError(f"cannot warm-start from {checkpoint}: not a readable moldiff checkpoint (its record is damaged: {exc!r})") from None
    return WarmStart(source, network, ema, stages, train_config=asdict(saved))


def export_model(module: TrainingModule, data: TrainingData, config: TrainConfig, trainer: pl.Trainer, validation: dict[str, float]) -> None:
    """Write the EMA network and its full record into the run directory."""
    stage = {
        "steps": trainer.global_step,
        "batch_size": config.batch_size * trainer.world_size,
        "wall_time_s": round(module.wall_time, 1),
        "hardware": hardware_description(trainer),
        "precision": str(trainer.precision),
        "command": config.command(),
        "init_from": config.init_from,
    }
    stages = module.prior_stages + [stage]
    record = {
        "kind": config.kind,
        "process": config.process,
        "preset": config.preset,
        "schedule": config.schedule,
        "representation": config.representation,
        "tokenizer": data.tokenizer.to_dict(),
        "targets": [target_to_dict(t) for t in data.targets],
        "data": data.record,
        "training": {
            **{k: v for k, v in stage.items() if k != "init_from"},
            "steps": sum(s["steps"] for s in stages),
            "wall_time_s": round(sum(s["wall_time_s"] for s in stages), 1),
            "stages": stages,
            "config": asdict(config),
            "moldiff_version": __version__,
            "torch_version": torch.__version__,
        },
        "validation": {k.removeprefix("val/"): round(float(v), 6) for k, v in validation.items()},
    }
    save_model(Path(config.out), module.ema_network, record)
