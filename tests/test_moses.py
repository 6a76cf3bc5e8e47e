"""MOSES: data specs and fetching (on a fake wheel built from a committed fixture), and the metric set
(exact small cases, brute-force checks, invariants of MOSES's own data, and the paper's Train row
when the data has been fetched)."""

from __future__ import annotations

import gzip
import json
import random
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from moldiff.chemistry import data, moses
from moldiff.chemistry.molecules import canonicalise_all
from moldiff.cli import cli
from moldiff.core.errors import MoldiffError
from moldiff.core.files import sha256_file

FIXTURE = pd.read_csv(Path(__file__).parent / "data" / "moses_fixture.csv")
SPLIT = {s: FIXTURE.loc[FIXTURE["split"] == s, "smiles"].tolist() for s in ("train", "test", "test_scaffolds")}


def _fake_wheel(path: Path, splits: dict[str, list[str]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for split, smiles in splits.items():
            archive.writestr(data.MOSES_MEMBERS[split], gzip.compress(("SMILES\n" + "\n".join(smiles) + "\n").encode(), mtime=0))
    return path


@pytest.fixture
def fetched(tmp_path, monkeypatch):
    """The fixture's molecules fetched as if they were MOSES, into an asset root of their own."""
    wheel = _fake_wheel(tmp_path / "molsets-0.3.1-py3-none-any.whl", SPLIT)
    _, record = data.read_moses_wheel(wheel, None)
    monkeypatch.setattr(data, "dataset_info", lambda name="qm9": {**record, "data_sha256": "pinned elsewhere",
                                                                  "canonicalisation": "another RDKit"})
    monkeypatch.setenv("MOLDIFF_HOME", str(tmp_path / "home"))  # the first asset root: fetched into, found first
    data._prepared_table.cache_clear()
    folder, fetched_record = data.fetch_moses(wheel=wheel, progress=False)
    yield folder, fetched_record
    data._prepared_table.cache_clear()


def test_fetch_writes_canonical_splits_in_order(fetched):
    folder, record = fetched
    assert folder.parent.parent.name == "home" and (folder / ".gitignore").read_text() == "*\n"
    for split, smiles in SPLIT.items():
        assert data.load_split("moses", split) == [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles]
    assert record["split_sizes"] == {s: len(v) for s, v in SPLIT.items()} and record["invalid"] == 0
    assert data.data_hash("moses") == record["data_sha256"]
    assert data.parse_spec("moses:test_scaffolds") == ("moses", "test_scaffolds")
    assert len(data.load_split("moses")) == len(FIXTURE)
    with pytest.raises(MoldiffError, match="choose one of train, test, test_scaffolds"):
        data.load_split("moses", "valid")


def test_cli_evaluate_moses(fetched, tmp_path, monkeypatch):
    """`moldiff evaluate --metrics moses` against the fetched (fixture) data: every MOSES column, and
    each row counts (one invalid line of 51)."""
    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path / "cache"))
    (tmp_path / "g.smi").write_text("\n".join(SPLIT["train"][:50] + ["C1CC"]) + "\n")
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "g.smi"), "--metrics", "moses", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(moses.MOSES_COLUMNS) <= set(metrics) and metrics["valid"] == 50 / 51 and metrics["Novelty"] == 0.0
    assert metrics["references"] == {"train": "moses:train", "Test": "moses:test", "TestSF": "moses:test_scaffolds"}
    assert metrics["Scaf/TestSF"] == 0.0 and len(metrics["warnings"]) == 2  # unique@1000 and @10000 over 50


def test_fetch_refuses_a_file_whose_hash_differs(tmp_path):
    good = _fake_wheel(tmp_path / "a.whl", SPLIT)
    _, pinned = data.read_moses_wheel(good, None)
    bad = _fake_wheel(tmp_path / "b.whl", {**SPLIT, "test": SPLIT["test"][:-1]})
    with pytest.raises(MoldiffError, match="not the MOSES release moldiff was checked against"):
        data.read_moses_wheel(bad, pinned)
    with pytest.raises(MoldiffError, match=r"test.csv.gz has sha256 \w+, not the pinned"):
        data.read_moses_wheel(bad, {**pinned, "source_sha256": sha256_file(bad)})


def test_without_data_commands_say_how_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "find_asset", lambda kind, name: None)
    data._prepared_table.cache_clear()
    with pytest.raises(MoldiffError, match=r"run `moldiff data fetch moses` once"):
        data.load_split("moses", "train")
    (tmp_path / "g.smi").write_text("CCO\nc1ccccc1\n")
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "g.smi"), "--metrics", "moses", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and "moldiff data fetch moses" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "m.json").exists()


