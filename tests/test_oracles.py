"""Property oracles: NaN for invalid input, values equal to RDKit's, alignment, parallelism, cache."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Contrib.SA_Score import sascorer

import moldiff
import moldiff.chemistry.oracles as oracles_module
from moldiff.chemistry.data import load_split
from moldiff.chemistry.oracles import ORACLES, clear_cache, get_oracle, parse_oracles, register_oracle, score
from moldiff.core.errors import MoldiffError
from moldiff.core.parallel import MIN_PARALLEL_ITEMS, parallel_map

INVALID = [None, "", "xyz", "C1CC"]
VALID = ["CCO", "c1ccccc1", "c1ccc2ccccc2c1", "CC(=O)Nc1ccc(O)cc1", "[NH3+]CC(=O)[O-]", "C1CC1C#N"]
BUILTIN = ["rings", "aromatic_rings", "qed", "sa", "logp", "mw", "tpsa", "hbd", "hba", "heavy_atoms", "rotatable_bonds"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def custom_oracle():
    """Register ``n_carbons`` for one test and remove it afterwards."""
    def n_carbons(mol: Chem.Mol) -> float:
        return sum(atom.GetSymbol() == "C" for atom in mol.GetAtoms())

    oracle = register_oracle("n_carbons", n_carbons, "carbon atoms")
    yield oracle
    ORACLES.pop("n_carbons", None)
    oracles_module._CACHE.pop("n_carbons", None)


def test_builtin_oracles_registered():
    assert set(BUILTIN) <= set(ORACLES)
    assert all(ORACLES[name].description for name in BUILTIN)
    assert moldiff.ORACLES is ORACLES


@pytest.mark.parametrize("name", BUILTIN)
def test_invalid_input_gives_nan_valid_gives_float(name: str):
    oracle = get_oracle(name)
    for bad in INVALID:
        value = oracle(bad)
        assert isinstance(value, float) and math.isnan(value), (name, bad)
    for good in VALID:
        value = oracle(good)
        assert isinstance(value, float) and math.isfinite(value), (name, good)
        assert oracle(Chem.MolFromSmiles(good)) == value  # a Mol works like its SMILES


def test_score_invalid_rows_are_nan():
    table = score(INVALID, BUILTIN, progress=False)
    assert list(table.columns) == BUILTIN
    assert len(table) == len(INVALID)
    assert table.isna().all().all()


@pytest.mark.parametrize("name, smiles, expected", [
    ("rings", "c1ccccc1", 1),
    ("rings", "c1ccc2ccccc2c1", 2),
    ("rings", "CCO", 0),
    ("rings", "C1CC12CC2", 2),  # spiro: two rings
    ("aromatic_rings", "c1ccc2ccccc2c1", 2),
    ("aromatic_rings", "C1CCCCC1", 0),
    ("heavy_atoms", "CCO", 3),
    ("heavy_atoms", "[2H]C([2H])([2H])O", 2),  # explicit deuterium is still hydrogen
    ("hbd", "CCO", 1),
    ("hbd", "CCOC", 0),
    ("hba", "CCOC", 1),
    ("rotatable_bonds", "CC", 0),
])
def test_known_values(name: str, smiles: str, expected: int):
    """Values a chemist can count by hand, cross-checked with the RDKit call the oracle wraps."""
    direct = {
        "rings": rdMolDescriptors.CalcNumRings,
        "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
        "heavy_atoms": lambda m: m.GetNumHeavyAtoms(),
        "hbd": rdMolDescriptors.CalcNumHBD,
        "hba": rdMolDescriptors.CalcNumHBA,
        "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    }[name]
    assert direct(Chem.MolFromSmiles(smiles)) == expected
    assert get_oracle(name)(smiles) == expected
    assert score([smiles], [name], progress=False)[name].iloc[0] == expected


@pytest.mark.parametrize("name, reference", [
    ("qed", QED.qed),
    ("logp", Crippen.MolLogP),
    ("sa", sascorer.calculateScore),
    ("mw", Descriptors.MolWt),
    ("tpsa", rdMolDescriptors.CalcTPSA),
])
def test_values_equal_direct_rdkit_calls(name: str, reference):
    expected = [float(reference(Chem.MolFromSmiles(s))) for s in VALID]
    assert [get_oracle(name)(s) for s in VALID] == expected
    assert score(VALID, [name], progress=False)[name].tolist() == expected


def test_sa_range_and_ordering():
    values = [get_oracle("sa")(s) for s in VALID]
    assert all(1.0 <= v <= 10.0 for v in values)


def test_score_aligned_with_input_order():
    inputs = ["CCO", None, "c1ccccc1", "", "xyz", "OCC", "CCO", "C1CC", "c1ccc2ccccc2c1"]
    names = ["rings", "qed", "hbd"]
    table = score(inputs, names, progress=False)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == names and len(table) == len(inputs)
    assert table.index.tolist() == list(range(len(inputs)))
    for name in names:
        expected = [get_oracle(name)(s) for s in inputs]
        np.testing.assert_array_equal(table[name].to_numpy(), np.array(expected, dtype=float))
    assert table["rings"].tolist()[2] == 1 and table["rings"].tolist()[8] == 2
    assert table.loc[0].tolist() == table.loc[5].tolist() == table.loc[6].tolist()  # CCO == OCC


def test_score_accepts_comma_string_and_removes_duplicates():
    table = score(["CCO"], "qed, rings,qed", progress=False)
    assert list(table.columns) == ["qed", "rings"]
    assert parse_oracles(["rings", "rings", "sa"]) == ["rings", "sa"]


def test_empty_input():
    table = score([], ["rings"], progress=False)
    assert list(table.columns) == ["rings"] and len(table) == 0


def test_unknown_oracle_lists_valid_names():
    with pytest.raises(MoldiffError) as info:
        get_oracle("foo")
    assert "unknown oracle 'foo'" in str(info.value)
    for name in ORACLES:
        assert name in str(info.value)
    with pytest.raises(MoldiffError, match="unknown oracle 'bar'"):
        score(["CCO"], "rings,bar", progress=False)
    with pytest.raises(MoldiffError, match="no oracle given"):
        parse_oracles(" , ")


def _pid(_: object) -> int:
    return os.getpid()


def test_parallel_map_uses_worker_processes_and_keeps_order():
    items = list(range(MIN_PARALLEL_ITEMS + 500))
    pids = parallel_map(_pid, items, workers=2, chunk_size=100, progress=False)
    assert os.getpid() not in set(pids)
    assert parallel_map(abs, [-i for i in items], workers=2, chunk_size=77, progress=False) == items
    assert set(parallel_map(_pid, items[:10], workers=2, progress=False)) == {os.getpid()}  # small: in-process


def test_parallel_score_equals_serial():
    molecules = random.Random(3).sample(load_split("qm9", "train"), MIN_PARALLEL_ITEMS + 500)
    molecules += INVALID[1:] + molecules[:20]
    names = ["rings", "qed", "logp", "sa"]
    serial = score(molecules, names, workers=1, progress=False)
    clear_cache()
    parallel = score(molecules, names, workers=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    assert serial["qed"].isna().sum() == len(INVALID[1:])


def test_cache_avoids_recomputation(monkeypatch: pytest.MonkeyPatch):
    computed: list[str] = []
    real = oracles_module.parallel_map

    def spy(fn, items, **kwargs):
        computed.extend(items)
        return real(fn, items, **kwargs)

    monkeypatch.setattr(oracles_module, "parallel_map", spy)
    first = score(["CCO", "CCN", "xyz"], ["rings", "qed"], progress=False)
    assert sorted(computed) == ["CCN", "CCO"]
    computed.clear()
    again = score(["OCC", "NCC"], ["rings", "qed"], progress=False)  # other spellings, same molecules
    assert computed == []
    assert again.to_numpy().tolist() == first.iloc[:2].to_numpy().tolist()
    assert set(oracles_module._CACHE["rings"]) == {"CCO", "CCN"}  # keyed by canonical SMILES
    score(["OCC", "CCC"], ["qed"], progress=False)
    assert computed == ["CCC"]


def test_non_canonical_spellings_share_a_cache_entry():
    score(["CCO"], ["rings"], progress=False)
    assert set(oracles_module._CACHE["rings"]) == {"CCO"}
    oracles_module._CACHE["rings"]["CCO"] = 42.0  # a planted value shows that the cache is read
    assert score(["OCC", "C(O)C", "CCO"], ["rings"], progress=False)["rings"].tolist() == [42.0] * 3
    assert set(oracles_module._CACHE["rings"]) == {"CCO"}


def test_cache_overflow_keeps_values_of_this_call(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(oracles_module, "CACHE_LIMIT", 3)
    score(["CCO", "CCN"], ["rings", "hbd"], progress=False)
    molecules = ["CCO", "C1CC1", "c1ccccc1", "CCN"]
    table = score(molecules, ["rings", "hbd"], progress=False)  # cache full: emptied on the way
    for name in ("rings", "hbd"):
        assert table[name].tolist() == [get_oracle(name)(s) for s in molecules]


def test_register_oracle_custom(custom_oracle):
    assert get_oracle("n_carbons") is custom_oracle
    table = score(["CCO", "c1ccccc1", None, "xyz"], "n_carbons,rings", progress=False)
    assert table["n_carbons"].tolist()[:2] == [2.0, 6.0]
    assert table["n_carbons"].isna().tolist() == [False, False, True, True]
    assert "n_carbons" in str(pytest.raises(MoldiffError, get_oracle, "nope").value)


def test_custom_oracle_in_worker_processes(custom_oracle):
    molecules = random.Random(5).sample(load_split("qm9", "train"), MIN_PARALLEL_ITEMS + 100)
    parallel = score(molecules, ["n_carbons"], workers=2, progress=False)["n_carbons"].tolist()
    expected = [float(sum(a.GetSymbol() == "C" for a in Chem.MolFromSmiles(s).GetAtoms())) for s in molecules]
    assert parallel == expected


def test_reregistering_replaces_oracle_and_forgets_its_cache(custom_oracle):
    assert score(["CCO"], ["n_carbons"], progress=False)["n_carbons"].iloc[0] == 2.0
    register_oracle("n_carbons", lambda mol: mol.GetNumAtoms() * 10.0)
    assert score(["CCO"], ["n_carbons"], progress=False)["n_carbons"].iloc[0] == 30.0


def test_failing_oracle_gives_nan_not_an_exception():
    def broken(mol: Chem.Mol) -> float:
        raise RuntimeError("boom")

    try:
        register_oracle("broken_oracle", broken)
        assert math.isnan(get_oracle("broken_oracle")("CCO"))
        assert score(["CCO"], ["broken_oracle"], progress=False)["broken_oracle"].isna().all()
    finally:
        ORACLES.pop("broken_oracle", None)
        oracles_module._CACHE.pop("broken_oracle", None)


@pytest.mark.parametrize("bad", ["has space", "1abc", "a-b", ""])
def test_register_oracle_rejects_bad_names(bad: str):
    with pytest.raises(MoldiffError, match="identifier"):
        register_oracle(bad, lambda mol: 0.0)
    assert bad not in ORACLES
