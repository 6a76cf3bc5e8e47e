"""Cost of one sampling step under each guidance method, relative to unguided sampling.

Untrained ``small`` networks with the QM9 SMILES vocabulary (L = 32): an MDLM conditioned on the
``rings`` label and a ``mask`` noisy classifier of the same size. Forward skipping is switched
off so that every step evaluates every sequence; the ratio of seconds per step is then the cost
in forward-pass equivalents of the denoiser. Usage::

    python benchmarks/guidance_cost.py [--num-samples 32] [--steps 8] [--classifier-preset small]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from moldiff.data import dataset_tokenizer
from moldiff.modelfile import load, save_model, target_to_dict
from moldiff.networks import NetworkConfig, Transformer
from moldiff.sampling import sample
from moldiff.targets import load_target


def build(directory: Path, classifier_preset: str) -> tuple[str, str]:
    tokenizer = dataset_tokenizer("smiles")
    rings = [target_to_dict(load_target("rings"))]
    common = {"representation": "smiles", "tokenizer": tokenizer.to_dict(), "targets": rings}
    torch.manual_seed(0)
    denoiser = Transformer(NetworkConfig.from_preset("small", vocab_size=tokenizer.vocab_size, max_length=32,
                                                     out_dim=tokenizer.vocab_size, label_classes=[2]))
    save_model(directory / "mdlm", denoiser, {"kind": "mdlm", **common})
    classifier = Transformer(NetworkConfig.from_preset(classifier_preset, vocab_size=tokenizer.vocab_size, max_length=32,
                                                       out_dim=2, time_conditioning=True, head="pooled"))
    save_model(directory / "mask", classifier, {"kind": "classifier", "process": "mask", **common})
    return str(directory / "mdlm"), str(directory / "mask")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--classifier-preset", default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_path, classifier_path = build(Path(tmp), args.classifier_preset)
        model = load(model_path, device=args.device)
        print(f"{args.num_samples} sequences, {args.steps} mdlm steps, small denoiser, {args.classifier_preset} classifier, {args.device}")
        print(f"{'guidance':12s} {'s/step':>8s} {'x unguided':>11s}")
        base = None
        for guidance in ("none", "cfg", "cbg-taylor", "cbg"):
            result = sample(model, args.num_samples, sampler="mdlm", steps=args.steps, batch_size=args.num_samples,
                            skip_unchanged=False, guidance=guidance, gamma=2.0 if guidance != "none" else 1.0, target="rings",
                            classifier=None if guidance in ("none", "cfg") else classifier_path, progress=False)
            per_step = result.seconds / args.steps
            base = base or per_step
            print(f"{guidance:12s} {per_step:8.3f} {per_step / base:11.1f}")


if __name__ == "__main__":
    main()
