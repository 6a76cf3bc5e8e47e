"""Generate until enough candidates pass: seeded sampling rounds with filters.

:func:`generate` calls :func:`moldiff.pipeline.sampling.sample` in rounds until ``num_samples`` molecules pass
the filters or the budget ``max_samples`` is spent. Filters:

- ``keep``: ``valid``; ``unique`` (the first occurrence in the run of its canonical SMILES);
  ``novel`` (valid and absent from the reference); ``hits`` (a hit of every target: the guided ones,
  or those given with ``target``); ``alert-free`` (passes the filters MOSES built its data with: no
  MCF or PAINS structural alert, no charged atom, no ring of 8+ atoms, only C N S O F Cl Br H;
  :func:`moldiff.chemistry.moses.filter_failure`);
- ``where``: conditions on any oracle, ``"qed>0.5,sa<4"`` (operators ``> >= < <= =``), and on
  substructures: ``has(SMARTS)`` (the molecule contains the pattern) and ``lacks(SMARTS)`` (it does
  not), e.g. ``"has(c1ccccc1),lacks([N,O]),qed>0.5"`` (commas inside the parentheses belong to the
  pattern). ``keep`` takes ``has(...)``/``lacks(...)`` too. An invalid molecule fails every condition.

Every round continues the same per-molecule random streams (:mod:`moldiff.diffusion.streams`): the molecule
generated ``i``-th is molecule ``i`` of one long sampling run with ``seed``, so without filters the
result is that of one sampling run, and the same seed gives the same result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from moldiff.chemistry.molecules import to_mol
from moldiff.chemistry.moses import passes_filters
from moldiff.chemistry.oracles import get_oracle, parse_oracles
from moldiff.chemistry.scaffolds import has_substructure, parse_smarts
from moldiff.core.errors import MoldiffError
from moldiff.core.runtime import torch_threads
from moldiff.pipeline.constraints import make_constraint
from moldiff.pipeline.display import result_html
from moldiff.pipeline.options import SampleOptions, check_count
from moldiff.pipeline.sampling import SampleResult, as_record, sample
from moldiff.store.modelfile import CONFIG_FILE
from moldiff.store.recommended import recommended_options

if TYPE_CHECKING:
    from moldiff.pipeline.model import LoadedModel
    from moldiff.store.modelfile import StoredModel

log = logging.getLogger("moldiff")

KEEP_WORDS = ("valid", "unique", "novel", "hits", "alert-free")
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

    def passes(self, table: pd.DataFrame) -> np.ndarray:
        return self.test(table[self.oracle].to_numpy())

    def __str__(self) -> str:
        return f"{self.oracle}{self.op}{self.value:g}"


@dataclass(frozen=True)
class Substructure:
    """``has(SMARTS)`` or ``lacks(SMARTS)``: whether a molecule contains a pattern (RDKit)."""

    smarts: str
    present: bool

    def passes(self, table: pd.DataFrame) -> np.ndarray:
        """Which rows pass (an invalid molecule never does)."""
        found = has_substructure([s if v else None for s, v in zip(table["smiles"], table["valid"])], self.smarts)
        return (found if self.present else ~found) & table["valid"].to_numpy(dtype=bool)

    def __str__(self) -> str:
        return f"{'has' if self.present else 'lacks'}({self.smarts})"


_SUBSTRUCTURE = re.compile(r"^\s*(has|lacks)\((.*)\)\s*$", re.DOTALL)


def split_filters(text: str | Sequence[str] | None) -> list[str]:
    """Comma-separated items, keeping commas inside parentheses and brackets (a SMARTS's) in their item."""
    if text is None:
        return []
    if not isinstance(text, str):
        return [t for t in text if t.strip()]
    items, depth, current = [], 0, ""
    for char in text:
        depth += (char in "([") - (char in ")]")
        if char == "," and depth <= 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [t for t in [*items, current] if t.strip()]


def parse_substructure(item: str) -> Substructure | None:
    """A ``has(SMARTS)``/``lacks(SMARTS)`` item (the pattern checked), or ``None`` for another item."""
    match = _SUBSTRUCTURE.match(item)
    if match is None:
        return None
    word, smarts = match.groups()
    parse_smarts(smarts.strip(), f"{word}() pattern")
    return Substructure(smarts.strip(), word == "has")


def keep_conditions(keep: str | Sequence[str] | None) -> tuple[Substructure, ...]:
    """The ``has(...)``/``lacks(...)`` items of ``keep``."""
    return tuple(c for c in (parse_substructure(item) for item in split_filters(keep)) if c is not None)


def parse_keep(keep: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate ``keep`` words given as ``'valid,novel'`` or a list."""
    if keep is None:
        return ()
    words = [w.strip() for w in split_filters(keep) if parse_substructure(w) is None]
    for word in words:
        if word not in KEEP_WORDS:
            raise MoldiffError(f"unknown --keep word '{word}': choose from {', '.join(KEEP_WORDS)}")
    return tuple(dict.fromkeys(words))


def parse_where(where: str | Sequence[str] | None) -> tuple[Condition | Substructure, ...]:
    """Parse ``'qed>0.5,sa<4,has(c1ccccc1)'`` (or a list of such conditions) into conditions on known
    oracles and substructures."""
    conditions: list[Condition | Substructure] = []
    for part in split_filters(where):
        substructure = parse_substructure(part)
        if substructure is not None:
            conditions.append(substructure)
            continue
        match = _CONDITION.match(part)
        if match is None:
            raise MoldiffError(f"malformed --where condition '{part.strip()}': write ORACLE OP NUMBER, e.g. qed>0.5 "
                               f"(operators {' '.join(_OPERATORS)}), or has(SMARTS) / lacks(SMARTS)")
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


@dataclass(repr=False)
class GenerateResult(SampleResult):
    """A :class:`SampleResult` whose ``table`` holds every generated molecule with a ``kept`` column.

    :meth:`to_dataframe` returns the kept molecules (``all=True``: every one); :meth:`metrics` covers
    every generated molecule and adds the ``yield``.
    """

    requested: int = 0
    keep: tuple[str, ...] = ()
    where: tuple[Condition | Substructure, ...] = ()
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
        """The metrics of every generated molecule, their ``yield`` and, when filtered, the metrics of
        the ``kept`` ones (without speed)."""
        metrics = super().metrics(*args, **kwargs)
        metrics["yield"] = self.yield_summary()
        if self.filtered:
            kept = dataclasses.replace(self, table=self.table.loc[self.table["kept"]])
            metrics["kept"] = {k: v for k, v in SampleResult.metrics(kept, *args, **kwargs).items() if k != "speed"}
        return metrics

    def _repr_html_(self) -> str:
        """Jupyter's view: the yield line, then the kept molecules' summary and grid (every molecule when unfiltered)."""
        return result_html(self.title(), self.to_dataframe(), self.message() if self.filtered else None)

    def message(self) -> str:
        """One line on the generated and the kept molecules and the yield; says plainly when the budget ran out."""
        y = self.yield_summary()
        generated, kept = self.table, self.table.loc[self.table["kept"]]
        line = (f"generated {y['generated']} ({generated['valid'].mean():.0%} valid), passed {y['passed']} "
                f"({y['yield']:.1%} yield) in {y['rounds']} round(s); kept {len(kept)}"
                + (f" ({kept['valid'].mean():.0%} valid, {int(kept['novel'].sum())} novel)" if len(kept) else ""))
        if not self.complete:
            line += (f"; budget spent: only {self.kept} of the {self.requested} requested molecules passed "
                     f"(raise --max-samples or relax the filters)")
        return line


def passing(table: pd.DataFrame, keep: Sequence[str], where: Sequence[Condition | Substructure], targets: Sequence[Any],
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
        ok &= condition.passes(table)
    if "alert-free" in keep:  # after the cheaper filters: only molecules still in are checked
        ok &= np.array([bool(keep_it) and passes_filters(to_mol(s)) for keep_it, s in zip(ok, table["smiles"])], dtype=bool)
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


def generate(model: StoredModel | LoadedModel | str, num_samples: int = 256, options: SampleOptions | None = None,
             **settings: Any) -> GenerateResult:
    """Sample in seeded rounds until ``num_samples`` molecules pass ``keep`` and ``where`` (see the
    module docstring) or ``max_samples`` molecules have been generated.

    ``settings`` are fields of :class:`~moldiff.pipeline.options.SampleOptions` that replace those of
    ``options``. A sampler setting left unset takes the model's recommended value
    (:func:`~moldiff.store.recommended.recommended_options`) unless a ``preset`` is given. Without
    filters this is one sampling run. ``seed=None`` draws a seed, logs it and records it in the
    result's ``seed``. ``threads``: torch threads while sampling (:func:`moldiff.core.runtime.torch_threads`).
    """
    options = (options or SampleOptions()).replace(**settings)
    with torch_threads(options.threads):
        return _generate(model, num_samples, options)


def _generate(model: StoredModel | LoadedModel | str, num_samples: int, options: SampleOptions) -> GenerateResult:
    num_samples = check_count(num_samples)
    keep, conditions = parse_keep(options.keep), parse_where(options.where) + keep_conditions(options.keep)
    budget = check_budget(num_samples, options.max_samples, bool(keep or conditions))
    names = list(dict.fromkeys([*parse_oracles(options.value("oracles")), *(c.oracle for c in conditions if isinstance(c, Condition))]))
    make_constraint(options)  # checked before the model loads
    if "hits" in keep and not options.target:
        raise MoldiffError("--keep hits needs a target: give --target (and optionally --guidance)")
    seed = options.seed
    if seed is None:
        seed = secrets.randbelow(2**31)
        log.info(f"seed {seed} (drawn at random; pass seed={seed} to repeat this run)")
    record = as_record(model, options.device)
    if options.preset is None:  # a preset is a whole choice of settings: the papers', not the model's
        recommended = recommended_options(record.config, options.sampler, str(record.path / CONFIG_FILE))
        options = options.replace(**{k: v for k, v in recommended.items() if getattr(options, k) is None})
    rounds = options.replace(keep=None, where=None, max_samples=None, seed=seed, oracles=names, device=None)
    results: list[SampleResult] = []
    tables, seen, passed, generated = [], set(), 0, 0
    size = num_samples
    while True:
        result = sample(record, size, rounds, first_index=generated)
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
        sum(r.classifier_passes for r in results), first.guidance, first.device, requested=num_samples, keep=keep, where=conditions, passed=passed, rounds=len(results), seed=seed,
    )
    if not out.complete:
        log.warning(out.message())
    return out
