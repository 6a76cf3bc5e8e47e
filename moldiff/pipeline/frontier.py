"""Frontier sweeps: sample quality over a product of models, guidance, gammas, samplers and steps.

:func:`frontier` samples every point of the product (:func:`product_points`) or of a given list of
:class:`Point`, scores it (validity, uniqueness, novel count, the target property's mean over the
novel molecules, the hit fraction among them, optional FCD, denoiser evaluations per molecule and
seconds) and marks the Pareto-optimal points (most novel molecules, best property) per model and
method. Points are cached in a JSON file by their settings and the sha256 of every weights file
they use (model, and the classifier of cbg / fudge), saved after each point: a re-run or an
interrupted sweep computes only what is missing. A cached point also records the definition of the
measured target (oracle, threshold, direction) and what the novelty reference holds (its data hash
or file sha256), and answers only for the same; entries written before these were recorded count as
computed under the checkout's packaged target and the packaged qm9 data set. ``jobs`` spreads points
over processes. The points of the shipped report (:data:`SHIPPED_RESULTS`, ``reports/qm9.json``: the
shipped models at 1,024 molecules, seed 0) answer too, read-only, so a sweep over them renders at
once; the table's ``source`` says where each point came from (``computed``, ``cache``, ``shipped``).
A curve (its line, Pareto flags, hypervolume) is a model, method and sampler options, over gamma.
:meth:`Frontier.molecules` samples the first molecules of any point again, to look at them.
:class:`Frontier` writes CSV and JSON and plots novel count against mean property with matplotlib,
optionally over reference points such as the papers' (:data:`PAPER_POINTS`).

Several targets (``target="rings,qed"``): points guide toward all of them (``gammas`` items may be
tuples, one gamma per target), every target's mean property and hit fraction is measured, the
Pareto flags are over the novel count and every property (:func:`pareto_front`), the plot shows the
first two properties against each other, coloured by the novel count, and
:meth:`Frontier.hypervolume` measures each method's front exactly (:func:`hypervolume`, 2 or 3
objectives).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from moldiff.chemistry.data import data_hash, spec_sha256
from moldiff.chemistry.metrics import evaluate
from moldiff.chemistry.molfiles import check_writable
from moldiff.chemistry.targets import TARGET_FILE, Target, load_target, parse_targets, read_target
from moldiff.core.assets import CHECKOUT_ROOT
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, check_output_paths, read_json, sha256_text, write_json
from moldiff.core.runtime import check_device
from moldiff.diffusion.denoisers import DENOISER_KINDS
from moldiff.diffusion.samplers import DEFAULT_SAMPLER, SAMPLER_KIND, SAMPLERS
from moldiff.guidance.base import CLASSIFIER_PROCESS, GUIDANCE, GUIDANCE_KINDS, check_gamma
from moldiff.guidance.multi import format_gamma, is_single, target_gammas
from moldiff.guidance.presets import get_preset, preset_settings
from moldiff.pipeline.display import frontier_html
from moldiff.pipeline.options import sampling_defaults
from moldiff.pipeline.sampling import SampleResult, classifier_folder, default_reference, sample, valid_strings
from moldiff.store.modelfile import read_config, resolve_model_path
from moldiff.store.recommended import recommended_options

#: The papers' QM9 points (docs/algorithms.md), shipped as a CSV for plot overlays.
PAPER_POINTS = Path(__file__).parents[1] / "resources" / "papers_qm9_frontier.csv"
#: Frontier caches that ship with the checkout (written by scripts/report_qm9.py), read but never written by sweeps.
SHIPPED_RESULTS = (CHECKOUT_ROOT / "reports" / "qm9.json",)
#: The columns that make one curve of a sweep: its points differ only in gamma.
CURVE = ["model", "method", "options"]
PLOT_FORMATS = (".png", ".svg", ".pdf")
TABLE_OUTPUTS = (".csv", ".json")
#: A frontier point is plotted as Pareto-optimal only with at least this many novel molecules (the papers' rule).
MIN_NOVEL = 50
#: Numeric fields of a cached row (besides ``<target>_novel_mean`` and ``<target>_hit_novel``).
CACHED_NUMBERS = ("n", "validity", "uniqueness", "novelty", "novel", "fcd", "evaluations_per_molecule", "seconds")

log = logging.getLogger("moldiff")


@dataclass(frozen=True)
class Point:
    """One setting of a sweep. ``options`` holds further sampler settings that differ from the
    sampling defaults (:func:`moldiff.pipeline.options.sampling_defaults`) (sorted ``(name, value)`` pairs)."""

    model: str
    sampler: str
    steps: int
    guidance: str = "none"
    gamma: float | tuple[float, ...] = 0.0  # a tuple: one per target
    target: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The cache key: the settings, ``|``-joined (extra options appended only when there are any)."""
        base = "|".join(str(v) for v in (self.model, self.sampler, self.steps, self.guidance, _gamma_key(self.gamma), self.target))
        return base + ("|" + ",".join(f"{k}={v}" for k, v in self.options) if self.options else "")

    @property
    def method(self) -> str:
        return self.sampler if self.guidance == "none" else f"{self.sampler}, {self.guidance}"


def _gamma_key(gamma: float | Sequence[float]) -> str:
    """A gamma in a cache key: ``'2.0'``, or ``'3.0:1.0'`` with one per target."""
    return str(float(gamma)) if is_single(gamma) else ":".join(str(float(g)) for g in gamma)


