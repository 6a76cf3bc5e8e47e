"""High-level sampling: a loaded model in, decoded and scored molecules out.

:func:`sample` builds the (guided) denoiser, runs a sampler in batches (one random stream per
molecule: the same seed gives the same molecules whatever the batch size), then decodes, marks
novelty and scores every sequence (:func:`moldiff.chemistry.metrics.molecule_table`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from moldiff.chemistry.data import FETCHED_DATASETS, fetched_dir, parse_spec
from moldiff.chemistry.metrics import evaluate, molecule_table
from moldiff.chemistry.oracles import parse_oracles
from moldiff.chemistry.targets import Target, available_targets, check_trained_target, load_target, read_target
from moldiff.core.assets import DEFAULT_MODEL, find_asset
from moldiff.core.errors import MoldiffError
from moldiff.core.runtime import check_device, device_label
from moldiff.diffusion.denoisers import ModelDenoiser
from moldiff.diffusion.samplers import DEFAULT_ETA, DEFAULT_SAMPLER, SamplerOptions, progress_total, sample_tokens
from moldiff.guidance.base import CLASSIFIER_PROCESS, NetworkClassifier, PrefixClassifier, check_guidance, check_top_k
from moldiff.guidance.cbg import CBGDenoiser
from moldiff.guidance.cfg import CFGDenoiser
from moldiff.guidance.fudge import FudgeDenoiser
from moldiff.guidance.multi import combine, is_single, network_passes, target_gammas
from moldiff.guidance.presets import apply_preset
from moldiff.pipeline.constraints import check_constraint_model, make_constraint
from moldiff.pipeline.display import result_html, sample_title
from moldiff.pipeline.options import DEFAULT_ORACLES, SampleOptions, check_count
from moldiff.store.modelfile import StoredModel, read_model

if TYPE_CHECKING:
    from moldiff.guidance.multi import Gamma
    from moldiff.pipeline.model import LoadedModel

log = logging.getLogger("moldiff")


@dataclass(repr=False)
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
    device: str = "cpu"  # where it was sampled (core.runtime.device_label)

    def to_dataframe(self) -> pd.DataFrame:
        """The molecules as a DataFrame (a copy)."""
        return self.table.copy()

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES of the valid molecules, in sampling order."""
        return self.table.loc[self.table["valid"], "smiles"].tolist()

    def metrics(self, reference: str | None = None, oracles: str | Sequence[str] = DEFAULT_ORACLES,
                targets: Sequence[Target] | None = None, fcd: bool = False) -> dict[str, Any]:
        """:func:`moldiff.chemistry.metrics.evaluate` of the samples (targets: the guided ones), plus speed and cost."""
        targets = self.targets if targets is None else targets
        metrics = evaluate(valid_strings(self.table), reference or self.reference, oracles, targets, fcd=fcd, progress=False)
        metrics["speed"] = self.speed()
        return metrics

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.table)} molecules from {self.title()})"

    def _repr_html_(self) -> str:
        """Jupyter's view: settings, validity, novelty and property means, and a grid of the first molecules."""
        return result_html(self.title(), self.table)

    def title(self) -> str:
        """One line: model, sampler, steps, guidance and time."""
        return sample_title(self.model, self.options.sampler, self.options.steps, self.guidance,
                            [t.name for t in self.targets], self.seconds)

    def speed(self) -> dict[str, float]:
        n = len(self.table)
        return {
            "seconds": round(self.seconds, 3),
            "molecules_per_second": n / self.seconds if self.seconds > 0 else float("nan"),
            "evaluations_per_molecule": self.evaluations / n if n else float("nan"),
            "classifier_passes_per_molecule": self.classifier_passes / n if n else float("nan"),
            "network_time_fraction": self.network_seconds / self.seconds if self.seconds > 0 else float("nan"),
        }


