"""Guidance targets: shipped files, thresholds recomputed from QM9, labels, TOML files, lookup."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import moldiff
from moldiff.chemistry.data import data_hash, load_split
from moldiff.chemistry.targets import (
    Target,
    available_targets,
    default_percentile,
    load_target,
    parse_targets,
    read_target,
    threshold_from_data,
)
from moldiff.core.errors import MoldiffError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, oracle", [("rings", "rings"), ("qed", "qed")])
def test_shipped_targets_load(name: str, oracle: str):
    target = load_target(name)
    assert target.path is not None
    assert target.path.resolve() == (REPO / "guidance" / name / "target.toml").resolve()
    assert target == dataclasses.replace(read_target(REPO / "guidance" / name / "target.toml"), path=target.path)
    assert target.name == name and target.oracle == oracle and target.direction == "above"
    assert target.description
    computed = target.computed
    assert computed["data"] == "qm9:train"
    assert computed["data_sha256"] == data_hash("qm9")
    assert computed["molecules"] == len(load_split("qm9", "train"))
    assert computed["percentile"] == 90.0


def test_rings_threshold_is_90th_percentile_of_train():
    target = load_target("rings")
    values = moldiff.score(load_split("qm9", "train"), ["rings"], progress=False)["rings"].to_numpy()
    assert np.isfinite(values).all()
    assert target.threshold == float(np.percentile(values, 90))
    hits = values > target.threshold
    assert target.computed["positive_fraction"] == round(float(hits.mean()), 6)
    np.testing.assert_array_equal(target.labels(values), hits)


def test_qed_threshold_splits_a_train_sample_at_its_90th_percentile():
    """QED of all 120k train molecules takes minutes, so a seeded 12,000 sample checks the threshold: the
    share above it must be 10% within four standard errors (0.011), which a threshold two percentiles
    off fails. The rings threshold above is checked exactly."""
    target = load_target("qed")
    train = load_split("qm9", "train")
    sample = np.random.default_rng(0).choice(len(train), size=12_000, replace=False)
    values = moldiff.score([train[i] for i in sample], ["qed"], progress=False)["qed"].to_numpy()
    assert np.isfinite(values).all()
    share = float((values > target.threshold).mean())
    assert abs(share - 0.10) <= 4 * math.sqrt(0.10 * 0.90 / len(values)), share
    assert abs(target.computed["positive_fraction"] - 0.10) < 1e-3


# --- labels ------------------------------------------------------------------------------------
def test_labels_above_are_strict_and_nan_is_never_a_hit():
    target = Target("t", "rings", 2.0)
    values = np.array([1.0, 2.0, 2.0000001, 3.0, np.nan, -np.inf, np.inf])
    assert target.labels(values).tolist() == [False, False, True, True, False, False, True]
    assert target.labels([2.5]).dtype == bool


def test_labels_below():
    target = Target("t", "logp", 0.5, direction="below")
    values = np.array([0.0, 0.5, 0.49, 1.0, np.nan])
    assert target.labels(values).tolist() == [True, False, True, False, False]


@pytest.mark.parametrize("kwargs, message", [
    ({"oracle": "nope"}, "unknown oracle 'nope'"),
    ({"direction": "sideways"}, "direction must be one of above, below"),
    ({"threshold": math.nan}, "finite"),
    ({"threshold": math.inf}, "finite"),
    ({"name": "has space"}, "letters, digits"),
    ({"name": "../escape"}, "letters, digits"),
])
def test_target_validation(kwargs: dict, message: str):
    fields = {"name": "t", "oracle": "rings", "threshold": 1.0, **kwargs}
    with pytest.raises(MoldiffError, match=message):
        Target(**fields)


# --- TOML files --------------------------------------------------------------------------------
@pytest.mark.parametrize("description", [
    "",
    "plain words",
    'with "quotes", a back\\slash and a\ttab',
    "two\nlines",
    "unicode: logP ≥ 3, Ångström, 😀",
    "control characters: \x00 \x1b \x7f \u2028",
])
def test_toml_round_trip(tmp_path: Path, description: str):
    target = Target(
        "mine", "qed", 0.123456789012345, "below", description,
        computed={"percentile": 10.0, "data": "qm9:train", "molecules": 5, "positive_fraction": 0.2, "flag": True},
    )
    path = tmp_path / "guidance" / "mine" / "target.toml"
    target.save(path)
    loaded = read_target(path)
    assert loaded.path == path
    assert dataclasses.replace(loaded, path=None) == target
    assert sorted(p.name for p in path.parent.iterdir()) == ["target.toml"]  # no temporary left


def test_name_defaults_to_folder(tmp_path: Path):
    path = tmp_path / "folder_name" / "target.toml"
    path.parent.mkdir()
    path.write_text('oracle = "rings"\nthreshold = 2\n', encoding="utf-8")
    target = read_target(path)
    assert target.name == "folder_name" and target.threshold == 2.0 and target.direction == "above"
    assert target.computed == {}


@pytest.mark.parametrize("text, message", [
    ("name = \n", "cannot read target file"),
    ('oracle = "rings"\n', "lacks threshold"),
    ("threshold = 3.0\n", "lacks oracle"),
    ('oracle = "nope"\nthreshold = 3.0\n', "unknown oracle 'nope'"),
    ('oracle = "rings"\nthreshold = 3.0\ndirection = "sideways"\n', "direction"),
    ('oracle = "rings"\nthreshold = "high"\n', "malformed"),
    ('oracle = "rings"\nthreshold = nan\n', "finite"),
    ('oracle = "rings"\nthreshold = 1.0\ncomputed = "x"\n', "malformed"),
])
def test_bad_target_files(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad" / "target.toml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MoldiffError) as info:
        read_target(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(MoldiffError, match=message):
        load_target(str(path))


def test_missing_target_file(tmp_path: Path):
    with pytest.raises(MoldiffError, match="no such target file"):
        read_target(tmp_path / "absent.toml")
    with pytest.raises(MoldiffError, match="no such target file"):
        load_target(str(tmp_path / "absent.toml"))


# --- lookup ------------------------------------------------------------------------------------
def test_unknown_target_suggests_create():
    with pytest.raises(MoldiffError) as info:
        load_target("nope")
    message = str(info.value)
    assert "unknown target 'nope'" in message
    assert "moldiff target create nope" in message
    assert "qed" in message and "rings" in message  # the available ones are listed


def _write_target(root: Path, name: str, threshold: float) -> Path:
    path = root / "guidance" / name / "target.toml"
    Target(name, "rings", threshold).save(path)
    return path


def test_user_target_in_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = tmp_path / "project"
    path = _write_target(work, "mine", 1.5)
    monkeypatch.chdir(work)
    target = load_target("mine")
    assert target.path.resolve() == path.resolve()
    assert target.threshold == 1.5
    assert {"mine", "rings", "qed"} <= set(available_targets())
    assert [t.name for t in parse_targets("mine, rings,mine")] == ["mine", "rings"]


def test_user_targets_shadow_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cwd_path = _write_target(tmp_path / "cwd", "rings", 7.0)
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_target("rings").path.resolve() == cwd_path.resolve()
    assert available_targets()["rings"].resolve() == cwd_path.resolve()
    home_path = _write_target(tmp_path / "home", "rings", 8.0)
    monkeypatch.setenv("MOLDIFF_HOME", str(tmp_path / "home"))
    assert load_target("rings").threshold == 8.0
    assert load_target("rings").path.resolve() == home_path.resolve()


def test_folder_without_target_file_is_unknown(tmp_path: Path):
    (tmp_path / "guidance" / "empty").mkdir(parents=True)  # cwd is tmp_path
    with pytest.raises(MoldiffError, match="unknown target 'empty'"):
        load_target("empty")
    assert "empty" not in available_targets()


# --- thresholds from data ----------------------------------------------------------------------
def test_threshold_from_data():
    values = np.array([*range(1, 11), np.nan], dtype=float)
    target = threshold_from_data("t", "rings", values, record={"data": "x"})
    finite = np.arange(1, 11, dtype=float)
    assert target.threshold == float(np.percentile(finite, 90))
    assert target.computed == {"percentile": 90.0, "data": "x", "molecules": 10, "positive_fraction": 0.1}
    assert target.description == moldiff.get_oracle("rings").description
    below = threshold_from_data("t", "rings", values, direction="below")
    assert below.threshold == float(np.percentile(finite, 10)) and below.computed["percentile"] == 10.0
    assert below.computed["positive_fraction"] == float((finite < below.threshold).mean())
    assert default_percentile("above") == 90.0 and default_percentile("below") == 10.0


@pytest.mark.parametrize("kwargs, message", [
    ({"percentile": 101.0}, "between 0 and 100"),
    ({"percentile": -1.0}, "between 0 and 100"),
    ({"direction": "up"}, "direction"),
])
def test_threshold_from_data_errors(kwargs: dict, message: str):
    with pytest.raises(MoldiffError, match=message):
        threshold_from_data("t", "rings", np.array([1.0, 2.0]), **kwargs)


def test_threshold_from_all_nan_is_an_error():
    with pytest.raises(MoldiffError, match="no value"):
        threshold_from_data("t", "rings", np.array([np.nan, np.nan]))