def test_moses_tokenizers_fit_every_molecule():
    info = data.dataset_info("moses")
    for representation in ("smiles", "selfies"):
        tokenizer = data.dataset_tokenizer(representation, "moses")
        recorded = info["tokenizers"][representation]
        assert recorded["molecules_too_long"] == 0 and tokenizer.max_length >= recorded["longest_molecule_tokens"] + 2
        assert tokenizer.max_length % 8 == 0 and len(tokenizer.data_tokens) == recorded["data_tokens"]
        batch = tokenizer.encode_batch(canonicalise_all(FIXTURE["smiles"].tolist(), progress=False), progress=False)
        assert batch.n_skipped == 0


# --- metrics --------------------------------------------------------------------------------
def test_moses_own_unit_case():
    """MOSES's tests/test_metrics.py: the same molecules give the same values (FCD to 1e-4 relative:
    ChemNet on two reference molecules is ill-conditioned)."""
    test = ["Oc1ccccc1-c1cccc2cnccc12", "COc1cccc(NC(=O)Cc2coc3ccc(OC)cc23)c1"]
    gen = ["CNC", "Oc1ccccc1-c1cccc2cnccc12", "INVALID", "CCCP", "Cc1noc(C)c1CN(C)C(=O)Nc1cc(F)cc(F)c1",
           "Cc1nc(NCc2ccccc2)no1-c1ccccc1"]
    m = moses.moses_metrics(gen, train=test, references={"Test": test}, unique_k=(3,), progress=False)
    expected = {"valid": 2 / 3, "unique@3": 1.0, "SNN/Test": 0.3152585653588176, "Frag/Test": 0.3,
                "Scaf/Test": 0.5, "IntDiv": 0.7189187309761661, "Filters": 0.75, "Novelty": 0.75}
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-9), key
    assert m["FCD/Test"] == pytest.approx(52.58371754126664, rel=1e-4)
    assert m["filter_failures"] == {moses.ATOM: 1}  # CCCP


def _brute(smiles_a, smiles_b):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    a = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles_a]
    b = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles_b]
    return np.array([DataStructs.BulkTanimotoSimilarity(x, b) for x in a])


@pytest.mark.parametrize("p", [1, 2])
def test_similarities_equal_rdkit_tanimoto(p, monkeypatch):
    monkeypatch.setattr(moses, "_GEN_BLOCK", 7)  # several blocks on both sides
    monkeypatch.setattr(moses, "_REF_BLOCK", 11)
    gen, ref = SPLIT["train"][:30], SPLIT["test"][:40]
    sims = _brute(gen, ref)
    fg = moses.features(gen, progress=False).fingerprints
    fr = moses.features(ref, progress=False).fingerprints
    assert np.allclose(moses.tanimoto_aggregate(fr, fg, "max"), sims.max(1))
    assert np.allclose(moses.tanimoto_aggregate(fr, fg, "mean", p), (sims**p).mean(1) ** (1 / p))
    self_sims = _brute(gen, gen)
    assert moses.internal_diversity(fg, p) == pytest.approx(1 - ((self_sims**p).mean(1) ** (1 / p)).mean())


def test_empty_fingerprints_are_identical():
    empty = np.zeros((2, 128), dtype=np.uint8)
    assert moses.tanimoto_aggregate(empty, empty, "max").tolist() == [1.0, 1.0]


def test_cosine_similarity():
    assert moses.cosine_similarity(Counter(a=1, b=1), Counter(a=2, b=2)) == pytest.approx(1.0)
    assert moses.cosine_similarity(Counter(a=1), Counter(b=1)) == 0.0
    assert moses.cosine_similarity(Counter(a=3, b=4), Counter(a=1)) == pytest.approx(0.6)
    assert np.isnan(moses.cosine_similarity(Counter(), Counter(a=1)))


@pytest.mark.parametrize(("smiles", "reason", "group"), [
    ("CC(=O)Nc1ccc(O)cc1", None, None),
    ("CC[N+](C)(C)C", moses.CHARGE, moses.CHARGE),
    ("CCCP", moses.ATOM, moses.ATOM),                    # phosphorus
    ("C1CCCCCCC1", moses.RING_8, moses.RING_8),
    ("CCCCl", "MCF4", "MCF"),                            # primary alkyl halide
    ("O=C1C=CC(=O)C=C1", "quinone_A(370)", "PAINS"),
    ("Oc1ccccc1O", "catechol_A(92)", "PAINS"),
])
def test_filters(smiles, reason, group):
    mol = Chem.MolFromSmiles(smiles)
    assert moses.filter_failure(mol) == reason
    assert moses.passes_filters(mol) is (reason is None)
    if reason is not None:
        assert moses.filter_group(reason) == group


