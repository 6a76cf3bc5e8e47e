"""How results show in Jupyter: the HTML behind ``_repr_html_`` of sample results and frontier sweeps.

A summary line, a small table and a grid of molecules with their property values; images are PNG
grids inlined at a modest size (:mod:`moldiff.chemistry.drawing`), so a notebook's outputs stay small.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from moldiff.chemistry.drawing import grid_html

#: Molecules drawn by default in a result's grid.
GRID_MOLECULES = 8
#: Oracle columns of a molecule table, by their short labels in a grid's legends.
LEGEND_LABELS = {"rings": "rings", "qed": "QED", "sa": "SA", "logp": "logP", "mw": "MW"}


def _value(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def legends(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """One legend per row: its values in ``columns`` and whether it is novel."""
    lines = []
    for _, row in table.iterrows():
        parts = [f"{LEGEND_LABELS.get(c, c)} {_value(row[c])}" for c in columns if pd.notna(row.get(c))]
        if row.get("novel"):
            parts.append("novel")
        lines.append(", ".join(parts))
    return lines


def property_columns(table: pd.DataFrame) -> list[str]:
    """The numeric oracle columns of a molecule table (not its flags and strings)."""
    skip = {"smiles", "raw", "valid", "novel", "invalid_reason", "kept", "unique"}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def molecules_html(table: pd.DataFrame, count: int = GRID_MOLECULES, per_row: int = 4) -> str:
    """A grid of the first ``count`` valid molecules of a molecule table, legends with their properties."""
    shown = table.loc[table["valid"]].head(count)
    return grid_html(shown["smiles"].tolist(), legends(shown, property_columns(table)), per_row)


def summary_html(table: pd.DataFrame) -> str:
    """:func:`summary` as an HTML table."""
    return summary(table).to_html(border=0, classes="moldiff-summary")


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Counts, shares and property means of the valid and of the novel (unique) molecules, as a small table."""
    valid = table.loc[table["valid"]]
    novel = valid.loc[valid["novel"].astype(bool)].drop_duplicates("smiles")
    total = len(table)
    rows = {"molecules": [f"{len(valid):,}", f"{len(novel):,}"],
            f"of the {total:,} sampled": [_share(len(valid), total), _share(len(novel), total)],
            "unique": [_share(valid["smiles"].nunique(), len(valid)), ""]}
    for column in property_columns(table):
        rows[f"mean {LEGEND_LABELS.get(column, column)}"] = [_mean(valid[column]), _mean(novel[column])]
    return pd.DataFrame.from_dict(rows, orient="index", columns=["valid", "novel (unique)"])


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _mean(values: pd.Series) -> str:
    return f"{values.mean():.3g}" if values.notna().any() else "–"


def result_html(title: str, table: pd.DataFrame, note: str | None = None, count: int = GRID_MOLECULES) -> str:
    """A result: a title line, an optional note, the summary table and a grid of its first molecules."""
    parts = [f"<p><b>{html.escape(title)}</b></p>"]
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts += [summary_html(table), molecules_html(table, count)]
    return "\n".join(parts)


def sample_title(model: str, sampler: str, steps: int, guidance: str, targets: Sequence[str], seconds: float) -> str:
    """``qm9-selfies-mdlm: remdm-loop, T = 128, cfg toward rings (12.3 s)``."""
    guided = f", {guidance} toward {', '.join(targets)}" if guidance != "none" else ", unguided"
    return f"{Path(model).name}: {sampler}, T = {steps}{guided} ({seconds:.1f} s)"


def frontier_html(table: pd.DataFrame, columns: Sequence[str], num_samples: int, seed: int) -> str:
    """A sweep: where its points came from, then their table."""
    origin = ", ".join(f"{count} {source}" for source, count in table["source"].value_counts().items())
    head = f"<p><b>Frontier: {len(table)} points</b>, {num_samples:,} molecules each, seed {seed} ({html.escape(origin)})</p>"
    return head + table[list(columns)].to_html(border=0, index=True, float_format=lambda v: f"{v:.3g}", classes="moldiff-frontier")
