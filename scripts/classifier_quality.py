"""Quality of guidance classifiers: cross-entropy and AUROC on the QM9 valid split at a few noise levels.

A noisy-input classifier (``mask``, ``uniform``) is scored on valid molecules noised to
``1 - alpha_t`` = each level (0 = clean); a prefix classifier (``prefix``) on prefixes that keep each
fraction of the tokens. Usage::

    python scripts/classifier_quality.py [CLASSIFIER ...] [--levels 0,0.25,0.5,0.75] [--molecules 2048] [--out FILE.csv]

Without names, every classifier found under ``guidance/`` is scored. With ``--samples FILE.csv`` (the
output of ``moldiff sample``, e.g. under D-CBG) one classifier is scored on those molecules as sampled::

    python scripts/classifier_quality.py rings/mask-selfies --samples cbg.csv
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc

from moldiff.chemistry.data import load_sampled, load_split
from moldiff.chemistry.oracles import score_persistent
from moldiff.chemistry.tokenizers import MASK_ID
from moldiff.core.assets import list_assets
from moldiff.core.errors import MoldiffError
from moldiff.diffusion.processes import Support, mask_forward, uniform_forward
from moldiff.pipeline.model import LoadedModel, load
from moldiff.store.modelfile import CONFIG_FILE


def shipped_classifiers() -> list[str]:
    """``TARGET/FOLDER`` of every classifier under ``guidance/``."""
    return [f"{target}/{sub.name}" for target, folder in list_assets("guidance").items()
            for sub in sorted(folder.iterdir()) if (sub / CONFIG_FILE).exists()]


def noised(model: LoadedModel, ids: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """The inputs the classifier sees at noise level ``level``."""
    if model.process == "prefix":
        keep = max(1, round((1 - level) * ids.shape[1]))
        return ids[:, :keep]
    alpha = torch.full((len(ids),), 1 - level)
    if model.process == "mask":
        return mask_forward(ids, alpha, MASK_ID, generator)
    support = Support(model.tokenizer.vocab_size, MASK_ID)
    return support.tokens[uniform_forward(support.to_support[ids], alpha, support.size, generator)]


def predict(model: LoadedModel, z: torch.Tensor, level: float) -> torch.Tensor:
    """The classifier's logits ``[B, 2]`` for inputs ``z`` at noise ``level``."""
    with torch.no_grad():
        if model.process == "prefix":
            return model.network(z).float()[:, -1]
        return model.network(z, torch.full((len(z),), level)).float()


def scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float | int]:
    """Cross-entropy (nats) and AUROC of the logits against the labels."""
    return {"cross_entropy": float(F.cross_entropy(logits, labels.long())),
            "auroc": float(binary_auroc(logits.softmax(-1)[:, 1], labels.long())),
            "positives": int(labels.sum()), "molecules": len(labels)}


def quality(name: str, levels: list[float], molecules: int, seed: int = 0) -> list[dict[str, object]]:
    """Cross-entropy (nats) and AUROC of one classifier at each noise level."""
    model = load(name)
    (target,) = model.targets
    smiles = load_split("qm9", "valid")[:molecules]
    encoded = model.tokenizer.encode_batch(smiles, progress=False)
    ids = torch.from_numpy(encoded.ids)
    labels = torch.from_numpy(target.labels(score_persistent([smiles[i] for i in encoded.kept], target.oracle, progress=False)))
    return [{"classifier": name, "representation": model.config["representation"], "level": level,
             **scores(predict(model, noised(model, ids, level, torch.Generator().manual_seed(seed)), level), labels)}
            for level in levels]


def on_samples(name: str, path: str) -> dict[str, object]:
    """The classifier on the clean token sequences of a ``moldiff sample`` output (its ``raw`` column,
    valid molecules) against the oracle: how far guided samples, which chase its predictions, fool it.
    ``fooled``: the share of molecules it rates at least 0.9 that miss the target."""
    model = load(name)
    (target,) = model.targets
    try:
        sampled = load_sampled(path, model.tokenizer)
    except MoldiffError as exc:
        raise SystemExit(f"{exc} (scoring {name})") from None
    ids = torch.from_numpy(sampled.ids)
    labels = torch.from_numpy(target.labels(score_persistent(sampled.smiles, target.oracle, progress=False)))
    logits = predict(model, ids, 0.0)
    rated = logits.softmax(-1)[:, 1] >= 0.9
    fooled = float((rated & ~labels.bool()).sum() / rated.sum()) if rated.any() else float("nan")
    return {"classifier": name, "samples": path, **scores(logits, labels), "rated_0.9": int(rated.sum()), "fooled": fooled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("classifiers", nargs="*")
    parser.add_argument("--levels", default="0,0.25,0.5,0.75")
    parser.add_argument("--molecules", type=int, default=2048)
    parser.add_argument("--out", default=None)
    parser.add_argument("--samples", default=None, help="instead: score one classifier on a `moldiff sample` CSV")
    args = parser.parse_args()
    if args.samples:
        if len(args.classifiers) != 1:
            raise SystemExit("--samples takes exactly one classifier, e.g. rings/mask-selfies")
        print(pd.DataFrame([on_samples(args.classifiers[0], args.samples)]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    levels = [float(x) for x in args.levels.split(",")]
    table = pd.DataFrame([row for name in args.classifiers or shipped_classifiers() for row in quality(name, levels, args.molecules)])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