def test_scaffold_needs_two_rings():
    assert moses.scaffold(Chem.MolFromSmiles("Cc1ccccc1")) is None
    assert moses.scaffold(Chem.MolFromSmiles("CCc1ccc(Cc2ccccn2)cc1")) == "c1ccc(Cc2ccccn2)cc1"


def test_invariants_on_moses_molecules():
    """Train against its own splits: all valid and unique, all pass the filters MOSES built its data
    with, none novel, and no scaffold shared with the scaffold test set."""
    train = SPLIT["train"]
    m = moses.moses_metrics(train, train=train, references={"Test": SPLIT["test"], "TestSF": SPLIT["test_scaffolds"]},
                            unique_k=(100,), fcd=False, progress=False)
    assert m["valid"] == m["unique@100"] == m["Filters"] == 1.0 and m["Novelty"] == 0.0
    assert m["Scaf/TestSF"] == 0.0 and 0 < m["Scaf/Test"] < 1 and 0.9 < m["Frag/Test"] <= 1
    assert 0 < m["SNN/TestSF"] < 1 and 0 < m["SNN/Test"] < 1 and 0.8 < m["IntDiv2"] < m["IntDiv"] < 0.9
    self_m = moses.moses_metrics(train, train=SPLIT["test"], references={"Test": train}, unique_k=(), fcd=False, progress=False)
    for key in ("SNN/Test", "Frag/Test", "Scaf/Test"):
        assert self_m[key] == pytest.approx(1.0), key
    assert self_m["Novelty"] == 1.0


def test_reference_features_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path))
    first = moses.load_reference(SPLIT["test"][:20], progress=False)
    files = {p.stem for p in (tmp_path / "moses").iterdir()}
    assert len(files) == 1
    second = moses.load_reference(list(reversed(SPLIT["test"][:20])), progress=False)
    assert np.array_equal(np.sort(first.features.fingerprints, axis=0), np.sort(second.features.fingerprints, axis=0))
    assert first.features.fragments == second.features.fragments
    (tmp_path / "moses" / f"{next(iter(files))}.json").write_text("{broken")
    assert moses.load_reference(SPLIT["test"][:20], progress=False).features.scaffolds == first.features.scaffolds


def test_too_few_valid_molecules():
    with pytest.raises(MoldiffError, match="at least 2 valid"):
        moses.moses_metrics(["CCO", "nonsense"], train=["CCO"], references={}, progress=False)


def test_cli_refuses_basic_options(tmp_path):
    (tmp_path / "g.smi").write_text("CCO\n")
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "g.smi"), "--metrics", "moses", "--reference", "qm9",
                                      "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and "--reference do not apply to --metrics moses" in result.output


# --- the MOSES paper's Train row, on the real data --------------------------------------------
#: The MOSES paper's (and README's) reference row: the training set scored against Test and TestSF.
PAPER_TRAIN_ROW = {"valid": 1.0, "unique@1000": 1.0, "unique@10000": 1.0, "FCD/Test": 0.008, "FCD/TestSF": 0.4755,
                   "SNN/Test": 0.6419, "SNN/TestSF": 0.5859, "Frag/Test": 1.0, "Frag/TestSF": 0.9986,
                   "Scaf/Test": 0.9907, "Scaf/TestSF": 0.0, "IntDiv": 0.8567, "IntDiv2": 0.8508, "Filters": 1.0}


def _moses_fetched() -> bool:
    try:
        data.fetched_dir("moses")
    except MoldiffError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _moses_fetched(), reason="MOSES not fetched (moldiff data fetch moses)")
def test_train_subsample_matches_the_paper_where_size_does_not_matter():
    """A train subsample against subsampled Test and TestSF (the full references take hours on CPU:
    ``scripts/report_moses.py``): the metrics that do not depend on the set sizes match the paper's
    Train row within sampling noise (1,000 molecules: 0.01 for the diversities)."""
    rng = random.Random(0)
    train = rng.sample(data.load_split("moses", "train"), 1000)
    refs = {"Test": rng.sample(data.load_split("moses", "test"), 1000),
            "TestSF": rng.sample(data.load_split("moses", "test_scaffolds"), 1000)}
    m = moses.moses_metrics(train, references=refs, unique_k=(1000,), fcd=False, progress=False)
    for key in ("valid", "unique@1000", "Filters", "Scaf/TestSF"):
        assert m[key] == PAPER_TRAIN_ROW[key], key
    assert m["Novelty"] == 0.0  # the paper's row says 1.0, but the training set is not novel to itself
    for key in ("IntDiv", "IntDiv2"):
        assert m[key] == pytest.approx(PAPER_TRAIN_ROW[key], abs=0.01), key
