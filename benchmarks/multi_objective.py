"""Two targets at once on the default model: hit fractions of both, guided (a gamma each) against unguided.

Samples ``--num-samples`` molecules from the default model with its recommended sampler settings
(``remdm-loop``, T = 128, top-p 0.9), same seed, unguided and guided toward ``--targets`` with
exact D-CBG (``--cbg-gammas``, one per target; each classifier ``guidance/<target>/mask-selfies``)
and with D-CFG (``--cfg-gammas``: one per target; ``joint`` adds the single-gamma joint form),
and prints per row: validity, the hit fraction of each target among the valid and among the novel
molecules, the novel count, classifier network passes per molecule and seconds. Usage::

    python benchmarks/multi_objective.py [--num-samples 256] [--targets rings,qed] [--cbg-gammas 10,20]
        [--cfg-gammas 2,2] [--joint-gamma 2] [--rows none,cbg,cfg,joint] [--top-k K] [--seed 0]
"""

from __future__ import annotations

import argparse

from moldiff.core.assets import DEFAULT_MODEL
from moldiff.guidance.multi import format_gamma, parse_gamma
from moldiff.pipeline.model import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--targets", default="rings,qed")
    parser.add_argument("--cbg-gammas", default="10,20")
    parser.add_argument("--cfg-gammas", default="2,2")
    parser.add_argument("--joint-gamma", default="2")
    parser.add_argument("--rows", default="none,cbg,cfg,joint", help="which rows to run, comma-separated")
    parser.add_argument("--top-k", type=int, default=None, help="exact cbg: score only the k most probable tokens")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load(DEFAULT_MODEL, device="cpu")
    targets = [t.strip() for t in args.targets.split(",")]
    plans = {
        "none": ("none", 1.0, None),
        "cbg": ("cbg", parse_gamma(args.cbg_gammas), args.top_k),
        "cfg": ("cfg", parse_gamma(args.cfg_gammas), None),
        "joint": ("cfg", parse_gamma(args.joint_gamma), None),
    }
    print(f"{DEFAULT_MODEL}, recommended settings, {args.num_samples} molecules, seed {args.seed}, targets {', '.join(targets)}")
    hits = " ".join(f"{t + ' hit':>10s} {t + ' novel':>10s}" for t in targets)
    print(f"{'row':6s} {'guidance':8s} {'gamma':>7s} {'valid':>6s} {hits} {'novel':>6s} {'clf/mol':>8s} {'s':>7s}", flush=True)
    for row in args.rows.split(","):
        guidance, gamma, top_k = plans[row.strip()]
        result = model.sample(args.num_samples, guidance=guidance, gamma=gamma, target=targets, top_k=top_k,
                              seed=args.seed, batch_size=args.num_samples, progress=False)
        metrics = result.metrics()
        cells = " ".join(f"{metrics['targets'][t]['hit_fraction_valid']:10.3f} {metrics['targets'][t]['hit_fraction_novel']:10.3f}"
                         for t in targets)
        shown = format_gamma(gamma) if guidance != "none" else "-"
        print(f"{row:6s} {guidance:8s} {shown:>7s} {metrics['validity']:6.3f} {cells} {metrics['novel']:6d} "
              f"{result.speed()['classifier_passes_per_molecule']:8.0f} {result.seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main()
