"""High-level sampling: a loaded model in, decoded and scored molecules out.

:func:`sample` runs a sampler in batches (seeded per batch: the same seed, batch size and device
give the same molecules), decodes every sequence (truncate at the first ``<eos>``, drop ``<pad>``;
a leftover mask, an unknown token or a string RDKit cannot parse is an invalid molecule, kept and
marked), canonicalises, marks novelty against a reference data set and scores with oracles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from .assets import DEFAULT_MODEL, find_asset
from .chem import canonicalise_all
from .denoisers import ModelDenoiser
from .errors import MoldiffError
from .guidance import (
    CLASSIFIER_PROCESS,
    CBGDenoiser,
    CFGDenoiser,
    FudgeDenoiser,
    ModelClassifier,
    PrefixClassifier,
    check_guidance,
    check_top_k,
)
from .metrics import evaluate, load_reference
from .modelfile import LoadedModel, load
from .oracles import parse_oracles, score
from .presets import apply_preset
from .runtime import check_device
from .samplers import DEFAULT_ETA, SamplerOptions, progress_total, run_sampler
from .streams import MoleculeStreams
from .targets import Target, available_targets, check_trained_target, load_target, read_target

DEFAULT_ORACLES = ("rings", "qed")
log = logging.getLogger("moldiff")


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
    targets: list[Target] = field(default_factory=list)
    classifier_passes: int = 0
    guidance: str = "none"

    def to_dataframe(self) -> pd.DataFrame:
        """The molecules as a DataFrame (a copy)."""
        return self.table.copy()

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES of the valid molecules, in sampling order."""
        return self.table.loc[self.table["valid"], "smiles"].tolist()

    def metrics(self, reference: str | None = None, oracles: str | Sequence[str] = DEFAULT_ORACLES,
                targets: Sequence[Target] | None = None, fcd: bool = False) -> dict[str, Any]:
        """:func:`moldiff.metrics.evaluate` of the samples (targets: the guided ones), plus speed and cost."""
        strings = [s if v else None for s, v in zip(self.table["smiles"], self.table["valid"])]
        targets = self.targets if targets is None else targets
        metrics = evaluate(strings, reference or self.reference, oracles, targets, fcd=fcd, progress=False)
        metrics["speed"] = self.speed()
        return metrics

    def speed(self) -> dict[str, float]:
        n = len(self.table)
        return {
            "seconds": round(self.seconds, 3),
            "molecules_per_second": n / self.seconds if self.seconds > 0 else float("nan"),
            "evaluations_per_molecule": self.evaluations / n if n else float("nan"),
            "classifier_passes_per_molecule": self.classifier_passes / n if n else float("nan"),
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
    t_on: float | None = None,
    t_off: float | None = None,
    alpha_on: float | None = None,
    confidence: bool | None = None,
    loop_window: bool | None = None,
    t_switch: float | None = None,
    preset: str | None = None,
    top_p: float = 1.0,
    temperature: float = 1.0,
    schedule: str = "loglinear",
    seed: int = 0,
    device: str | None = None,
    reference: str = "qm9",
    oracles: str | Sequence[str] = DEFAULT_ORACLES,
    skip_unchanged: bool = True,
    guidance: str | None = None,
    gamma: float = 1.0,
    target: str | Sequence[str] | None = None,
    classifier: str | None = None,
    top_k: int | None = None,
    progress: bool = True,
    first_index: int = 0,
) -> SampleResult:
    """Sample ``num_samples`` molecules from a model (a :class:`LoadedModel`, a name or a path).

    ``sampler`` defaults to ``remdm-loop`` for masked models, ``udlm`` and ``ar`` otherwise;
    ``confidence``, ``loop_window`` and ``t_switch`` compose ReMDM schedules (see
    :class:`~moldiff.samplers.SamplerOptions`); options left None take the sampler's defaults.
    ``guidance`` (``cfg``, ``cbg``, ``cbg-taylor``, ``fudge``) steers toward ``target`` with strength
    ``gamma``; classifiers are found under ``guidance/<target>/<process>`` unless ``classifier``
    names one (see :mod:`moldiff.guidance`). ``top_k`` (cbg, fudge) scores only the ``k`` most
    probable tokens. ``preset`` (see :mod:`moldiff.presets`, e.g. ``paper-rings-cbg``) sets the
    guidance, target and sampler settings of the ReMDM paper; explicit sampler options override it.
    Molecule ``i`` draws from its own random stream, keyed by ``(seed, first_index + i)``
    (:mod:`moldiff.streams`): ``batch_size`` never changes the molecules, and a larger
    ``num_samples`` extends a smaller one.
    """
    if num_samples < 1:
        raise MoldiffError(f"num_samples must be at least 1, not {num_samples}")
    if batch_size < 1:
        raise MoldiffError(f"batch_size must be at least 1, not {batch_size}")
    settings = apply_preset(preset, dict(
        sampler=sampler, eta=eta, t_on=t_on, t_off=t_off, alpha_on=alpha_on, confidence=confidence,
        loop_window=loop_window, t_switch=t_switch, guidance=guidance, target=target,
    ))
    guidance, target = settings.pop("guidance", None) or "none", settings.pop("target", None)
    check_option_use(guidance, gamma != 1.0, target, classifier, top_k)
    oracle_names = parse_oracles(oracles)
    if not isinstance(model, LoadedModel):
        model = load(model, device=check_device(device))
    elif device is not None:
        model.network.to(check_device(device))
    if model.kind == "classifier":
        raise MoldiffError(f"{model.path} is a guidance classifier, not a generative model")
    denoiser, targets = guided_denoiser(model, guidance, gamma, target, classifier, top_k)
    oracle_names = list(dict.fromkeys([*oracle_names, *(t.oracle for t in targets)]))
    default_sampler = {"masked": "remdm-loop", "uniform": "udlm", "autoregressive": "ar"}[denoiser.kind]
    settings["sampler"] = settings.get("sampler") or default_sampler
    options = SamplerOptions(
        steps=steps, schedule=schedule, top_p=top_p, temperature=temperature, seed=seed, skip_unchanged=skip_unchanged,
        **{k: v for k, v in settings.items() if v is not None},
    ).validate(denoiser.kind)
    if eta is not None and options.sampler not in DEFAULT_ETA:
        raise MoldiffError(f"--eta has no effect with --sampler {options.sampler}: only the remdm samplers remask")

    batches = [min(batch_size, num_samples - start) for start in range(0, num_samples, batch_size)]
    tokens, evaluations, network_seconds = [], 0, 0.0
    start = time.perf_counter()
    with tqdm(total=len(batches) * progress_total(denoiser, options), desc=f"sampling ({options.sampler})",
              disable=None if progress else True, leave=False) as bar:
        for index, size in enumerate(batches):
            streams = MoleculeStreams(seed, size, start=first_index + index * batch_size, device=denoiser.device)
            out = run_sampler(denoiser, size, options, streams=streams, progress=bar.update)
            tokens.append(out.tokens.cpu())
            evaluations += out.evaluations
            network_seconds += out.network_seconds
    seconds = time.perf_counter() - start
    table = decode_table(model, torch.cat(tokens), reference, oracle_names)
    return SampleResult(table, options, str(model.path), seconds, evaluations, network_seconds, reference, targets,
                        getattr(denoiser, "classifier_passes", 0), guidance)


