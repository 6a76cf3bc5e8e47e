"""Generate until enough candidates pass: seeded sampling rounds with filters.

:func:`generate` calls :func:`moldiff.sampling.sample` in rounds until ``num_samples`` molecules pass
the filters or the budget ``max_samples`` is spent. Filters:

- ``keep``: ``valid``; ``unique`` (the first occurrence in the run of its canonical SMILES);
  ``novel`` (valid and absent from the reference); ``hits`` (a hit of every target: the guided ones,
  or those given with ``target``);
- ``where``: conditions on any oracle, ``"qed>0.5,sa<4"`` (operators ``> >= < <= =``); an invalid
  molecule fails every condition.

Every round continues the same per-molecule random streams (:mod:`moldiff.streams`): the molecule
generated ``i``-th is molecule ``i`` of one long sampling run with ``seed``, so without filters the
result is that of one sampling run, and the same seed gives the same result.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import MoldiffError
from .modelfile import LoadedModel, load
from .oracles import get_oracle, parse_oracles
from .runtime import check_device, torch_threads
from .sampling import DEFAULT_ORACLES, SampleResult, sample

log = logging.getLogger("moldiff")

KEEP_WORDS = ("valid", "unique", "novel", "hits")
#: Default budget, as a multiple of the number of molecules wanted, when filters are given.
DEFAULT_BUDGET_FACTOR = 10
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(>=|<=|>|<|==|=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``oracle op value``, e.g. ``qed > 0.5``."""

    oracle: str
    op: str
    value: float

    def test(self, values: np.ndarray) -> np.ndarray:
        """Which of the oracle values pass (NaN, an invalid molecule, never does)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return _OPERATORS[self.op](values, self.value) & np.isfinite(values)

    def __str__(self) -> str:
        return f"{self.oracle}{self.op}{self.value:g}"


def parse_keep(keep: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate ``keep`` words given as ``'valid,novel'`` or a list."""
    if keep is None:
        return ()
    words = [w.strip() for w in (keep.split(",") if isinstance(keep, str) else keep) if w.strip()]
    for word in words:
        if word not in KEEP_WORDS:
            raise MoldiffError(f"unknown --keep word '{word}': choose from {', '.join(KEEP_WORDS)}")
    return tuple(dict.fromkeys(words))


def parse_where(where: str | Sequence[str] | None) -> tuple[Condition, ...]:
    """Parse ``'qed>0.5,sa<4'`` (or a list of such conditions) into conditions on known oracles."""
    if where is None:
        return ()
    parts = [p for p in (where.split(",") if isinstance(where, str) else where) if p.strip()]
    conditions = []
    for part in parts:
        match = _CONDITION.match(part)
        if match is None:
            raise MoldiffError(f"malformed --where condition '{part.strip()}': write ORACLE OP NUMBER, e.g. qed>0.5 "
                               f"(operators {' '.join(_OPERATORS)})")
        name, op, value = match.groups()
        conditions.append(Condition(get_oracle(name).name, "=" if op == "==" else op, float(value)))
    return tuple(conditions)


def check_budget(num_samples: int, max_samples: int | None, filtered: bool) -> int:
    """The budget of generated molecules: ``max_samples``, or a default when filters are given."""
    if max_samples is None:
        return num_samples * DEFAULT_BUDGET_FACTOR if filtered else num_samples
    if max_samples < num_samples:
        raise MoldiffError(f"--max-samples ({max_samples}) must be at least -n ({num_samples})")
    return max_samples


