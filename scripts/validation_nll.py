"""Validation NLL of trained models on identical noise, so that models and training stages compare paired.

Every model sees the same molecules (the first ``--molecules`` of the QM9 valid split, in its own
representation) and the same ``--draws`` draws of times and noise per batch; the NLL per molecule
(nats, an upper bound for the diffusion models) is averaged over molecules and draws. Usage::

    python scripts/validation_nll.py MODEL [MODEL ...] [--draws 4] [--molecules 2048]

MODEL is a model name, a model directory or a training run of a denoiser (mdlm, udlm, ar). Training
logs validation NLL with one fixed draw (runs before 2026-12 drew it from their own seed, so their
recorded NLLs do not compare across stages); this script averages several.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from moldiff.chemistry.data import load_split
from moldiff.core.errors import MoldiffError
from moldiff.pipeline.model import LoadedModel, load
from moldiff.training.config import TrainConfig
from moldiff.training.train import MODULES, VALIDATION_STREAM, step_seed


def validation_nll(model: LoadedModel, molecules: int, draws: int, batch_size: int = 256) -> dict[str, object]:
    """Mean NLL per molecule over ``draws`` noise draws, and the spread of the draws' means."""
    if model.config["kind"] not in ("mdlm", "udlm", "ar"):
        raise MoldiffError(f"{model.path} is a {model.config['kind']}, not a denoiser (mdlm, udlm, ar)")
    config = TrainConfig(kind=model.config["kind"], out=str(model.path), representation=model.config["representation"],
                         preset=model.config["preset"], schedule=model.config.get("schedule", "loglinear"))
    module = MODULES[config.kind](config, model.network.config)
    ids = torch.from_numpy(model.tokenizer.encode_batch(load_split("qm9", "valid")[:molecules], progress=False).ids)
    no_labels = torch.zeros((0,), dtype=torch.long)
    means = []
    with torch.no_grad():
        for draw in range(draws):
            total = 0.0
            for start in range(0, len(ids), batch_size):
                batch = ids[start:start + batch_size]
                generator = torch.Generator().manual_seed(step_seed(draw, start // batch_size, VALIDATION_STREAM))
                _, metrics = module.loss(model.network, batch, no_labels.expand(len(batch), 0), generator, train=False)
                total += float(metrics["nll"]) * len(batch)
            means.append(total / len(ids))
    mean = sum(means) / draws
    return {"model": str(model.path), "kind": config.kind, "molecules": len(ids), "draws": draws, "nll": mean,
            "draw_min": min(means), "draw_max": max(means)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--molecules", type=int, default=2048)
    args = parser.parse_args()
    try:
        table = pd.DataFrame([validation_nll(load(name), args.molecules, args.draws) for name in args.models])
    except MoldiffError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
