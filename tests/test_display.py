"""How results show in Jupyter: summaries, molecule grids, and their small size."""

from __future__ import annotations

import pandas as pd
import pytest

from moldiff.chemistry.drawing import grid_html, grid_png
from moldiff.core.errors import MoldiffError
from moldiff.pipeline.display import legends, summary, summary_html


def _table() -> pd.DataFrame:
    return pd.DataFrame({"smiles": ["c1ccccc1", "CCO", "", "CCO"], "valid": [True, True, False, True],
                         "novel": [True, False, False, False], "rings": [1.0, 0.0, float("nan"), 0.0],
                         "qed": [0.44, 0.41, float("nan"), 0.41]})


def test_the_summary_counts_valid_and_novel_molecules_and_their_means():
    frame = summary(_table())
    assert "<table" in summary_html(_table())
    assert frame.loc["molecules"].tolist() == ["3", "1"]
    assert frame.loc["of the 4 sampled"].tolist() == ["75.0%", "25.0%"]
    assert frame.loc["unique", "valid"] == "66.7%"
    assert frame.loc["mean rings"].tolist() == ["0.333", "1"] and frame.loc["mean QED", "novel (unique)"] == "0.44"


def test_legends_give_properties_and_novelty():
    assert legends(_table().head(2), ["rings", "qed"]) == ["rings 1, QED 0.44, novel", "rings 0, QED 0.41"]


def test_grids_are_small_pngs_and_refuse_nothing_to_draw():
    png = grid_png(["c1ccccc1", "CCO", "not a molecule"], ["a", "b", "c"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 30_000
    assert grid_html(["CCO"]).startswith('<img src="data:image/png;base64,') and grid_html([]) == ""
    with pytest.raises(MoldiffError, match="no molecules to draw"):
        grid_png([])


def test_sample_results_show_a_summary_and_a_grid(tiny_selfies_mdlm):
    import moldiff

    model = moldiff.load(str(tiny_selfies_mdlm))
    result = model.sample(8, steps=4, seed=0, progress=False)
    page = result._repr_html_()
    assert "unguided" in page and "T = 4" in page and "<table" in page and "data:image/png;base64," in page
    filtered = model.sample(2, steps=4, seed=0, keep="valid", max_samples=16, progress=False)
    assert filtered.message() in filtered._repr_html_()
