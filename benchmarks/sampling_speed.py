"""Sampling speed and denoiser evaluations per molecule for MDLM and each ReMDM schedule.

With ``--model PATH`` it times a trained masked model; otherwise an untrained ``small`` MDLM with
the QM9 SMILES vocabulary (L = 32), which exercises the same code: which sequences change, and so
how many evaluations forward skipping saves, depends on the schedule, not on the weights.
Reports molecules per second, sequence evaluations per molecule, that count as a fraction of the
naive B x T, and the share of time spent inside the network. Usage::

    python benchmarks/sampling_speed.py [--model PATH] [--steps 32,128,512] [--num-samples 128]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from moldiff.chemistry.data import dataset_tokenizer
from moldiff.diffusion.networks import NetworkConfig, Transformer
from moldiff.pipeline.model import load
from moldiff.pipeline.sampling import sample
from moldiff.store.modelfile import save_model

SAMPLERS = ("mdlm", "remdm-cap", "remdm-rescale", "remdm-conf", "remdm-loop")


def untrained_model(directory: str) -> str:
    tokenizer = dataset_tokenizer("smiles")
    torch.manual_seed(0)
    network = Transformer(NetworkConfig.from_preset("small", vocab_size=tokenizer.vocab_size, max_length=32, out_dim=tokenizer.vocab_size))
    save_model(directory, network, {"kind": "mdlm", "representation": "smiles", "tokenizer": tokenizer.to_dict(), "targets": []})
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--steps", default="32,128,512")
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--num-samples", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = load(args.model or untrained_model(tmp), device=args.device)
        print(f"model {args.model or 'untrained small MDLM'}, {model.network.num_parameters():,} parameters, "
              f"device {args.device}, {args.num_samples} molecules per run")
        print(f"{'sampler':14s} {'T':>4s} {'mol/s':>8s} {'evals/mol':>10s} {'of B*T':>7s} {'network':>8s}")
        for steps in [int(s) for s in args.steps.split(",")]:
            for name in args.samplers.split(","):
                result = sample(model, args.num_samples, sampler=name, steps=steps, batch_size=args.num_samples, progress=False)
                speed = result.speed()
                print(f"{name:14s} {steps:4d} {speed['molecules_per_second']:8.2f} {speed['evaluations_per_molecule']:10.1f} "
                      f"{speed['evaluations_per_molecule'] / steps:7.1%} {speed['network_time_fraction']:8.1%}")


if __name__ == "__main__":
    main()
