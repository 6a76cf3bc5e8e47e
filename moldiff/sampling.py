"""High-level sampling: a loaded model in, decoded and scored molecules out.

:func:`sample` runs a sampler in batches (seeded per batch: the same seed, batch size and device
give the same molecules), decodes every sequence (truncate at the first ``<eos>``, drop ``<pad>``;
a leftover mask, an unknown token or a string RDKit cannot parse is an invalid molecule, kept and
marked), canonicalises, marks novelty against a reference data set and scores with oracles.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from .chem import canonicalise_all
from .denoisers import ModelDenoiser
from .errors import MoldiffError
from .metrics import evaluate, load_reference
from .modelfile import LoadedModel, load
from .oracles import parse_oracles, score
from .samplers import SamplerOptions, progress_total, run_sampler

DEFAULT_MODEL = "qm9-smiles-mdlm"
DEFAULT_ORACLES = ("rings", "qed")


@dataclass
class SampleResult:
    """Sampled molecules (one row each: ``smiles`` canonical or empty, ``raw``, ``valid``, ``novel``,
    oracle values) and what producing them cost."""

    table: pd.DataFrame
    options: SamplerOptions
    model: str
    seconds: float
    evaluations: int
    network_seconds: float
    reference: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The molecules as a DataFrame (a copy)."""
        return self.table.copy()

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES of the valid molecules, in sampling order."""
        return self.table.loc[self.table["valid"], "smiles"].tolist()

    def metrics(self, reference: str | None = None, oracles: str | Sequence[str] = DEFAULT_ORACLES, targets=(), fcd: bool = False) -> dict[str, Any]:
        """:func:`moldiff.metrics.evaluate` of the samples, plus speed and cost."""
        strings = [s if v else None for s, v in zip(self.table["smiles"], self.table["valid"])]
        metrics = evaluate(strings, reference or self.reference, oracles, targets, fcd=fcd, progress=False)
        metrics["speed"] = self.speed()
        return metrics

    def speed(self) -> dict[str, float]:
        n = len(self.table)
        return {
            "seconds": round(self.seconds, 3),
            "molecules_per_second": n / self.seconds if self.seconds > 0 else float("nan"),
            "evaluations_per_molecule": self.evaluations / n if n else float("nan"),
            "network_time_fraction": self.network_seconds / self.seconds if self.seconds > 0 else float("nan"),
        }


def sample(
    model: LoadedModel | str = DEFAULT_MODEL,
    num_samples: int = 256,
    *,
    sampler: str | None = None,
    steps: int = 128,
    batch_size: int = 256,
    eta: float | None = None,
    t_on: float = 0.55,
    t_off: float = 0.05,
    alpha_on: float = 0.9,
    top_p: float = 1.0,
    temperature: float = 1.0,
    schedule: str = "loglinear",
    seed: int = 0,
    device: str | None = None,
    reference: str = "qm9",
    oracles: str | Sequence[str] = DEFAULT_ORACLES,
    skip_unchanged: bool = True,
    progress: bool = True,
) -> SampleResult:
    """Sample ``num_samples`` molecules from a model (a :class:`LoadedModel`, a name or a path).

    ``sampler`` defaults to ``remdm-loop`` for masked models, ``udlm`` and ``ar`` otherwise.
    """
    if num_samples < 1:
        raise MoldiffError(f"num_samples must be at least 1, not {num_samples}")
    if batch_size < 1:
        raise MoldiffError(f"batch_size must be at least 1, not {batch_size}")
    oracle_names = parse_oracles(oracles)
    if not isinstance(model, LoadedModel):
        model = load(model, device=device or _default_device())
    elif device is not None:
        model.network.to(device)
    if model.kind == "classifier":
        raise MoldiffError(f"{model.path} is a guidance classifier, not a generative model")
    denoiser = ModelDenoiser(model)
    default_sampler = {"masked": "remdm-loop", "uniform": "udlm", "autoregressive": "ar"}[denoiser.kind]
    options = SamplerOptions(
        sampler=sampler or default_sampler, steps=steps, schedule=schedule, eta=eta, t_on=t_on, t_off=t_off,
        alpha_on=alpha_on, top_p=top_p, temperature=temperature, seed=seed, skip_unchanged=skip_unchanged,
    ).validate(denoiser.kind)

    batches = [min(batch_size, num_samples - start) for start in range(0, num_samples, batch_size)]
    tokens, evaluations, network_seconds = [], 0, 0.0
    start = time.perf_counter()
    with tqdm(total=len(batches) * progress_total(denoiser, options), desc=f"sampling ({options.sampler})",
              disable=None if progress else True, leave=False) as bar:
        for index, size in enumerate(batches):
            generator = torch.Generator(device=denoiser.device).manual_seed(seed * 1_000_003 + index)
            out = run_sampler(denoiser, size, options, generator=generator, progress=bar.update)
            tokens.append(out.tokens.cpu())
            evaluations += out.evaluations
            network_seconds += out.network_seconds
    seconds = time.perf_counter() - start
    table = decode_table(model, torch.cat(tokens), reference, oracle_names)
    return SampleResult(table, options, str(model.path), seconds, evaluations, network_seconds, reference)


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def decode_table(model: LoadedModel, tokens: torch.Tensor, reference: str, oracles: list[str]) -> pd.DataFrame:
    """One row per sequence: canonical SMILES (empty if invalid), raw text, validity, novelty, oracles."""
    decoded = model.tokenizer.decode_batch(tokens.numpy())
    canonical = canonicalise_all([d.smiles for d in decoded], progress=False)
    known = load_reference(reference, progress=False).smiles
    table = pd.DataFrame({
        "smiles": [c or "" for c in canonical],
        "raw": [d.text for d in decoded],
        "valid": [c is not None for c in canonical],
        "novel": [c is not None and c not in known for c in canonical],
    })
    values = score([c or "" for c in canonical], oracles, progress=False)
    for name in oracles:
        table[name] = values[name].to_numpy()
    return table