def as_gamma(gamma: float | Sequence[float]) -> float | tuple[float, ...]:
    """A point's gamma: a float, or a tuple of floats (one per target; a single one is a float)."""
    if is_single(gamma):
        return float(gamma)
    values = tuple(float(g) for g in gamma)
    return values[0] if len(values) == 1 else values


def _model_kind(model: str) -> str:
    return DENOISER_KINDS.get(read_config(resolve_model_path(model))["kind"], "classifier")


def make_point(model: str, sampler: str | None, steps: int | None, guidance: str = "none",
               gamma: float | Sequence[float] = 0.0, target: str | None = None, recommended: bool = True, **options: Any) -> Point:
    """A point with its settings resolved: given > a ``preset``'s (which replaces the recommendation) >
    the model's recommended (if ``recommended``) > defaults. The preset's name stays in the point's options."""
    config = read_config(resolve_model_path(model))
    given = {k: v for k, v in {"sampler": sampler, "steps": steps, **options}.items() if v is not None}
    if given.get("preset"):
        preset = get_preset(given["preset"])
        if (guidance, target) != (preset.guidance, preset.target):
            raise MoldiffError(f"preset '{given['preset']}' is for {preset.guidance} toward {preset.target}, "
                               f"not {guidance} toward {target}")
        settings = {**preset_settings(preset, given.get("sampler")), **given}
    else:
        settings = {**(recommended_options(config, sampler) if recommended else {}), **given}
    kind = DENOISER_KINDS.get(config["kind"])
    if kind is None:
        raise MoldiffError(f"{model} is a guidance classifier, not a generative model")
    defaults = sampling_defaults()
    sampler = settings.pop("sampler", None) or DEFAULT_SAMPLER[kind]
    steps = int(settings.pop("steps", defaults["steps"]))
    extra = tuple(sorted((k, v) for k, v in settings.items() if defaults.get(k, None) != v))
    unguided = guidance == "none"
    return Point(model, sampler, steps, guidance, 0.0 if unguided else as_gamma(gamma), None if unguided else target, extra)


def compatible(point: Point) -> bool:
    """Whether the point's sampler and guidance fit its model."""
    kind = _model_kind(point.model)
    return SAMPLER_KIND.get(point.sampler) == kind and (point.guidance == "none" or kind in GUIDANCE_KINDS.get(point.guidance, ()))


def product_points(models: Sequence[str], guidance: Sequence[str] = ("none",), gammas: Sequence[float] = (1.0,),
                   samplers: Sequence[str | None] = (None,), steps: Sequence[int | None] = (None,),
                   target: str = "rings", presets: Sequence[str | None] = (None,), recommended: bool = True,
                   **options: Any) -> list[Point]:
    """Every fitting point of the product (unguided points have no gamma); an empty product is an error.

    Combinations that do not fit (a sampler or guidance method of another model kind) are left out;
    an unknown guidance method or sampler, or a negative or non-finite gamma, is an error.
    """
    for method in guidance:
        if method not in GUIDANCE:
            raise MoldiffError(f"unknown guidance '{method}': choose one of {', '.join(GUIDANCE)}")
    for sampler in samplers:
        if sampler is not None and sampler not in SAMPLERS:
            raise MoldiffError(f"unknown sampler '{sampler}': choose one of {', '.join(SAMPLERS)}")
    for gamma in gammas:
        check_gamma(gamma)
        if any(method != "none" for method in guidance):
            target_gammas(as_gamma(gamma), [t.strip() for t in target.split(",") if t.strip()])
    points: list[Point] = []
    for model, method, sampler, step, preset in itertools.product(models, guidance, samplers, steps, presets):
        if preset and get_preset(preset).guidance != method:
            continue  # a preset belongs to one guidance method
        for gamma in (0.0,) if method == "none" else gammas:
            extra = {**options, **({"preset": preset} if preset else {})}
            point = make_point(model, sampler, step, method, gamma, target, recommended, **extra)
            if compatible(point) and point not in points:
                points.append(point)
    if not points:
        raise MoldiffError("the frontier is empty: no model, sampler and guidance of the product fit together "
                           "(each list needs at least one value; see the compatibility table in docs/guidance.md)")
    return points


def weights_used(point: Point) -> dict[str, str]:
    """sha256 of the weights the point uses: the model's and, for cbg / fudge, the classifier's."""
    config = read_config(resolve_model_path(point.model))
    used = {point.model: config["weights"]["sha256"]}
    if point.guidance in ("cbg", "cbg-taylor", "fudge"):
        process = CLASSIFIER_PROCESS[DENOISER_KINDS[config["kind"]]]
        given = dict(point.options).get("classifier")
        names = given.split(",") if given else [classifier_folder(t.strip(), process, config["representation"])
                                                for t in point.target.split(",")]
        for name in names:
            used[name.strip()] = read_config(resolve_model_path(name.strip()))["weights"]["sha256"]
    return used


@dataclass
class Settings:
    """What every point of a sweep shares."""

    num_samples: int = 1024
    seed: int = 0
    target: str = "rings"
    fcd: bool = False
    reference: str = "qm9"
    batch_size: int | None = None  # None: all molecules in one batch
    partial: Path | None = None  # where the finished batches of unfinished points are kept (see run_point)
    device: str | None = None  # where points are sampled (None: cuda when available); never changes the molecules

    @property
    def targets(self) -> list[str]:
        """The measured targets (``target`` may be ``'rings,qed'``)."""
        return [t.strip() for t in self.target.split(",") if t.strip()]


