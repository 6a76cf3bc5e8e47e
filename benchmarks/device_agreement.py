"""Whether a GPU samples the same molecules as the CPU, and how much faster it does.

Molecule ``i`` draws its randomness from its own stream keyed by the seed and ``i``
(:mod:`moldiff.diffusion.streams`), computed on the CPU whatever the device, so only the network's
floating point differs between devices: a draw can change only where a probability sits on a
rounding boundary. Samples ``--num-samples`` molecules of one setting on each of ``--devices`` (the
first is the reference) and prints, per device, the seconds and how many molecules are identical to
the reference device's. The seconds include each device's first calls (no warm-up): a rough guide to
speed; ``benchmarks/guidance_cost.py`` measures it. Usage::

    python benchmarks/device_agreement.py [--model qm9-selfies-udlm] [--guidance cbg] [--gamma 1]
                                          [--num-samples 32] [--steps 128] [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse

from moldiff.pipeline.sampling import sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qm9-selfies-udlm")
    parser.add_argument("--guidance", default="cbg", help="none, cfg, cbg, cbg-taylor or fudge (toward rings)")
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; the first is the reference")
    args = parser.parse_args()
    guided = {} if args.guidance == "none" else {"guidance": args.guidance, "gamma": args.gamma, "target": "rings"}
    print(f"{args.model}, {args.guidance} (gamma {args.gamma:g}), T = {args.steps}, {args.num_samples} molecules in one batch, seed 0")
    reference = None
    for device in args.devices.split(","):
        result = sample(args.model, args.num_samples, steps=args.steps, seed=0, batch_size=args.num_samples,
                        device=device, **guided)
        smiles = result.table["smiles"].tolist()
        reference = reference or (result.seconds, smiles)
        same = sum(a == b for a, b in zip(reference[1], smiles))
        print(f"{result.device:24s} {result.seconds:9.1f} s  {reference[0] / result.seconds:7.1f}x the first device's speed  "
              f"{same}/{len(smiles)} molecules identical to the first device's")


if __name__ == "__main__":
    main()