def sample(model: StoredModel | LoadedModel | str = DEFAULT_MODEL, num_samples: int = 256, options: SampleOptions | None = None, *,
           first_index: int = 0, **settings: Any) -> SampleResult:
    """Sample ``num_samples`` molecules from a model (loaded, a name or a path) with ``options``.

    ``settings`` are fields of :class:`SampleOptions` that replace those of ``options``; unset fields
    take :data:`moldiff.pipeline.options.DEFAULTS`, then the sampler's defaults (the model's
    recommendation is applied one level up, by :func:`moldiff.pipeline.generate.generate`). The
    sampler defaults to ``remdm-loop`` for masked models, ``udlm`` and ``ar`` otherwise;
    ``confidence``, ``loop_window`` and ``t_switch`` compose ReMDM schedules (see
    :class:`~moldiff.diffusion.samplers.SamplerOptions`). ``guidance`` (``cfg``, ``cbg``,
    ``cbg-taylor``, ``fudge``) steers toward ``target`` (one or several) with strength ``gamma`` (one
    number, or one per target: :func:`guided_denoiser`); classifiers are found under
    ``guidance/<target>/<process>`` unless ``classifier`` names them (comma-separated, one per target; see
    :mod:`moldiff.guidance`). ``top_k`` (cbg, fudge) scores only the ``k`` most probable tokens.
    ``preset`` (see :mod:`moldiff.guidance.presets`, e.g. ``paper-rings-cbg``) sets the guidance,
    target and sampler settings of the ReMDM paper; explicit sampler options override it. Molecule
    ``i`` draws from its own random stream, keyed by ``(seed, first_index + i)``
    (:mod:`moldiff.diffusion.streams`): ``batch_size`` never changes the molecules, and a larger
    ``num_samples`` extends a smaller one. Filters (``keep``, ``where``) belong to ``generate``.
    ``scaffold``, ``fragments`` or ``start`` hold tokens fixed (:mod:`moldiff.pipeline.constraints`).
    """
    options = (options or SampleOptions()).replace(**settings)
    if options.keep or options.where or options.max_samples is not None:
        raise MoldiffError("keep, where and max_samples filter rounds of samples: use model.sample() or generate()")
    num_samples = check_count(num_samples)
    if options.batch_size < 1:
        raise MoldiffError(f"batch_size must be at least 1, not {options.batch_size}")
    chosen = {k: getattr(options, k) for k in PRESET_KEYS}
    settings = apply_preset(options.preset, chosen)
    guidance, target = settings.pop("guidance", None) or "none", settings.pop("target", None)
    gamma = options.value("gamma")
    check_option_use(guidance, gamma != 1.0, target, options.classifier, options.top_k)
    oracle_names = parse_oracles(options.value("oracles"))
    constraint = make_constraint(options)
    model = as_record(model, options.device)
    if model.kind == "classifier":
        raise MoldiffError(f"{model.path} is a guidance classifier, not a generative model")
    reference = options.reference or default_reference(model.config, model.path.name)
    denoiser, targets = guided_denoiser(model, guidance, gamma, target, options.classifier, options.top_k)
    oracle_names = list(dict.fromkeys([*oracle_names, *(t.oracle for t in targets)]))
    settings["sampler"] = settings.get("sampler") or DEFAULT_SAMPLER[denoiser.kind]
    sampler_options = options.sampler_options(**settings).validate(denoiser.kind)
    check_constraint_model(constraint, denoiser.kind, model.tokenizer, sampler_options.seed)
    if options.eta is not None and sampler_options.sampler not in DEFAULT_ETA:
        raise MoldiffError(f"--eta has no effect with --sampler {sampler_options.sampler}: only the remdm samplers remask")

    batches, per_batch = -(-num_samples // options.batch_size), progress_total(denoiser, sampler_options)
    unit = "position" if denoiser.kind == "autoregressive" else "step"

    def reached(done: int) -> str:
        batch = (done - 1) // per_batch + 1
        return f"sampling ({sampler_options.sampler}): batch {batch}/{batches}, {unit} {done - (batch - 1) * per_batch}/{per_batch}"

    start = time.perf_counter()
    with tqdm(total=batches * per_batch, desc=f"sampling ({sampler_options.sampler})",
              disable=None if options.progress else True, leave=False) as bar:
        update = ProgressLines(batches * per_batch, reached).update if options.progress and bar.disable else bar.update
        if constraint is None:
            out = sample_tokens(denoiser, num_samples, sampler_options, options.batch_size, first_index, update)
            table = molecule_table(model.tokenizer, out.tokens.numpy(), reference, oracle_names)
        else:
            table, out = constraint.sample(denoiser, model.tokenizer, num_samples, sampler_options, options.batch_size,
                                           first_index, reference, oracle_names, update)
    seconds = time.perf_counter() - start
    return SampleResult(table, sampler_options, str(model.path), seconds, out.evaluations, out.network_seconds,
                        reference, targets, network_passes(denoiser), guidance, device_label(model.device))


def valid_strings(table: pd.DataFrame) -> list[str | None]:
    """A molecule table's canonical SMILES, None for an invalid molecule (what the metrics take)."""
    return [s if v else None for s, v in zip(table["smiles"], table["valid"])]


def default_reference(config: dict[str, Any], name: str) -> str:
    """What novelty is judged against when the user names nothing: the built-in data set the model
    (``config``, shown as ``name``) was trained on, all its splits (``moses`` for a MOSES model: an error
    saying how to fetch it when it is not here), else ``qm9`` (a model trained on a file: pass ``reference``)."""
    parsed = parse_spec(str(config.get("data", {}).get("spec", "")))
    if parsed is None:
        return "qm9"
    if parsed[0] in FETCHED_DATASETS:
        try:
            fetched_dir(parsed[0])
        except MoldiffError:
            raise MoldiffError(f"{name} judges novelty against the {parsed[0]} data it learned, which is not "
                               f"fetched here: run `moldiff data fetch {parsed[0]}` once, or pass a reference "
                               "(--reference qm9, or a molecule file)") from None
    return parsed[0]


class ProgressLines:
    """Plain progress lines on the ``moldiff`` logger about every 5% of ``total`` units, for output that is
    not a terminal (a batch job's log), where the tqdm bar is off; ``describe`` words how far ``done`` is."""

    def __init__(self, total: int, describe: Callable[[int], str]) -> None:
        self.total, self.describe, self.every = total, describe, max(1, total // 20)
        self.done, self.shown, self.started = 0, 0, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done - self.shown >= self.every or (self.done >= self.total > self.shown):
            self.shown = self.done
            log.info("%s (%.0f s)", self.describe(self.done), time.perf_counter() - self.started)


#: The settings a preset may set (the sampler's and the guidance's).
PRESET_KEYS = ("sampler", "eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch", "guidance", "target")


def as_record(model: StoredModel | LoadedModel | str, device: str | None) -> StoredModel:
    """The store record of ``model`` (read by name or path), on ``device`` when one is given."""
    if isinstance(model, (str, Path)):
        return read_model(model, device=check_device(device))
    record = getattr(model, "record", model)  # a pipeline LoadedModel wraps its record
    if device is not None:
        record.network.to(check_device(device))
    return record


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


def guided_denoiser(model: StoredModel, guidance: str, gamma: Gamma, target: str | Sequence[str] | None,
                    classifier: str | None, top_k: int | None):
    """The model as a denoiser, wrapped for guidance; and the targets guided toward.

    ``gamma``: one number for every target, or one per target (:mod:`moldiff.guidance.multi`); cbg and
    fudge tilt by the product of the per-target tilts; cfg with one number conditions on every target
    jointly, with one per target mixes each target's condition (:mod:`moldiff.guidance.cfg`).
    """
    base = ModelDenoiser(model)
    check_guidance(guidance, gamma, base.kind)
    check_top_k(top_k, guidance, base)
    names = _target_names(target)
    if guidance == "none":
        return base, [load_target(n) for n in names]
    if not names:
        known = ", ".join(model.target_names) or "none"
        raise MoldiffError(f"--guidance {guidance} needs --target (this model's targets: {known})")
    gammas = target_gammas(gamma, names)
    if guidance == "cfg":
        missing = [n for n in names if n not in model.target_names]
        if missing:
            known = ", ".join(model.target_names) or "none (train with --targets)"
            raise MoldiffError(f"the model was not trained with target '{missing[0]}' for cfg; its targets: {known}")
        local = available_targets()
        for recorded in model.targets:
            if recorded.name in names and recorded.name in local:
                check_trained_target(recorded, read_target(local[recorded.name]), f"the model {model.path}")
        nulls = model.network.null_labels
        null = torch.tensor([nulls], device=base.device)
        conditions = [names] if is_single(gamma) else [[name] for name in names]  # jointly, or one condition per target
        labels = torch.tensor([[1 if t in wanted else n for t, n in zip(model.target_names, nulls)] for wanted in conditions],
                              device=base.device)
        return CFGDenoiser(base, labels, null, gamma if is_single(gamma) else gammas), [t for t in model.targets if t.name in names]
    paths = [None] * len(names) if classifier is None else [c.strip() for c in classifier.split(",")]
    if len(paths) != len(names):
        raise MoldiffError(f"--classifier gives {len(paths)} classifiers for {len(names)} targets ({', '.join(names)}): "
                           "give one per target, comma-separated, or leave it out")
    wanted = [load_target(n) for n in names]
    process = CLASSIFIER_PROCESS[base.kind]
    adapt = PrefixClassifier if guidance == "fudge" else NetworkClassifier
    scorers = []
    for name, path, target_record in zip(names, paths, wanted):
        clf = _load_classifier(model, name, process, path, base.device)
        check_trained_target(clf.targets[0], target_record, f"the classifier {clf.path}")
        scorers.append(adapt(clf.network))
    scorer, strength = combine(scorers, gammas)
    if guidance == "fudge":
        return FudgeDenoiser(base, scorer, strength, top_k), wanted
    return CBGDenoiser(base, scorer, strength, taylor=guidance == "cbg-taylor", top_k=top_k), wanted


def classifier_folder(target: str, process: str, representation: str) -> str:
    """Where a classifier lives under ``guidance/``: ``TARGET/PROCESS`` for SMILES, ``TARGET/PROCESS-REPRESENTATION`` otherwise."""
    return f"{target}/{process}" if representation == "smiles" else f"{target}/{process}-{representation}"


def _load_classifier(model: StoredModel, target: str, process: str, path: str | None, device) -> StoredModel:
    representation = model.config["representation"]
    folder = classifier_folder(target, process, representation)
    location = path or find_asset("guidance", folder)
    if location is None:
        raise MoldiffError(
            f"no {process} classifier for target '{target}' on {representation}: train one with `moldiff train-classifier "
            f"--target {target} --process {process} --representation {representation} --out guidance/{folder}`"
        )
    clf = read_model(location, device=device)
    if clf.kind != "classifier" or clf.process != process:
        what = clf.kind + (f" {clf.process}" if clf.process else "")
        raise MoldiffError(f"{clf.path} is not a {process} classifier (it is: {what})")
    if clf.tokenizer != model.tokenizer:
        raise MoldiffError(f"classifier {clf.path} was trained on another vocabulary than the model {model.path}")
    if clf.target_names != [target]:
        raise MoldiffError(f"classifier {clf.path} predicts {', '.join(clf.target_names)}, not '{target}'")
    return clf