def sample_point(point: Point, settings: Settings, num_samples: int, progress: bool = False) -> SampleResult:
    """The first ``num_samples`` molecules of a point (molecule ``i`` depends only on the seed and ``i``),
    in one batch unless ``batch_size`` is set."""
    return sample(point.model, num_samples, **_sample_settings(point, settings, settings.batch_size or num_samples, progress))


def _sample_settings(point: Point, settings: Settings, batch_size: int, progress: bool) -> dict[str, Any]:
    """The :func:`~moldiff.pipeline.sampling.sample` settings of a point."""
    options = dict(point.options)
    options.pop("preset", None)  # its settings are the point's own (make_point)
    return dict(sampler=point.sampler, steps=point.steps, seed=settings.seed, guidance=point.guidance,
                gamma=point.gamma if point.guidance != "none" else 1.0, target=point.target, batch_size=batch_size,
                reference=settings.reference, progress=progress, device=settings.device, **options)


def run_point(point: Point, settings: Settings, progress: bool = False) -> dict[str, Any]:
    """Sample and score one point.

    With ``settings.partial`` (a folder) and a ``batch_size`` below the molecule count, the point is
    sampled batch by batch and each finished batch's molecules are saved there
    (:func:`_partial_file`), so an interrupted point resumes from its last finished batch: the
    molecules are the same either way (molecule ``i`` depends only on the seed and ``i``). The
    point's ``seconds`` add up the time of every batch, whichever run sampled it, and its ``devices``
    say where they ran (seconds on a GPU do not compare with seconds on a CPU).
    """
    start = time.perf_counter()
    table, batches, earlier = _sample_batches(point, settings, progress)
    targets = dict(zip(settings.targets, parse_targets(settings.targets)))
    metrics = evaluate(valid_strings(table), settings.reference, tuple(dict.fromkeys(t.oracle for t in targets.values())),
                       list(targets.values()), fcd=settings.fcd, progress=False)
    measured = {}
    for name, target in targets.items():
        measured[f"{name}_novel_mean"] = metrics["properties"][target.oracle]["novel"]["mean"]
        measured[f"{name}_hit_novel"] = metrics["targets"][target.name]["hit_fraction_novel"]
    return {
        "n": metrics["n"], "validity": metrics["validity"], "uniqueness": metrics["uniqueness"],
        "novelty": metrics["novelty"], "novel": metrics["novel"],
        "fcd": metrics.get("fcd", {}).get("value"),
        **({"fcd_computed": True} if settings.fcd else {}),
        **measured,
        "evaluations_per_molecule": sum(b["evaluations"] for b in batches) / len(table),
        **({"classifier_passes_per_molecule": sum(b["classifier_passes"] for b in batches) / len(table)}
           if all("classifier_passes" in b for b in batches) else {}),
        "seconds": round(time.perf_counter() - start + earlier, 1),
        "devices": _devices(batches),
    }


def _devices(batches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Where a point's batches were sampled: per device, its batches and their seconds (batches saved
    before devices were recorded ran on CPU)."""
    out: dict[str, dict[str, Any]] = {}
    for batch in batches:
        entry = out.setdefault(batch.get("device", "cpu"), {"batches": 0, "seconds": 0.0})
        entry["batches"] += 1
        entry["seconds"] = round(entry["seconds"] + batch["seconds"], 1)
    return out


def _sample_batches(point: Point, settings: Settings, progress: bool) -> tuple[pd.DataFrame, list[dict[str, Any]], float]:
    """A point's molecules (``smiles``, ``valid``), its batches in order (their cost and device), and the
    seconds spent on batches sampled by earlier runs (resumed from ``settings.partial``; see :func:`run_point`)."""
    n = settings.num_samples
    size = min(settings.batch_size or n, n)
    path = _partial_file(settings.partial, point) if settings.partial is not None and size < n else None
    identity = {"key": point.key, "weights": weights_used(point), "seed": settings.seed, "batch_size": size}
    saved = _read_partial(path, identity)
    done = {int(first): batch for first, batch in saved.get("batches", {}).items()}
    starts = range(0, n, size)
    earlier = sum(done[first]["seconds"] for first in starts if first in done)
    if earlier:
        log.info("%s: resuming after %d of %d batches", point.key, sum(first in done for first in starts), len(starts))
    for first in starts:
        if first in done:
            continue
        result = sample(point.model, min(size, n - first), first_index=first, **_sample_settings(point, settings, size, progress))
        done[first] = {"smiles": result.table["smiles"].tolist(), "valid": result.table["valid"].tolist(),
                       "evaluations": result.evaluations, "classifier_passes": result.classifier_passes,
                       "seconds": result.seconds, "device": result.device}
        if path is not None and first + size < n:  # the last batch finishes the point, which the cache stores
            write_json({**identity, "batches": done}, path)
            if progress:
                log.info("%s: batch %d of %d saved to %s", point.key, first // size + 1, len(starts), path)
    ordered = [done[first] for first in starts]
    table = pd.DataFrame({"smiles": [s for b in ordered for s in b["smiles"]], "valid": [v for b in ordered for v in b["valid"]]})
    return table, ordered, earlier


def _partial_file(folder: Path, point: Point) -> Path:
    """Where the finished batches of an unfinished ``point`` are kept: a file per point in ``folder``."""
    return folder / f"{sha256_text(point.key)[:16]}.json"


def _read_partial(path: Path | None, identity: dict[str, Any]) -> dict[str, Any]:
    """The saved batches of a point, if ``path`` holds them for the same ``identity`` (point, weights, seed
    and, when given, batch size); anything else, a damaged file included, is sampled again."""
    if path is None or not path.is_file():
        return {}
    try:
        saved = read_json(path, "partial point")
    except MoldiffError as exc:
        log.warning("%s; sampling its batches again", exc)
        return {}
    if not isinstance(saved, dict) or any(saved.get(k) != v for k, v in identity.items()):
        return {}
    batches, size = saved.get("batches"), saved.get("batch_size")
    if (not isinstance(batches, dict) or not isinstance(size, int) or size < 1
            or not all(_batch_ok(first, b, size) for first, b in batches.items())):
        log.warning("%s is damaged; sampling its batches again", path)
        return {}
    return saved


def _batch_ok(first: str, batch: Any, size: int) -> bool:
    """Whether a saved batch is whole: a batch start, and a smiles and valid flag for each of its ``size``
    molecules (only full batches are saved), with its cost."""
    return (first.isdigit() and int(first) % size == 0 and isinstance(batch, dict)
            and isinstance(batch.get("smiles"), list) and isinstance(batch.get("valid"), list)
            and len(batch["smiles"]) == len(batch["valid"]) == size
            and all(isinstance(batch.get(k), (int, float)) for k in ("evaluations", "seconds")))


def saved_batches(cache: str | Path, point: Point, seed: int = 0) -> tuple[int, int, float]:
    """How many batches of an unfinished ``point`` are saved beside ``cache`` for today's weights and
    ``seed``, their size and the seconds they took to sample; ``(0, 0, 0.0)`` when none are."""
    saved = _read_partial(_partial_file(Path(cache).with_suffix(".partial"), point),
                          {"key": point.key, "weights": weights_used(point), "seed": seed})
    batches = saved.get("batches", {})
    return (len(batches), saved["batch_size"], float(sum(b["seconds"] for b in batches.values()))) if batches else (0, 0, 0.0)


def _forget_partial(settings: Settings, point: Point) -> None:
    """Delete a finished point's saved batches (and their folder once it is empty)."""
    if settings.partial is None:
        return
    _partial_file(settings.partial, point).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        settings.partial.rmdir()


