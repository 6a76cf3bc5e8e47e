"""Sample-quality metrics: hand-checked counts, QM9 acceptance numbers, target hits, FCD."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import QED, rdMolDescriptors

import moldiff.chemistry.fcd as fcd_module
from moldiff.chemistry.data import load_split
from moldiff.chemistry.metrics import Reference, evaluate, load_reference, metrics_table, property_statistics
from moldiff.chemistry.targets import Target, parse_targets

GENERATED = ["CCO", "OCC", "C1CC", "", None, "c1ccccc1", "CCN"]
REFERENCE = Reference("x", frozenset({"CCO"}))


def _rings(smiles: str) -> float:
    return float(rdMolDescriptors.CalcNumRings(Chem.MolFromSmiles(smiles)))


def _qed(smiles: str) -> float:
    return float(QED.qed(Chem.MolFromSmiles(smiles)))


def _stats(values: list[float]) -> dict[str, float]:
    v = np.array(values, dtype=float)
    return {
        "count": len(values), "mean": v.mean(), "std": v.std(), "min": v.min(),
        "q1": np.percentile(v, 25), "median": np.median(v), "q3": np.percentile(v, 75), "max": v.max(),
    }


def _assert_stats(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_counts_on_hand_made_list():
    m = evaluate(GENERATED, reference=REFERENCE, oracles="rings,qed", progress=False)
    # valid: CCO, OCC (= CCO), c1ccccc1, CCN; invalid: C1CC (open ring), '' and None
    assert m["n"] == 7
    assert m["valid"] == 4
    # unique canonical: CCO, c1ccccc1, CCN
    assert m["unique"] == 3
    # novel (not in {CCO}): c1ccccc1, CCN
    assert m["novel"] == 2
    assert m["validity"] == pytest.approx(4 / 7)
    assert m["uniqueness"] == pytest.approx(3 / 4)
    assert m["novelty"] == pytest.approx(2 / 3)
    assert m["novel_fraction"] == pytest.approx(2 / 7)
    assert m["reference"] == {"name": "x", "molecules": 1}


def test_property_statistics_valid_with_duplicates_novel_unique():
    m = evaluate(GENERATED, reference=REFERENCE, oracles="rings,qed", progress=False)
    valid = ["CCO", "OCC", "c1ccccc1", "CCN"]  # duplicates count
    novel = ["c1ccccc1", "CCN"]
    for name, fn in (("rings", _rings), ("qed", _qed)):
        _assert_stats(m["properties"][name]["valid"], _stats([fn(s) for s in valid]))
        _assert_stats(m["properties"][name]["novel"], _stats([fn(s) for s in novel]))
    assert m["properties"]["rings"]["valid"]["mean"] == 0.25  # rings 0, 0, 1, 0
    assert m["properties"]["rings"]["novel"]["mean"] == 0.5  # rings 1, 0


def test_target_hits_on_hand_made_list():
    ring = Target("ring", "rings", 0.5)
    polar = Target("polar", "logp", 0.0, direction="below")
    m = evaluate(GENERATED, reference=REFERENCE, oracles="qed", targets=[ring, polar], progress=False)
    assert set(m["properties"]) == {"qed", "rings", "logp"}  # target oracles are reported too
    hits = m["targets"]["ring"]
    assert hits["hit_fraction_valid"] == pytest.approx(1 / 4)  # benzene of CCO, CCO, benzene, CCN
    assert hits["hit_fraction_novel"] == pytest.approx(1 / 2)  # benzene of benzene, CCN
    assert (hits["oracle"], hits["direction"], hits["threshold"]) == ("rings", "above", 0.5)
    from rdkit.Chem import Crippen

    logp = {s: Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in ("CCO", "c1ccccc1", "CCN")}
    valid = ["CCO", "CCO", "c1ccccc1", "CCN"]
    novel = ["c1ccccc1", "CCN"]
    assert m["targets"]["polar"]["hit_fraction_valid"] == pytest.approx(sum(logp[s] < 0 for s in valid) / 4)
    assert m["targets"]["polar"]["hit_fraction_novel"] == pytest.approx(sum(logp[s] < 0 for s in novel) / 2)


def test_all_invalid_and_empty_inputs():
    m = evaluate(["xyz", None, ""], reference=REFERENCE, oracles="rings", targets=[Target("r", "rings", 0.5)], progress=False)
    assert (m["n"], m["valid"], m["unique"], m["novel"]) == (3, 0, 0, 0)
    assert m["validity"] == 0.0
    assert math.isnan(m["uniqueness"]) and math.isnan(m["novelty"])
    assert m["properties"]["rings"]["valid"]["count"] == 0
    assert math.isnan(m["targets"]["r"]["hit_fraction_valid"])
    empty = evaluate([], reference=REFERENCE, oracles="rings", progress=False)
    assert empty["n"] == 0 and math.isnan(empty["validity"])


def test_no_oracles():
    m = evaluate(GENERATED, reference=REFERENCE, oracles=(), progress=False)
    assert (m["valid"], m["unique"], m["novel"]) == (4, 3, 2)
    assert m["properties"] == {} and m["targets"] == {}


def test_property_statistics_ignores_nan():
    stats = property_statistics(np.array([1.0, np.nan, 3.0]))
    _assert_stats(stats, _stats([1.0, 3.0]))


def test_novelty_uses_canonical_smiles(tmp_path: Path):
    reference_file = tmp_path / "ref.smi"
    reference_file.write_text("OCC\nC1=CC=CC=C1\n", encoding="utf-8")  # non-canonical spellings
    reference = load_reference(str(reference_file), progress=False)
    assert reference.smiles == frozenset({"CCO", "c1ccccc1"})
    m = evaluate(["CCO", "c1ccccc1", "CCN"], reference=reference, oracles="rings", progress=False)
    assert m["novel"] == 1


def test_metrics_table_renders():
    from rich.console import Console

    m = evaluate(GENERATED, reference=REFERENCE, oracles="rings", targets=[Target("ring", "rings", 0.5)], progress=False)
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(metrics_table(m, title="hand-made"))
    text = console.export_text()
    assert "hand-made" in text and "0.5714" in text  # validity 4/7
    assert "ring: rings > 0.5" in text


# --- QM9 acceptance ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qm9_test_metrics() -> dict:
    targets = parse_targets("rings,qed")
    return evaluate(load_split("qm9", "test"), reference="qm9:train", oracles="rings,qed", targets=targets, progress=False)


def test_qm9_test_against_train(qm9_test_metrics: dict):
    test, train = load_split("qm9", "test"), set(load_split("qm9", "train"))
    m = qm9_test_metrics
    assert m["validity"] == 1.0
    assert m["uniqueness"] == 1.0
    absent = sum(s not in train for s in set(test)) / len(set(test))
    assert m["novelty"] == absent
    assert m["novel"] == m["unique"] == m["valid"] == m["n"] == len(test)
    assert m["reference"] == {"name": "qm9:train", "molecules": len(train)}


def test_qm9_target_hit_fractions(qm9_test_metrics: dict):
    test = load_split("qm9", "test")
    for name, fn in (("rings", _rings), ("qed", _qed)):
        target = parse_targets(name)[0]
        values = np.array([fn(s) for s in test])
        expected = float((values > target.threshold).mean())
        assert qm9_test_metrics["targets"][name]["hit_fraction_valid"] == pytest.approx(expected, abs=1e-12)
        assert qm9_test_metrics["targets"][name]["hit_fraction_novel"] == pytest.approx(expected, abs=1e-12)
        assert qm9_test_metrics["properties"][name]["valid"]["mean"] == pytest.approx(values.mean(), rel=1e-12)


def test_qm9_test_against_all_of_qm9():
    m = evaluate(load_split("qm9", "test"), reference="qm9", oracles="rings", progress=False)
    assert m["validity"] == 1.0
    assert m["novelty"] == 0.0 and m["novel"] == 0
    assert m["properties"]["rings"]["novel"]["count"] == 0


# --- FCD ---------------------------------------------------------------------------------------
# ChemNet takes seconds per set on two cores: each distinct (ordered) list of molecules runs once.
@pytest.fixture(scope="module")
def fcd_sets() -> tuple[list[str], list[str]]:
    rng = random.Random(11)
    return rng.sample(load_split("qm9", "test"), 300), rng.sample(load_split("qm9", "valid"), 300)


@pytest.fixture(scope="module")
def chemnet_runs():
    """Memoise ChemNet statistics by the exact (ordered) input list; records each real run."""
    real = fcd_module.chemnet_statistics
    memo: dict[tuple[str, ...], dict] = {}
    runs: list[tuple[str, ...]] = []

    def memoised(smiles, device="cpu"):
        key = tuple(smiles)
        if key not in memo:
            runs.append(key)
            memo[key] = real(smiles, device)
        return memo[key]

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 300-molecule batch gains nothing from threads that fight other work
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fcd_module, "chemnet_statistics", memoised)
        fcd_module._reference_statistics.cache_clear()
        yield runs
    fcd_module._reference_statistics.cache_clear()
    torch.set_num_threads(threads)


def test_fcd_reference_statistics_cached_on_disk(fcd_sets, chemnet_runs, moldiff_cache: Path, monkeypatch: pytest.MonkeyPatch):
    a, _ = fcd_sets
    fcd_module._reference_statistics.cache_clear()
    assert fcd_module.cache_dir() == moldiff_cache
    stats = fcd_module.reference_statistics(list(reversed(a)))
    files = list((moldiff_cache / "fcd").glob("*.npz"))
    assert len(files) == 1
    assert [p.name for p in (moldiff_cache / "fcd").iterdir()] == [files[0].name]  # no temporary left
    with np.load(files[0]) as data:
        np.testing.assert_array_equal(data["mu"], stats["mu"])
        np.testing.assert_array_equal(data["sigma"], stats["sigma"])
    # with an empty memory cache (a new process) the file is read instead of running ChemNet again
    fcd_module._reference_statistics.cache_clear()

    def no_chemnet(*args, **kwargs):
        raise AssertionError("ChemNet should not run for a cached reference")

    monkeypatch.setattr(fcd_module, "chemnet_statistics", no_chemnet)
    again = fcd_module.reference_statistics(a)  # same set in another order: same cache key
    np.testing.assert_array_equal(again["mu"], stats["mu"])
    np.testing.assert_array_equal(again["sigma"], stats["sigma"])


def test_fcd_identical_sets_near_zero(fcd_sets, chemnet_runs):
    a, _ = fcd_sets
    value = fcd_module.frechet_chemnet_distance(a, a)
    assert abs(value) < 1e-3
    assert math.isnan(fcd_module.frechet_chemnet_distance(a[:1], a))


@pytest.fixture(scope="module")
def fcd_b_vs_a(fcd_sets, chemnet_runs) -> float:
    a, b = fcd_sets
    return fcd_module.frechet_chemnet_distance(b, a)


def test_fcd_different_sets_positive(fcd_sets, fcd_b_vs_a: float):
    a, b = fcd_sets
    assert not set(a) & set(b)
    assert fcd_b_vs_a > 1e-2


def test_evaluate_with_fcd(fcd_sets, chemnet_runs, fcd_b_vs_a: float, tmp_path: Path):
    a, b = fcd_sets
    reference_file = tmp_path / "fcd_ref.smi"
    reference_file.write_text("\n".join(a) + "\n", encoding="utf-8")
    m = evaluate(b + ["xyz"], reference=REFERENCE, oracles="rings", fcd=True, fcd_reference=str(reference_file), progress=False)
    assert m["fcd"]["reference"] == str(reference_file)
    assert m["fcd"]["reference_molecules"] == len(a)
    # the invalid string is left out: the value is the FCD of the valid molecules
    assert m["fcd"]["value"] == pytest.approx(fcd_b_vs_a, rel=1e-9)
    assert len(chemnet_runs) == len(set(chemnet_runs))
