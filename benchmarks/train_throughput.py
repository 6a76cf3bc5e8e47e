"""Training throughput (tokens per second) of each network preset on this machine.

Runs optimiser steps of the MDLM loss on QM9 batches (L = 32) outside Lightning, so the number
is the network's own cost: forward, backward, AdamW and the EMA update. Usage::

    python benchmarks/train_throughput.py [--presets tiny,small] [--steps 20] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import time

import torch

from moldiff.chemistry.data import dataset_tokenizer, load_split
from moldiff.training.train import MDLMModule, TrainConfig, network_config


def measure(preset: str, steps: int, batch_size: int, device: str) -> dict[str, float]:
    tokenizer = dataset_tokenizer("smiles")
    config = TrainConfig(kind="mdlm", out="-", preset=preset, batch_size=batch_size, targets=[])
    module = MDLMModule(config, network_config(config, tokenizer, 0)).to(device)
    ids = torch.from_numpy(tokenizer.encode_batch(load_split("qm9", "train")[: batch_size * 4], progress=False).ids).to(device)
    labels = torch.zeros(len(ids), 0, dtype=torch.long, device=device)
    optimizer = torch.optim.AdamW(module.network.parameters(), lr=1e-4)
    generator = torch.Generator(device=device).manual_seed(0)

    def step(i: int) -> None:
        batch = ids[(i % 4) * batch_size : (i % 4 + 1) * batch_size]
        loss, _ = module.loss(module.network, batch, labels[: len(batch)], generator, train=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for ema, param in zip(module.ema_network.parameters(), module.network.parameters()):
                ema.lerp_(param, 1e-3)

    for i in range(3):  # warm-up
        step(i)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return {"parameters": module.network.num_parameters(), "step_s": seconds,
            "tokens_per_s": batch_size * ids.shape[1] / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,small,base")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, batch {args.batch_size} x 32 tokens")
    print(f"{'preset':8s} {'parameters':>12s} {'s/step':>8s} {'tokens/s':>10s} {'steps/hour':>11s}")
    for preset in args.presets.split(","):
        r = measure(preset, args.steps, args.batch_size, args.device)
        print(f"{preset:8s} {r['parameters']:12,d} {r['step_s']:8.3f} {r['tokens_per_s']:10,.0f} {3600 / r['step_s']:11,.0f}")


if __name__ == "__main__":
    main()