@dataclass
class GenerateResult(SampleResult):
    """A :class:`SampleResult` whose ``table`` holds every generated molecule with a ``kept`` column.

    :meth:`to_dataframe` returns the kept molecules (``all=True``: every one); :meth:`metrics` covers
    every generated molecule and adds the ``yield``.
    """

    requested: int = 0
    keep: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()
    passed: int = 0
    rounds: int = 1
    seed: int = 0

    @property
    def generated(self) -> int:
        return len(self.table)

    @property
    def kept(self) -> int:
        return int(self.table["kept"].sum())

    @property
    def complete(self) -> bool:
        """Whether as many molecules passed as were requested."""
        return self.kept >= self.requested

    @property
    def filtered(self) -> bool:
        return bool(self.keep or self.where)

    def to_dataframe(self, all: bool = False) -> pd.DataFrame:  # noqa: A002 (the CLI's --all)
        """The kept molecules (a copy); ``all=True``: every generated one, with the ``kept`` column."""
        if all:
            return self.table.copy()
        return self.table.loc[self.table["kept"]].drop(columns="kept").reset_index(drop=True)

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES of the kept valid molecules, in sampling order."""
        kept = self.table.loc[self.table["kept"] & self.table["valid"]]
        return kept["smiles"].tolist()

    def yield_summary(self) -> dict[str, Any]:
        return {
            "requested": self.requested, "generated": self.generated, "passed": self.passed, "kept": self.kept,
            "yield": self.passed / self.generated if self.generated else float("nan"),
            "keep": list(self.keep), "where": [str(c) for c in self.where], "rounds": self.rounds,
            "seed": self.seed, "complete": self.complete,
        }

    def metrics(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        metrics = super().metrics(*args, **kwargs)
        metrics["yield"] = self.yield_summary()
        return metrics

    def message(self) -> str:
        """One line on the yield; says plainly when the budget ran out."""
        y = self.yield_summary()
        line = f"generated {y['generated']}, passed {y['passed']} ({y['yield']:.1%} yield) in {y['rounds']} round(s)"
        if not self.complete:
            line += (f"; budget spent: only {self.kept} of the {self.requested} requested molecules passed "
                     f"(raise --max-samples or relax the filters)")
        return line


#: Keys of a model config's ``sampling`` record: the recommended settings (issue: per-model defaults).
RECOMMENDED_KEYS = ("sampler", "steps", "eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch",
                    "schedule", "top_p", "temperature")
#: Settings that belong to the recommended sampler and do not carry over to another one.
SAMPLER_SPECIFIC = ("eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch")


def recommended_options(config: dict[str, Any], sampler: str | None = None) -> dict[str, Any]:
    """The sampling settings a model's ``config.json`` recommends (its ``sampling`` record).

    When the user picks another sampler than the recommended one, the recommended sampler's own
    parameters (eta, t_on, t_off, alpha_on) are left out; steps, schedule, top-p and temperature stay.
    """
    record = config.get("sampling") or {}
    if not isinstance(record, dict):
        raise MoldiffError(f"the 'sampling' record of {config.get('kind', 'the')} model config must be a table of settings")
    unknown = sorted(set(record) - set(RECOMMENDED_KEYS))
    if unknown:
        raise MoldiffError(f"unknown recommended sampling setting(s) {', '.join(unknown)} in the model config "
                           f"(known: {', '.join(RECOMMENDED_KEYS)})")
    if sampler is not None and record.get("sampler", sampler) != sampler:
        return {k: v for k, v in record.items() if k not in (*SAMPLER_SPECIFIC, "sampler")}
    return dict(record)


def parse_recommendation(text: str) -> dict[str, Any]:
    """``sampler=remdm-loop,steps=128,top_p=0.9`` as a ``sampling`` record: values that read as JSON
    (numbers, true/false) are converted, others stay strings; an item without a value is a one-line
    error. Keys are checked where the record is used (:func:`recommended_options`)."""
    record: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        key, _, value = (piece.strip() for piece in item.partition("="))
        if not value:
            raise MoldiffError(f"recommended setting '{item}' needs a value, like top_p=0.9")
        try:
            record[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            record[key.replace("-", "_")] = value
    return record


def passing(table: pd.DataFrame, keep: Sequence[str], where: Sequence[Condition], targets: Sequence[Any],
            seen: set[str]) -> np.ndarray:
    """Which rows pass the filters; ``seen`` (canonical SMILES of earlier rows) is updated."""
    ok = np.ones(len(table), dtype=bool)
    if keep or where:
        ok &= table["valid"].to_numpy()
    if "novel" in keep:
        ok &= table["novel"].to_numpy()
    if "hits" in keep:
        for target in targets:
            ok &= target.labels(table[target.oracle].to_numpy())
    for condition in where:
        ok &= condition.test(table[condition.oracle].to_numpy())
    first = np.zeros(len(table), dtype=bool)
    for i, (smiles, valid) in enumerate(zip(table["smiles"], table["valid"])):
        if valid and smiles not in seen:
            first[i] = True
            seen.add(smiles)
    if "unique" in keep:
        ok &= first
    return ok


def _round_size(wanted: int, passed: int, generated: int, budget_left: int) -> int:
    """Molecules to draw next: enough for the remaining ones at the yield so far (doubling when nothing passed)."""
    remaining = wanted - passed
    size = generated if passed == 0 else math.ceil(1.2 * remaining * generated / passed)
    return max(1, min(budget_left, max(size, remaining)))


def generate(
    model: Any,
    num_samples: int = 256,
    *,
    keep: str | Sequence[str] | None = None,
    where: str | Sequence[str] | None = None,
    max_samples: int | None = None,
    seed: int | None = 0,
    oracles: str | Sequence[str] | None = None,
    progress: bool = True,
    threads: int | str | None = None,
    **options: Any,
) -> GenerateResult:
    """Sample in seeded rounds until ``num_samples`` molecules pass ``keep`` and ``where`` (see the
    module docstring) or ``max_samples`` molecules have been generated; other options as
    :func:`moldiff.sampling.sample`, where an option left out (or None) takes the model's
    recommended value (:func:`recommended_options`). Without filters this is one sampling run.
    ``seed=None`` draws a seed, logs it and records it in the result's ``seed``. ``threads``: torch
    threads while sampling (:func:`moldiff.runtime.torch_threads`)."""
    with torch_threads(threads):
        return _generate(model, num_samples, keep, where, max_samples, seed, oracles, progress, options)


def _generate(model: Any, num_samples: int, keep: Any, where: Any, max_samples: int | None, seed: int | None,
              oracles: Any, progress: bool, options: dict[str, Any]) -> GenerateResult:
    if num_samples < 1:
        raise MoldiffError(f"-n must be at least 1, not {num_samples}")
    keep, conditions = parse_keep(keep), parse_where(where)
    budget = check_budget(num_samples, max_samples, bool(keep or conditions))
    names = list(dict.fromkeys([*parse_oracles(DEFAULT_ORACLES if oracles is None else oracles),
                                *(c.oracle for c in conditions)]))
    if "hits" in keep and not (options.get("target")):
        raise MoldiffError("--keep hits needs a target: give --target (and optionally --guidance)")
    if seed is None:
        seed = secrets.randbelow(2**31)
        log.info(f"seed {seed} (drawn at random; pass seed={seed} to repeat this run)")
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise MoldiffError(f"seed must be an integer or None, not {seed!r}")
    options = {k: v for k, v in options.items() if v is not None}
    if not isinstance(model, LoadedModel):
        model = load(model, device=check_device(options.get("device")))
    if options.get("preset") is None:  # a preset is a whole choice of settings: the papers', not the model's
        options = {**recommended_options(model.config, options.get("sampler")), **options}
    results: list[SampleResult] = []
    tables, seen, passed, generated = [], set(), 0, 0
    size = num_samples
    while True:
        result = sample(model, size, seed=seed, first_index=generated, oracles=names, progress=progress, **options)
        results.append(result)
        ok = passing(result.table, keep, conditions, result.targets, seen)
        tables.append(result.table.assign(kept=ok))
        passed += int(ok.sum())
        generated += size
        if passed >= num_samples or generated >= budget or not (keep or conditions):
            break
        size = _round_size(num_samples, passed, generated, budget - generated)
    table = pd.concat(tables, ignore_index=True)
    kept = table["kept"].to_numpy(copy=True)
    kept[np.flatnonzero(kept)[num_samples:]] = False  # exactly num_samples, in sampling order
    table["kept"] = kept
    first = results[0]
    out = GenerateResult(
        table, first.options, first.model, sum(r.seconds for r in results), sum(r.evaluations for r in results),
        sum(r.network_seconds for r in results), first.reference, first.targets,
        sum(r.classifier_passes for r in results), first.guidance, requested=num_samples, keep=keep, where=conditions, passed=passed, rounds=len(results), seed=seed,
    )
    if not out.complete:
        log.warning(out.message())
    return out