def check_option_use(guidance: str, gamma_given: bool, target: str | Sequence[str] | None, classifier: str | None,
                     top_k: int | None) -> None:
    """Refuse options that would be silently ignored (checked before any model loads); warn that a
    target without guidance only reports hit fractions. ``gamma_given``: a gamma was asked for."""
    if top_k is not None and top_k < 1:
        raise MoldiffError(f"top_k (--top-k) must be at least 1, not {top_k}")
    if guidance == "none":
        if gamma_given:
            raise MoldiffError("--gamma has no effect without --guidance: add --guidance cfg, cbg, cbg-taylor or fudge")
        if _target_names(target):
            log.warning("--target without --guidance: sampling is unguided; hit fractions toward %s are reported", target)
    if top_k is not None and guidance not in ("cbg", "fudge"):
        raise MoldiffError("--top-k has no effect without --guidance cbg or fudge")
    if classifier is not None and guidance not in ("cbg", "cbg-taylor", "fudge"):
        raise MoldiffError("--classifier has no effect without --guidance cbg, cbg-taylor or fudge")


def _target_names(target: str | Sequence[str] | None) -> list[str]:
    if target is None:
        return []
    names = target.split(",") if isinstance(target, str) else list(target)
    return [n.strip() for n in names if n.strip()]


