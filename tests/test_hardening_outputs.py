"""Issue 29 (Hardening II): outputs never overwrite inputs, frontier values and caches are checked,
progress shows without a terminal.

Each test names the item of the issue it covers. Sampling uses the shipped SELFIES MDLM with few
molecules and steps: the tests check what is written, refused and cached, not sample quality.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pandas as pd
import pytest

import moldiff
from moldiff.core import files
from moldiff.core.errors import MoldiffError
from moldiff.guidance.base import check_guidance
from moldiff.pipeline.frontier import Frontier, Settings

MODEL = "qm9-selfies-mdlm"
SWEEP = ("--model", MODEL, "--sampler", "mdlm", "--steps", 4, "-n", 8)
REFERENCE = "smiles\nCCO\nc1ccccc1\nCC(=O)O\n"


def _one_line_error(result, *expected: str) -> None:
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.output


def _link(kind: str, source: Path, name: str) -> Path:
    """``source`` itself, or a symbolic or hard link to it named ``name``."""
    if kind == "same":
        return source
    link = Path(name)
    (link.symlink_to if kind == "symlink" else link.hardlink_to)(source.resolve())
    return link


# --- 3: an output is never an input ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink"])
def test_3_guard_refuses_an_output_that_is_an_input_through_links(kind):
    source = Path("ref.csv")
    source.write_text(REFERENCE)
    out = _link(kind, source, "out.csv")
    with pytest.raises(MoldiffError, match="is the input --reference ref.csv"):
        files.check_output_paths([("--out", out)], [("--reference", "ref.csv")])
    files.check_output_paths([("--out", "other.csv")], [("--reference", "ref.csv"), ("--cache", "missing.json")])


@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink"])
def test_3_sample_refuses_to_overwrite_its_reference(run_cli, kind):
    source = Path("ref.csv")
    source.write_text(REFERENCE)
    out = _link(kind, source, "out.csv")
    result = run_cli("sample", "--model", MODEL, "-n", 4, "--steps", 4, "--reference", "ref.csv", "--out", out, expect=2)
    _one_line_error(result, "is the input --reference ref.csv")
    assert source.read_text() == REFERENCE


def test_3_frontier_refuses_to_overwrite_its_reference_or_overlay(run_cli):
    Path("ref.csv").write_text(REFERENCE)
    result = run_cli("frontier", *SWEEP, "--reference", "ref.csv", "--out", "ref.csv", expect=2)
    _one_line_error(result, "is the input --reference ref.csv")
    points = "label,novel,mean\npaper,100,4.5\n"
    Path("pts.csv").write_text(points)
    result = run_cli("frontier", *SWEEP, "--overlay", "pts.csv", "--out", "pts.csv", "--plot", "p.png", expect=2)
    _one_line_error(result, "is the input --overlay pts.csv")
    assert Path("ref.csv").read_text() == REFERENCE and Path("pts.csv").read_text() == points
    assert not Path("p.png").exists() and not Path("ref.cache.json").exists() and not Path("pts.cache.json").exists()


# --- 4: the cache is an input, and outputs differ from each other ------------------------------
@pytest.mark.parametrize("args,message", [
    (["--out", "x.json", "--cache", "x.json"], "--out x.json is the input --cache x.json"),
    (["--out", "x.csv", "--out", "./x.csv"], "are the same file"),
    (["--out", "x.csv", "--plot", "p.png"], "--plot p.png and --out x.csv are the same file"),  # p.png links to x.csv
])
def test_4_frontier_outputs_differ_from_the_cache_and_from_each_other(run_cli, args, message):
    Path("x.csv").write_text("old table\n")
    Path("p.png").symlink_to(Path("x.csv").resolve())
    result = run_cli("frontier", *SWEEP, *args, expect=2)
    _one_line_error(result, message)
    assert Path("x.csv").read_text() == "old table\n" and not Path("x.json").exists()


# --- 14: gamma is finite -----------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [math.nan, math.inf])
def test_14_non_finite_gamma_is_refused_by_the_api(gamma):
    with pytest.raises(MoldiffError, match=f"gamma must be >= 0 and finite, not {gamma}"):
        check_guidance("cfg", gamma, "masked")
    with pytest.raises(MoldiffError, match="gamma must be >= 0 and finite"):
        moldiff.load(MODEL).sample(2, guidance="cfg", target="rings", gamma=gamma, steps=2, progress=False)


@pytest.mark.parametrize("gamma", ["nan", "inf"])
def test_14_non_finite_gamma_is_refused_by_sample_and_frontier(run_cli, gamma):
    result = run_cli("sample", "--model", MODEL, "-n", 4, "--guidance", "cfg", "--target", "rings", "--gamma", gamma, expect=2)
    _one_line_error(result, f"not {gamma}")
    assert not Path("samples.csv").exists()
    result = run_cli("frontier", *SWEEP, "--guidance", "cfg", "--gamma", f"1,{gamma}", expect=2)
    _one_line_error(result, f"not {gamma}")
    assert not Path("frontier.cache.json").exists()


# --- 15: a cached point holds only for the same target definition and reference content --------
def _sweep(cache: Path, **settings) -> pd.DataFrame:
    return moldiff.frontier(MODEL, samplers="mdlm", steps=4, num_samples=8, cache=cache, progress=False, **settings).table


def test_15_cached_point_misses_after_the_target_definition_changes(tmp_path, monkeypatch, point_runs):
    calls = point_runs
    cache = tmp_path / "cache.json"
    _sweep(cache)
    assert _sweep(cache)["cached"].all() and len(calls) == 1
    local = Path("guidance/rings/target.toml")  # a local target shadows the packaged one with another threshold
    local.parent.mkdir(parents=True)
    local.write_text('name = "rings"\noracle = "rings"\ndirection = "above"\nthreshold = 0.0\n')
    again = _sweep(cache)
    assert len(calls) == 2 and not again["cached"].any()
    assert _sweep(cache)["cached"].all() and len(calls) == 2
    local.unlink()
    local.parent.rmdir()  # the packaged target again
    assert not _sweep(cache)["cached"].any() and len(calls) == 3


def test_15_cached_point_misses_after_the_reference_content_changes(tmp_path, monkeypatch, point_runs):
    calls = point_runs
    cache, reference = tmp_path / "cache.json", Path("ref.smi")
    reference.write_text("CCO\n")
    _sweep(cache, reference=str(reference))
    assert _sweep(cache, reference=str(reference))["cached"].all() and len(calls) == 1
    reference.write_text("CCO\nCCN\n")
    assert not _sweep(cache, reference=str(reference))["cached"].any() and len(calls) == 2


def test_15_entries_without_the_new_fields_count_as_the_packaged_target_and_qm9(tmp_path, monkeypatch, point_runs):
    calls = point_runs
    cache = tmp_path / "cache.json"
    first = _sweep(cache)
    stored = json.loads(cache.read_text())
    for entry in stored["rows"].values():  # as written before issue 29 (reports/qm9.json)
        del entry["targets"], entry["reference_sha256"]
    cache.write_text(json.dumps(stored))
    again = _sweep(cache)
    assert again["cached"].all() and len(calls) == 1
    pd.testing.assert_frame_equal(first.drop(columns=["cached", "source"]), again.drop(columns=["cached", "source"]))


# --- 19: frontier values are checked, each named -----------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["--guidance", "none,bogus"], "unknown guidance 'bogus'"),
    (["--sampler", "bogus"], "unknown sampler 'bogus'"),
    (["--guidance", "cfg", "--gamma", "-1"], "gamma must be >= 0 and finite, not -1"),
    (["--batch-size", "0"], "0"),
    (["--overlay", "pts.csv", "--plot", "p.png"], "'many'"),
    (["--overlay", "papers"], "--overlay"),
])
def test_19_frontier_bad_values_are_named(run_cli, args, message):
    Path("pts.csv").write_text("label,novel,mean\npaper,many,4.5\n")
    result = run_cli("frontier", "--model", MODEL, "--steps", 4, "-n", 8, *args, expect=2)
    _one_line_error(result, message)
    assert not Path("frontier.csv").exists() and not Path("frontier.cache.json").exists() and not Path("p.png").exists()


def test_19_frontier_api_refuses_a_batch_size_below_one():
    with pytest.raises(MoldiffError, match="--batch-size must be at least 1, not 0"):
        moldiff.frontier(MODEL, samplers="mdlm", steps=4, num_samples=8, batch_size=0, progress=False)


# --- 21: progress lines without a terminal -----------------------------------------------------
def test_21_sample_and_frontier_print_progress_lines_without_a_terminal(run_cli):
    result = run_cli("sample", "--model", MODEL, "-n", 8, "--batch-size", 4, "--sampler", "mdlm", "--steps", 20, "--out", "s.csv")
    lines = [line for line in result.stderr.splitlines() if "sampling (mdlm)" in line]
    assert 10 <= len(lines) <= 25 and lines[-1].startswith("info: sampling (mdlm): batch 2/2, step 20/20"), result.stderr
    assert "batch 1/2, step 20/20" in result.stderr
    result = run_cli("frontier", *SWEEP, "--guidance", "none,cfg", "--gamma", 1)
    assert "frontier: 2/2 points" in result.stderr and "sampling (mdlm): batch 1/1, step 4/4" in result.stderr


def test_21_no_progress_lines_when_progress_is_off(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="moldiff")
    moldiff.load(MODEL).sample(4, sampler="mdlm", steps=4, progress=False)
    moldiff.frontier(MODEL, samplers="mdlm", steps=4, num_samples=4, cache=tmp_path / "c.json", progress=False)
    assert not [r for r in caplog.records if r.levelno == logging.INFO]
    moldiff.load(MODEL).sample(4, sampler="mdlm", steps=4)
    assert any("sampling (mdlm): batch 1/1, step 4/4" in r.getMessage() for r in caplog.records)


# --- 13: a damaged cache is a one-line error ---------------------------------------------------
@pytest.mark.parametrize("cache", [
    {"rows": {"a|b": [1, 2]}},
    {"rows": ["a"]},
    {"rows": {"a|b": {"novel": "many"}}},
    {"rows": {"a|b": {"weights": ["x"]}}},
    {"points": []},
])
def test_13_damaged_frontier_cache_names_the_file_and_what_to_do(run_cli, cache):
    Path("c.json").write_text(json.dumps(cache))
    result = run_cli("frontier", *SWEEP, "--cache", "c.json", expect=2)
    _one_line_error(result, "c.json", "delete")
    assert not Path("frontier.csv").exists()


# --- 23: Frontier.save writes only the formats the CLI writes -----------------------------------
def test_23_frontier_save_refuses_unknown_extensions():
    result = Frontier(pd.DataFrame({"model": ["m"], "novel": [1]}), Settings())
    with pytest.raises(MoldiffError, match=r"unsupported file type '\.txt' for x\.txt: use \.csv, \.json"):
        result.save("x.txt")
    assert not os.path.exists("x.txt")
    result.save("x.json")
    assert json.loads(Path("x.json").read_text())["points"] == [{"model": "m", "novel": 1}]