def target_definition(target: Target) -> dict[str, Any]:
    """What a target's hits and property depend on."""
    return {"oracle": target.oracle, "threshold": float(target.threshold), "direction": target.direction}


def _recorded_reference(entry: dict[str, Any]) -> tuple[Any, Any]:
    """A cached entry's reference spec and content hash; older entries without the hash were computed on packaged qm9."""
    reference = entry.get("reference", "qm9")
    return reference, entry.get("reference_sha256", data_hash("qm9") if reference == "qm9" else None)


def _recorded_target(entry: dict[str, Any], target: str) -> dict[str, Any] | None:
    """The definition a cached entry's ``target`` metrics were computed under; older entries without
    one were computed under the checkout's packaged target of that name."""
    recorded = entry.get("targets", {}).get(target)
    packaged = CHECKOUT_ROOT / "guidance" / target / TARGET_FILE
    if recorded is None and packaged.is_file():
        return target_definition(read_target(packaged))
    return recorded


def nucleus_mode(point: Point) -> str | None:
    """What the point's top-p cuts under guidance (``model`` or ``guided``, :mod:`moldiff.diffusion.samplers`), or
    None where that makes no difference: no guidance, no top-p, or a uniform model (it always tilts within the nucleus)."""
    options = dict(point.options)
    if point.guidance == "none" or options.get("top_p", 1.0) == 1.0 or _model_kind(point.model) == "uniform":
        return None
    return options.get("nucleus", "model")


def _hit(entry: dict[str, Any] | None, point: Point, weights: dict[str, str], settings: Settings, basis: dict[str, Any]) -> bool:
    """Whether a cached entry answers the point: same weights, molecules, seed, reference content,
    target definition (``basis``: see :func:`_basis`), top-p semantics (entries from before ``nucleus``
    existed truncated the guided distribution) and the metrics asked for."""
    if not entry or entry.get("weights") != weights or entry.get("n") != settings.num_samples or entry.get("seed") != settings.seed:
        return False
    mode = nucleus_mode(point)
    if mode is not None and entry.get("nucleus", "guided") != mode:
        return False
    if _recorded_reference(entry) != (settings.reference, basis["reference_sha256"]):
        return False
    if any(f"{t}_novel_mean" not in entry or _recorded_target(entry, t) != basis["targets"][t] for t in settings.targets):
        return False
    return not settings.fcd or entry.get("fcd") is not None or bool(entry.get("fcd_computed"))


def _basis(settings: Settings) -> dict[str, Any]:
    """What a sweep's numbers rest on besides the weights: the reference content and the target definition."""
    return {"reference_sha256": spec_sha256(settings.reference),
            "targets": {t: target_definition(load_target(t)) for t in settings.targets}}


def _row_problem(row: Any) -> str | None:
    """What makes a cached row unusable (a wrong type), if anything."""
    if not isinstance(row, dict):
        return "not an object"
    for name, value in row.items():
        if name in ("weights", "options", "targets") and not isinstance(value, dict):
            return f"'{name}' is not an object"
        numeric = name in CACHED_NUMBERS or name.endswith(("_novel_mean", "_hit_novel"))
        if numeric and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"'{name}' is not a number"
    return None


