"""Cost of guided sampling relative to unguided sampling, with the shipped models and classifiers.

Samples ``--num-samples`` molecules (one batch) at T = ``--steps`` with ``--sampler`` (default
``remdm-loop``) from the default masked model for ``none``, ``cfg``, ``cbg`` (all candidates and
``--top-k``) and ``cbg-taylor`` toward ``rings``, and from the shipped AR model for ``none`` and
``fudge``. Prints per molecule: denoiser evaluations (rows through the network; CFG runs two per
row), classifier passes (sequences scored; Taylor counts forward + backward as 2) and seconds, and
the seconds relative to unguided sampling of the same model. Ratios, not seconds, are what to
compare on a shared machine. Usage::

    python benchmarks/guidance_cost.py [--num-samples 32] [--steps 128] [--top-k 5]
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
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    masked, ar = load(DEFAULT_MODEL, device=args.device), load("qm9-smiles-ar", device=args.device)
    runs = [
        (masked, "none", None, args.sampler), (masked, "cfg", None, args.sampler), (masked, "cbg", None, args.sampler),
        (masked, "cbg", args.top_k, args.sampler), (masked, "cbg-taylor", None, args.sampler),
        (ar, "none", None, "ar"), (ar, "fudge", None, "ar"),
    ]
    print(f"{args.num_samples} molecules in one batch, T = {args.steps}, gamma {args.gamma}, target rings, {args.device}")
    print(f"{'model':16s} {'sampler':11s} {'guidance':14s} {'evals/mol':>9s} {'clf/mol':>9s} {'s/mol':>8s} {'x unguided':>10s}")
    base: dict[str, float] = {}
    for model, guidance, top_k, sampler in runs:
        result = sample(model, args.num_samples, sampler=sampler, steps=args.steps, batch_size=args.num_samples,
                        guidance=guidance, gamma=args.gamma if guidance != "none" else 1.0, target=None if guidance == "none" else "rings",
                        top_k=top_k, progress=False)
        speed = result.speed()
        per_molecule = result.seconds / args.num_samples
        base.setdefault(model.path.name, per_molecule)
        label = guidance + (f" k={top_k}" if top_k else "")
        print(f"{model.path.name:16s} {sampler:11s} {label:14s} {speed['evaluations_per_molecule']:9.1f} "
              f"{speed['classifier_passes_per_molecule']:9.1f} {per_molecule:8.4f} {per_molecule / base[model.path.name]:10.1f}")


if __name__ == "__main__":
    main()
