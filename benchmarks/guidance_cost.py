"""Cost of guided sampling relative to unguided sampling, with the shipped models and classifiers.

Samples ``--num-samples`` molecules (one batch) at T = ``--steps`` with ``--sampler`` (default
``remdm-loop``) from the default masked model for ``none``, ``cfg``, ``cbg`` (all candidates and
``--top-k``) and ``cbg-taylor`` toward ``rings``, from the SELFIES UDLM for ``none``, ``cfg``, ``cbg``
(adaptive rejection) and ``cbg-taylor``, and from the AR models for ``none`` and ``fudge``
(``--models`` picks some). Prints per molecule: denoiser evaluations (rows through the network; CFG runs two per
row), classifier passes (sequences scored; Taylor counts forward + backward as 2) and seconds, and
the seconds relative to unguided sampling of the same model. Ratios, not seconds, are what to
compare on a shared machine. Each setting first runs once untimed on two molecules (a GPU's first
calls compile and cache kernels). Settings not given are the sampling defaults (top-p 1; the default
model recommends ``--top-p 0.9``); ``--gamma 10,50`` measures each guided method at each gamma, ``--methods cbg`` only some methods.
Usage::

    python benchmarks/guidance_cost.py [--num-samples 32] [--steps 128] [--top-k 5] [--gamma 1] [--models NAMES]
                                       [--methods none,cbg] [--top-p 0.9] [--nucleus model|guided]
"""

from __future__ import annotations

import argparse

import torch

from moldiff.core.assets import DEFAULT_MODEL
from moldiff.pipeline.model import load
from moldiff.pipeline.sampling import sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--sampler", default="remdm-loop")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--gamma", default="1", help="comma-separated gammas, each measured")
    parser.add_argument("--methods", default=None, help="comma-separated guidance methods to measure (default: all; none is always measured)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus of the guidance's own model (default 1: none)")
    parser.add_argument("--nucleus", default=None, help="model or guided (default: model)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},qm9-selfies-udlm,qm9-smiles-ar,qm9-selfies-ar",
                        help="comma-separated models to measure (default: all four)")
    args = parser.parse_args()
    plans = {
        DEFAULT_MODEL: [("none", None, args.sampler), ("cfg", None, args.sampler), ("cbg", None, args.sampler),
                        ("cbg", args.top_k, args.sampler), ("cbg-taylor", None, args.sampler)],
        "qm9-selfies-udlm": [("none", None, "udlm"), ("cfg", None, "udlm"), ("cbg", None, "udlm"), ("cbg-taylor", None, "udlm")],
        "qm9-smiles-ar": [("none", None, "ar"), ("fudge", None, "ar")],
        "qm9-selfies-ar": [("none", None, "ar"), ("fudge", None, "ar")],
    }
    methods = None if args.methods is None else {"none", *args.methods.split(",")}
    gammas = [float(g) for g in args.gamma.split(",")]
    runs = [(load(name, device=args.device), guidance, top_k, sampler, gamma)
            for name in args.models.split(",") for guidance, top_k, sampler in plans[name]
            if methods is None or guidance in methods for gamma in ([1.0] if guidance == "none" else gammas)]
    print(f"{args.num_samples} molecules in one batch, T = {args.steps}, target rings, {args.device}, "
          f"top-p {args.top_p or 'recommended'}, nucleus {args.nucleus or 'model'}")
    print(f"{'model':16s} {'sampler':11s} {'guidance':14s} {'gamma':>6s} {'evals/mol':>9s} {'clf/mol':>9s} {'s/mol':>8s} {'x unguided':>10s}")
    base: dict[str, float] = {}
    for model, guidance, top_k, sampler, gamma in runs:
        settings = dict(sampler=sampler, guidance=guidance, gamma=gamma, target=None if guidance == "none" else "rings",
                        top_k=top_k, top_p=args.top_p, nucleus=args.nucleus, progress=False)
        sample(model, 2, steps=2, batch_size=2, **settings)  # untimed warm-up: first calls (CUDA kernels, caches)
        result = sample(model, args.num_samples, steps=args.steps, batch_size=args.num_samples, **settings)
        speed = result.speed()
        per_molecule = result.seconds / args.num_samples
        base.setdefault(model.path.name, per_molecule)
        label = guidance + (f" k={top_k}" if top_k else "")
        print(f"{model.path.name:16s} {sampler:11s} {label:14s} {gamma if guidance != 'none' else 0:6g} {speed['evaluations_per_molecule']:9.1f} "
              f"{speed['classifier_passes_per_molecule']:9.1f} {per_molecule:8.4f} {per_molecule / base[model.path.name]:10.1f}")


if __name__ == "__main__":
    main()