def _read_cache(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {"rows": {}}
    cache = read_json(path, "frontier cache")
    if not isinstance(cache, dict) or not isinstance(cache.get("rows"), dict):
        raise MoldiffError(f"{path} is not a frontier cache (no 'rows' object); delete it or give another --cache")
    for key, row in cache["rows"].items():
        problem = _row_problem(row)
        if problem:
            raise MoldiffError(f"frontier cache {path} is damaged: row '{key}' {problem}; delete the file or fix the row")
    return cache


def _store(path: Path | None, point: Point, entry: dict[str, Any]) -> None:
    """Add one point to the cache file (re-read first, so sweeps over other points can share it); the
    metrics of other targets, and an FCD this sweep did not compute, are kept when the entry rests on the same
    weights, molecules and reference."""
    if path is None:
        return
    cache = _read_cache(path)
    old = cache["rows"].get(point.key, {})
    same = all(old.get(k) == entry[k] for k in ("weights", "n", "seed")) and _recorded_reference(old) == _recorded_reference(entry)
    kept = old if same else {}
    new = {k: v for k, v in entry.items() if v is not None or kept.get(k) is None}
    cache["rows"][point.key] = {**kept, **new, "targets": {**kept.get("targets", {}), **entry["targets"]}}
    write_json(cache, path)


#: The GPU of this worker process of a parallel sweep, when the sweep spreads its workers over several.
_WORKER_DEVICE: str | None = None


def worker_devices(device: str | None, workers: int) -> list[str] | None:
    """The device of each worker of a parallel sweep: the GPUs in turn when ``device`` leaves the GPU open
    (``None`` or ``cuda``) and the machine has several; ``None`` (every worker on ``device``) otherwise."""
    if device not in (None, "cuda") or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return None
    return [f"cuda:{i % torch.cuda.device_count()}" for i in range(workers)]


def _start_worker(devices: Any) -> None:
    """A worker process's start: take the next GPU from the sweep's queue of them."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = devices.get()


def _worker(point: Point, settings: Settings) -> dict[str, Any]:
    torch.set_num_threads(1)
    if _WORKER_DEVICE is not None:
        settings = replace(settings, device=_WORKER_DEVICE)
    return run_point(point, settings)


@dataclass(repr=False)
class Frontier:
    """The points of a sweep with their metrics (``table``), Pareto flags and the shared settings."""

    table: pd.DataFrame
    settings: Settings
    points: list[Point] = field(default_factory=list)

    @property
    def property_column(self) -> str:
        return self.property_columns[0]

    @property
    def property_columns(self) -> list[str]:
        """The mean property of the novel molecules, one column per target."""
        return [f"{t}_novel_mean" for t in self.settings.targets]

    def hypervolume(self, reference: Sequence[float] | None = None) -> pd.DataFrame:
        """Per curve (:data:`CURVE`), the exact hypervolume (:func:`hypervolume`) of its points with at least
        :data:`MIN_NOVEL` novel molecules over the novel count and each target's mean property (a ``below``
        target's negated: every objective maximised), 2 or 3 objectives. ``reference``: the point it is
        measured from in those units (default: 0 novel molecules and each property's worst value over the
        whole sweep, so that methods are compared from the same point); it is recorded in the table."""
        columns = ["novel", *self.property_columns]
        signs = np.array([1.0, *(1.0 if load_target(t).direction == "above" else -1.0 for t in self.settings.targets)])
        eligible = self.table.loc[(self.table["novel"] >= MIN_NOVEL) & self.table[columns].notna().all(axis=1)]
        values = eligible[columns].to_numpy(dtype=float) * signs
        if reference is None:
            reference = [0.0, *((values[:, 1:].min(axis=0) if len(values) else np.zeros(len(columns) - 1)) * signs[1:])]
        if len(reference) != len(columns):
            raise MoldiffError(f"the hypervolume reference needs {len(columns)} values ({', '.join(columns)}), not {len(reference)}")
        ref = np.asarray(reference, dtype=float) * signs
        rows = []
        for (model, method, options), group in curves(self.table):
            mine = values[np.isin(eligible.index, group.index)]
            rows.append({"model": model, "method": method, "options": options, "points": len(mine), "hypervolume": hypervolume(mine, ref),
                         "reference": ",".join(f"{r:g}" for r in reference)})
        return pd.DataFrame.from_records(rows)

    def molecules(self, row: int, count: int = 12, progress: bool = False) -> SampleResult:
        """The first ``count`` molecules of the point in table row ``row`` (the same molecules as the point's
        first ``count``: molecule ``i`` depends only on the seed and ``i``), sampled again to look at; in
        Jupyter the result shows a grid of them with their properties."""
        if not 0 <= row < len(self.points):
            raise MoldiffError(f"no point {row}: the frontier has points 0 to {len(self.points) - 1}")
        if count < 1:
            raise MoldiffError(f"count must be at least 1, not {count}")
        return sample_point(self.points[row], self.settings, count, progress)

    def __repr__(self) -> str:
        return f"Frontier({len(self.table)} points, {self.settings.num_samples:,} molecules each, target {self.settings.target})"

    def _repr_html_(self) -> str:
        """Jupyter's view: where the points came from and their main columns."""
        columns = ["model", "method", "options", "gamma", "validity", "novel", *self.property_columns, "pareto", "source"]
        return frontier_html(self.table, columns, self.settings.num_samples, self.settings.seed)

    def to_csv(self, path: str | Path) -> None:
        with atomic_write(path) as handle:
            self.table.to_csv(handle, index=False)

    def to_json(self, path: str | Path) -> None:
        settings = {k: v for k, v in asdict(self.settings).items() if k != "partial"}  # scratch, not a setting
        write_json({"settings": settings, "points": self.table.to_dict(orient="records")}, path)

    def save(self, path: str | Path) -> None:
        """Write the table as CSV or JSON, by the extension (:data:`TABLE_OUTPUTS`)."""
        check_writable(path, TABLE_OUTPUTS)
        (self.to_json if Path(path).suffix.lower() == ".json" else self.to_csv)(path)

    def plot(self, path: str | Path | None = None, reference: str | Path | pd.DataFrame | None = None, ax=None):
        """Novel count against the mean property of the novel molecules, one line per curve (:data:`CURVE`)
        (points in gamma order, Pareto-optimal ones filled), over ``reference`` points (a CSV with
        ``label``, ``novel``, ``mean`` and optionally ``target``; ``"papers"`` for :data:`PAPER_POINTS`).
        Several targets: the first two properties against each other instead (:meth:`_draw_properties`)."""
        import matplotlib

        if path is not None:
            check_writable(path, PLOT_FORMATS)
        if path is not None and ax is None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        if len(self.settings.targets) > 1:
            if reference is not None:
                raise MoldiffError("reference points are drawn on plots of one target, not of several")
            self._draw_properties(ax)
        else:
            self._draw_novel(ax, reference)
        ax.legend(fontsize=7)
        if fig is not None:
            fig.tight_layout()
        if path is not None:
            with atomic_write(path, "wb") as handle:
                (fig or ax.figure).savefig(handle, format=Path(path).suffix[1:].lower())
            if fig is not None:
                plt.close(fig)
        return ax


    def _draw_novel(self, ax, reference: str | Path | pd.DataFrame | None) -> None:
        y = self.property_column
        for curve, group in curves(self.table):
            group = group.sort_values("gamma")
            line, = ax.plot(group["novel"], group[y], "-", label=curve_label(*curve))
            ax.scatter(group["novel"], group[y], color=line.get_color(), facecolors=[line.get_color() if p else "white" for p in group["pareto"]], zorder=3)
            for _, row in group.iterrows():
                if row["guidance"] != "none":
                    ax.annotate(f"{row['gamma']:g}", (row["novel"], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ref = read_reference_points(reference, self.settings.target) if reference is not None else None
        if ref is not None and not ref.empty:
            for label, group in ref.groupby("label", sort=False):
                ax.plot(group["novel"], group["mean"], "x--", alpha=0.6, label=f"{label} (reference)")
        ax.set_xlabel(f"novel molecules (of {self.settings.num_samples:,})")
        ax.set_ylabel(f"mean {self.settings.target} of the novel molecules")

    def _draw_properties(self, ax) -> None:
        """The first two targets' mean properties against each other, coloured by the novel count (one marker
        per curve); Pareto-optimal points (novel count and every property) ringed in black,
        guided points labelled with their gammas."""
        (x, y), (a, b) = self.property_columns[:2], self.settings.targets[:2]
        shown = self.table.dropna(subset=[x, y])
        markers, scatter = "osD^v<>P*X", None
        for i, (curve, group) in enumerate(curves(shown)):
            scatter = ax.scatter(group[x], group[y], c=group["novel"], cmap="viridis", vmin=shown["novel"].min(),
                                 vmax=shown["novel"].max(), marker=markers[i % len(markers)], linewidths=1.2, zorder=3,
                                 edgecolors=["black" if p else "none" for p in group["pareto"]], label=curve_label(*curve))
            for _, row in group.iterrows():
                if row["guidance"] != "none":
                    label = row["gamma"] if isinstance(row["gamma"], str) else f"{row['gamma']:g}"
                    ax.annotate(label, (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if scatter is not None:
            ax.figure.colorbar(scatter, ax=ax, label=f"novel molecules (of {self.settings.num_samples:,})")
        ax.set_xlabel(f"mean {a} of the novel molecules")
        ax.set_ylabel(f"mean {b} of the novel molecules")


def curves(table: pd.DataFrame) -> Iterator[tuple[tuple[str, str, str], pd.DataFrame]]:
    """The table's rows by curve (:data:`CURVE`: model, method, options; a table without options has one curve per
    model and method), in order of appearance."""
    options = table["options"].fillna("") if "options" in table else pd.Series("", index=table.index)
    yield from table.groupby([table["model"], table["method"], options.rename("curve_options")], sort=False)


def curve_label(model: str, method: str, options: str = "") -> str:
    """``qm9-selfies-mdlm: remdm-loop, cfg (top_p=0.9)``."""
    return f"{model}: {method}" + (f" ({options})" if options else "")


def read_reference_points(source: str | Path | pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """Reference points (``label``, ``novel``, ``mean``; rows of other targets dropped when there is a ``target`` column)."""
    if isinstance(source, pd.DataFrame):
        table = source
    else:
        path = PAPER_POINTS if str(source) == "papers" else Path(source)
        try:
            table = pd.read_csv(path, comment="#")
        except (OSError, pd.errors.ParserError) as exc:
            raise MoldiffError(f"cannot read reference points {path}: {exc}") from None
    missing = [c for c in ("label", "novel", "mean") if c not in table.columns]
    if missing:
        raise MoldiffError(f"reference points need columns label, novel, mean (missing: {', '.join(missing)})")
    for column in ("novel", "mean"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column][values.isna() & table[column].notna()]
        if not bad.empty:
            raise MoldiffError(f"reference points: column {column} holds '{bad.iloc[0]}', not a number; fix the points")
        table = table.assign(**{column: values})
    if target is not None and "target" in table.columns:
        table = table.loc[table["target"] == target]
    return table


def pareto(table: pd.DataFrame, column: str, higher_is_better: bool = True) -> pd.Series:
    """Pareto-optimal rows per curve (:func:`curves`): no other row has at least as many novel molecules
    and an at least as good property, better in one. Rows with fewer than :data:`MIN_NOVEL` novel
    molecules or no property value are never optimal."""
    sign = 1.0 if higher_is_better else -1.0
    flags = pd.Series(False, index=table.index)
    for _, group in curves(table):
        eligible = group.loc[(group["novel"] >= MIN_NOVEL) & group[column].notna()]
        for i, row in eligible.iterrows():
            better = eligible.loc[(eligible["novel"] >= row["novel"]) & (sign * eligible[column] >= sign * row[column])
                                  & ((eligible["novel"] > row["novel"]) | (sign * eligible[column] > sign * row[column]))]
            flags[i] = better.empty
    return flags


def pareto_front(table: pd.DataFrame, columns: Sequence[str], higher_is_better: Sequence[bool]) -> pd.Series:
    """Pareto-optimal rows per curve over the novel count and several ``columns``: no other row
    is at least as good in every one and better in one (the rule of :func:`pareto`, in more dimensions)."""
    signs = np.array([1.0, *(1.0 if h else -1.0 for h in higher_is_better)])
    flags = pd.Series(False, index=table.index)
    for _, group in curves(table):
        eligible = group.loc[(group["novel"] >= MIN_NOVEL) & group[list(columns)].notna().all(axis=1)]
        values = eligible[["novel", *columns]].to_numpy(dtype=float) * signs
        for i, row in zip(eligible.index, values):
            dominated = ((values >= row).all(axis=1) & (values > row).any(axis=1)).any()
            flags[i] = not dominated
    return flags


def hypervolume(points: Any, reference: Sequence[float]) -> float:
    """The exact volume that ``points`` (rows; every objective maximised) dominate above ``reference``,
    for 2 or 3 objectives; points not above the reference in every objective add nothing."""
    ref = np.asarray(reference, dtype=float)
    if len(ref) not in (2, 3):
        raise MoldiffError(f"the hypervolume is exact for 2 or 3 objectives, not {len(ref)}")
    values = np.asarray(points, dtype=float).reshape(-1, len(ref))
    values = values[np.isfinite(values).all(axis=1) & (values > ref).all(axis=1)]
    if len(ref) == 2:
        return _area(values, ref)
    values = values[np.argsort(-values[:, 2], kind="stable")]
    floors = np.append(values[1:, 2], ref[2])
    # slabs between successive heights: each is dominated by the points at least that high
    return float(sum((values[i, 2] - floors[i]) * _area(values[: i + 1, :2], ref[:2]) for i in range(len(values))))


def _area(values: np.ndarray, ref: np.ndarray) -> float:
    """The 2-objective hypervolume: a sweep in decreasing first objective."""
    area, top = 0.0, ref[1]
    for x, y in values[np.argsort(-values[:, 0], kind="stable")]:
        if y > top:
            area += (x - ref[0]) * (y - top)
            top = y
    return float(area)


def frontier(
    models: str | Sequence[str] | None = None,
    *,
    guidance: str | Sequence[str] = ("none",),
    gammas: float | Sequence[float] = (1.0,),
    samplers: str | Sequence[str | None] | None = None,
    steps: int | Sequence[int | None] | None = None,
    presets: str | Sequence[str | None] | None = None,
    points: Sequence[Point] | None = None,
    num_samples: int = 1024,
    target: str = "rings",
    seed: int = 0,
    fcd: bool = False,
    reference: str | None = None,
    batch_size: int | None = None,
    recommended: bool = True,
    cache: str | Path | None = None,
    shipped: bool = True,
    jobs: int = 1,
    device: str | None = None,
    progress: bool = True,
    **options: Any,
) -> Frontier:
    """Sample and score every point of a sweep (see the module docstring); returns a :class:`Frontier`.

    ``models``, ``guidance``, ``gammas``, ``samplers``, ``steps`` and ``presets`` may be lists or
    comma-separated strings; their product is swept, unless ``points`` are given. Sampler settings
    not given take each model's recommended ones (``recommended=False``: the library defaults, the
    papers' settings); ``options`` (e.g. ``top_p``) apply to every point. ``cache`` names the JSON
    file of cached points (read first, and written after each computed point); ``shipped``: the shipped
    report's points answer too (:data:`SHIPPED_RESULTS`, read-only). ``reference`` (novelty): by default the
    data set the models learned (:func:`~moldiff.pipeline.sampling.default_reference`). ``target`` may name several targets (``"rings,qed"``); a ``gammas`` item
    may then be a tuple, one gamma per target (see the module docstring). ``device`` (``cpu``, ``cuda``,
    ``cuda:1``): where points are sampled, by default cuda when available; it never changes the molecules
    (``benchmarks/device_agreement.py``), so cached points answer whatever device computed them.
    """
    if num_samples < 1:
        raise MoldiffError(f"-n must be at least 1, not {num_samples}")
    if jobs < 1:
        raise MoldiffError(f"--jobs must be at least 1, not {jobs}")
    if batch_size is not None and batch_size < 1:
        raise MoldiffError(f"--batch-size must be at least 1, not {batch_size}")
    if device is not None:
        device = check_device(device)
    if points is None:
        if not _listed(models):
            raise MoldiffError("the frontier is empty: give at least one model")
        lists = [_listed(v) for v in (models, guidance, gammas)]
        if not all(lists):
            raise MoldiffError("the frontier is empty: every list (models, guidance, gammas) needs a value")
        points = product_points(lists[0], lists[1], [as_gamma(g) for g in lists[2]], _listed(samplers) or [None],
                                [int(s) for s in _listed(steps)] or [None], target, _listed(presets) or [None],
                                recommended, **options)
    if not points:
        raise MoldiffError("the frontier is empty: no points given")
    if reference is None:  # the data set the models learned, when they share one
        learned = {default_reference(read_config(resolve_model_path(p.model)), p.model) for p in points}
        if len(learned) > 1:
            raise MoldiffError(f"the models of this sweep learned different data sets ({', '.join(sorted(learned))}): "
                               "pass a reference (--reference) to judge the novelty of all against one")
        reference = learned.pop()
    cache_path = Path(cache) if cache is not None else None
    settings = Settings(num_samples, seed, target, fcd, reference, batch_size,
                        cache_path.with_suffix(".partial") if cache_path is not None else None, device)
    basis = _basis(settings)
    sources = [("cache", _read_cache(cache_path)["rows"])]
    sources += [("shipped", _read_cache(path)["rows"]) for path in SHIPPED_RESULTS if shipped and path.is_file()]
    weights = {p: weights_used(p) for p in points}
    rows: dict[Point, dict[str, Any]] = {}
    for point in points:
        for source, stored in sources:
            if _hit(stored.get(point.key), point, weights[point], settings, basis):
                rows[point] = {**stored[point.key], "cached": True, "source": source}
                break
    missing = [p for p in points if p not in rows]
    start = time.perf_counter()
    with tqdm(total=len(points) * num_samples, initial=len(rows) * num_samples, unit="mol", desc=f"frontier: {len(rows)}/{len(points)} points",
              disable=None if progress else True) as bar:
        lines = progress and bool(bar.disable)  # not a terminal: plain lines instead of the bar
        if lines:
            log.info("frontier: %d points, %d from the cache", len(points), len(rows))

        def done(point: Point, result: dict[str, Any]) -> None:
            entry = {**asdict(point), "options": dict(point.options), **result, "weights": weights[point], "seed": seed,
                     "reference": reference, **basis, **({"nucleus": nucleus_mode(point)} if nucleus_mode(point) else {}),
                     **({"batch_size": batch_size} if batch_size is not None and batch_size < num_samples else {})}
            _store(cache_path, point, entry)
            _forget_partial(settings, point)
            rows[point] = {**entry, "cached": False, "source": "computed"}
            bar.update(num_samples)
            bar.set_description(f"frontier: {len(rows)}/{len(points)} points")
            if lines:
                gamma = f", gamma {format_gamma(point.gamma)}" if point.guidance != "none" else ""
                log.info("frontier: %d/%d points (%s: %s%s, T = %d) (%.0f s)", len(rows), len(points), point.model,
                         point.method, gamma, point.steps, time.perf_counter() - start)

        if jobs == 1 or len(missing) < 2:
            for point in missing:
                done(point, run_point(point, settings, progress=lines))
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            workers = min(jobs, len(missing))
            # CUDA cannot be used in a forked child once the parent has asked for it: start workers afresh there.
            context = multiprocessing.get_context("spawn") if torch.cuda.is_available() else None
            initialize: dict[str, Any] = {}
            if (gpus := worker_devices(device, workers)) is not None:  # one GPU a worker, in turn
                queue = context.Queue()
                for gpu in gpus:
                    queue.put(gpu)
                initialize = {"initializer": _start_worker, "initargs": (queue,)}
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, **initialize) as pool:
                futures = {pool.submit(_worker, p, settings): p for p in missing}
                for future in as_completed(futures):
                    done(futures[future], future.result())
    return _frontier_table(points, rows, settings)


def _frontier_table(points: Sequence[Point], rows: dict[Point, dict[str, Any]], settings: Settings) -> Frontier:
    columns = [f"{t}_novel_mean" for t in settings.targets]
    measured = [c for t in settings.targets for c in (f"{t}_novel_mean", f"{t}_hit_novel")]
    records = []
    for point in points:
        row = rows[point]
        records.append({
            "model": point.model, "method": point.method, "sampler": point.sampler, "steps": point.steps,
            "guidance": point.guidance, "gamma": point.gamma if is_single(point.gamma) else ":".join(f"{g:g}" for g in point.gamma),
            "target": point.target, "options": ",".join(f"{k}={v}" for k, v in point.options),
            **{k: row.get(k) for k in ("n", "validity", "uniqueness", "novelty", "novel", "fcd", *measured,
                                         "evaluations_per_molecule", "seconds", "cached", "source")},
        })
    table = pd.DataFrame.from_records(records)
    above = [load_target(t).direction == "above" for t in settings.targets]
    if len(columns) == 1:
        table["pareto"] = pareto(table, columns[0], above[0])
    else:
        table["pareto"] = pareto_front(table, columns, above)
    return Frontier(table, settings, list(points))


def _listed(value: Any) -> list[Any]:
    """A comma-separated string or a sequence (or a scalar) as a list without blanks."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (int, float)):
        return [value]
    return [v for v in value if not (isinstance(v, str) and not v.strip())]


def check_outputs(outputs: Sequence[str | Path], plot: str | Path | None,
                  inputs: Sequence[tuple[str, str | Path | None]] = ()) -> None:
    """Fail before any work on an unsupported table or plot extension, an unwritable path, or an output
    that is one of the ``inputs`` (``(option, path)`` pairs, the cache among them) or another output."""
    for out in outputs:
        check_writable(out, TABLE_OUTPUTS)
    if plot is not None:
        check_writable(plot, PLOT_FORMATS)
    check_output_paths([*(("--out", out) for out in outputs), ("--plot", plot)], inputs)