def guided_denoiser(model: LoadedModel, guidance: str, gamma: float, target: str | Sequence[str] | None,
                    classifier: str | None, top_k: int | None):
    """The model as a denoiser, wrapped for guidance; and the targets guided toward."""
    base = ModelDenoiser(model)
    check_guidance(guidance, gamma, base.kind)
    check_top_k(top_k, guidance, base)
    names = _target_names(target)
    if guidance == "none":
        return base, [load_target(n) for n in names]
    if not names:
        known = ", ".join(model.target_names) or "none"
        raise MoldiffError(f"--guidance {guidance} needs --target (this model's targets: {known})")
    if guidance == "cfg":
        missing = [n for n in names if n not in model.target_names]
        if missing:
            known = ", ".join(model.target_names) or "none (train with --targets)"
            raise MoldiffError(f"the model was not trained with target '{missing[0]}' for cfg; its targets: {known}")
        local = available_targets()
        for recorded in model.targets:
            if recorded.name in names and recorded.name in local:
                check_trained_target(recorded, read_target(local[recorded.name]), f"the model {model.path}")
        null = torch.tensor([model.network.null_labels], device=base.device)
        labels = torch.tensor([[1 if t in names else n for t, n in zip(model.target_names, model.network.null_labels)]], device=base.device)
        return CFGDenoiser(base, labels, null, gamma), [t for t in model.targets if t.name in names]
    if len(names) != 1:
        raise MoldiffError(f"--guidance {guidance} takes one target, not {len(names)}; use cfg to combine targets")
    wanted = load_target(names[0])
    process = CLASSIFIER_PROCESS[base.kind]
    clf = _load_classifier(model, names[0], process, classifier, base.device)
    check_trained_target(clf.targets[0], wanted, f"the classifier {clf.path}")
    if guidance == "fudge":
        return FudgeDenoiser(base, PrefixClassifier(clf), gamma, top_k), [wanted]
    return CBGDenoiser(base, ModelClassifier(clf), gamma, taylor=guidance == "cbg-taylor", top_k=top_k), [wanted]


def classifier_folder(target: str, process: str, representation: str) -> str:
    """Where a classifier lives under ``guidance/``: ``TARGET/PROCESS`` for SMILES, ``TARGET/PROCESS-REPRESENTATION`` otherwise."""
    return f"{target}/{process}" if representation == "smiles" else f"{target}/{process}-{representation}"


def _load_classifier(model: LoadedModel, target: str, process: str, path: str | None, device) -> LoadedModel:
    representation = model.config["representation"]
    folder = classifier_folder(target, process, representation)
    location = path or find_asset("guidance", folder)
    if location is None:
        raise MoldiffError(
            f"no {process} classifier for target '{target}' on {representation}: train one with `moldiff train-classifier "
            f"--target {target} --process {process} --representation {representation} --out guidance/{folder}`"
        )
    clf = load(location, device=device)
    if clf.kind != "classifier" or clf.process != process:
        what = clf.kind + (f" {clf.process}" if clf.process else "")
        raise MoldiffError(f"{clf.path} is not a {process} classifier (it is: {what})")
    if clf.tokenizer != model.tokenizer:
        raise MoldiffError(f"classifier {clf.path} was trained on another vocabulary than the model {model.path}")
    if clf.target_names != [target]:
        raise MoldiffError(f"classifier {clf.path} predicts {', '.join(clf.target_names)}, not '{target}'")
    return clf


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
