"""Packaged QM9 (provenance, hashes, splits) and reading user molecule files."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
import re
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from moldiff.chemistry.data import (
    SPLIT_FRACTIONS,
    SPLITS,
    data_hash,
    dataset_info,
    describe_lines,
    load_molecules,
    load_split,
    prepare_dataset,
    split_molecules,
)
from moldiff.chemistry.molfiles import INPUT_FORMATS
from moldiff.core.errors import MoldiffError

REPO = Path(__file__).resolve().parents[1]
QM9 = REPO / "moldiff" / "resources" / "qm9"


def rdkit_canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None, smiles
    return Chem.MolToSmiles(mol)


# --- packaged QM9 ------------------------------------------------------------------------------
def test_source_sha256_matches_source_md_and_json():
    raw = gzip.decompress((QM9 / "qm9_smiles.txt.gz").read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    documented = re.findall(r"\b[0-9a-f]{64}\b", (QM9 / "SOURCE.md").read_text(encoding="utf-8"))
    assert documented == [digest]
    assert digest.startswith("85f2f11e")
    info = dataset_info("qm9")
    assert info["source_sha256"] == digest
    text = raw.decode("utf-8")
    assert not text.endswith("\n"), "SOURCE.md says the last line has no trailing newline"
    assert len(text.split("\n")) == info["source_molecules"]
    assert f"{info['source_molecules']:,}" in (QM9 / "SOURCE.md").read_text(encoding="utf-8")


def test_data_sha256_is_hash_of_prepared_csv():
    raw = gzip.decompress((QM9 / "qm9.csv.gz").read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    assert dataset_info("qm9")["data_sha256"] == digest
    assert data_hash("qm9") == digest
    header = raw.split(b"\n", 1)[0]
    assert header == b"smiles,split"


def test_split_sizes_match_json():
    info = dataset_info("qm9")
    sizes = {split: len(load_split("qm9", split)) for split in SPLITS}
    assert sizes == info["split_sizes"]
    assert sum(sizes.values()) == info["molecules"] == len(load_split("qm9"))
    assert info["molecules"] == info["source_molecules"] - info["invalid"] - info["duplicates"]
    assert info["split_fractions"] == dict(zip(SPLITS, SPLIT_FRACTIONS))


def test_splits_are_disjoint_and_cover_everything():
    everything = load_split("qm9")
    assert len(set(everything)) == len(everything), "packaged molecules are not unique"
    parts = {split: load_split("qm9", split) for split in SPLITS}
    sets = {split: set(smiles) for split, smiles in parts.items()}
    for split, smiles in parts.items():
        assert len(sets[split]) == len(smiles), f"{split} repeats molecules"
    assert not sets["train"] & sets["valid"]
    assert not sets["train"] & sets["test"]
    assert not sets["valid"] & sets["test"]
    assert sets["train"] | sets["valid"] | sets["test"] == set(everything)


def test_packaged_smiles_are_rdkit_canonical():
    everything = load_split("qm9")
    assert all(isinstance(s, str) and s for s in everything)
    sample = random.Random(1234).sample(everything, 2000)
    not_canonical = [s for s in sample if rdkit_canonical(s) != s]
    assert not_canonical == []


def test_split_molecules_reproduces_packaged_split():
    packaged = pd.read_csv(QM9 / "qm9.csv.gz", dtype=str, keep_default_na=False)
    rebuilt = split_molecules(load_split("qm9"))
    pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), packaged)


@pytest.fixture(scope="module")
def some_molecules() -> list[str]:
    return random.Random(7).sample(load_split("qm9"), 3001)


def test_split_molecules_is_deterministic(some_molecules):
    pd.testing.assert_frame_equal(split_molecules(some_molecules), split_molecules(some_molecules))


def test_split_molecules_is_order_independent(some_molecules):
    shuffled = some_molecules[:]
    random.Random(99).shuffle(shuffled)
    assert shuffled != some_molecules
    pd.testing.assert_frame_equal(split_molecules(shuffled), split_molecules(some_molecules))
    # duplicates collapse: the split depends only on the set of molecules
    pd.testing.assert_frame_equal(split_molecules(some_molecules + some_molecules[:50]), split_molecules(some_molecules))


def test_split_molecules_depends_on_seed(some_molecules):
    a = split_molecules(some_molecules, seed=1).set_index("smiles")["split"]
    b = split_molecules(some_molecules, seed=2).set_index("smiles")["split"]
    assert (a.sort_index() != b.sort_index()).any()


def test_split_molecules_fractions(some_molecules):
    n = len(some_molecules)
    table = split_molecules(some_molecules)
    counts = table["split"].value_counts().to_dict()
    assert counts["train"] == round(0.90 * n)
    assert counts["valid"] == round(0.05 * n)
    assert counts["test"] == n - round(0.90 * n) - round(0.05 * n)
    assert sorted(table["smiles"]) == sorted(some_molecules)
    custom = split_molecules(some_molecules, fractions=(0.5, 0.25, 0.25))["split"].value_counts().to_dict()
    assert custom["train"] == round(0.5 * n)
    assert custom["valid"] == round(0.25 * n)


@pytest.mark.slow
def test_prepare_dataset_reproduces_packaged_files(tmp_path: Path):
    out = tmp_path / "prepared"
    info = prepare_dataset(QM9 / "qm9_smiles.txt.gz", out)
    produced = gzip.decompress((out / "qm9.csv.gz").read_bytes())
    packaged = gzip.decompress((QM9 / "qm9.csv.gz").read_bytes())
    assert produced == packaged
    assert json.loads((out / "qm9.json").read_text(encoding="utf-8")) == json.loads((QM9 / "qm9.json").read_text(encoding="utf-8"))
    assert info == dataset_info("qm9")
    for representation in ("smiles", "selfies"):
        name = f"qm9.{representation}.json"
        assert json.loads((out / name).read_text(encoding="utf-8")) == json.loads((QM9 / name).read_text(encoding="utf-8"))
    assert sorted(p.name for p in out.iterdir()) == ["qm9.csv.gz", "qm9.json", "qm9.selfies.json", "qm9.smiles.json"]


def test_load_split_errors():
    with pytest.raises(MoldiffError, match="unknown split 'nope'.*train, valid, test"):
        load_split("qm9", "nope")
    with pytest.raises(MoldiffError, match="unknown data set 'zinc'.*qm9"):
        load_split("zinc")


def test_load_molecules_of_a_split():
    molecules = load_molecules("qm9:test", progress=False)
    assert molecules.smiles == load_split("qm9", "test")
    assert molecules.n_invalid == 0
    assert molecules.n_read == len(molecules) == dataset_info("qm9")["split_sizes"]["test"]
    with pytest.raises(MoldiffError, match="unknown split"):
        load_molecules("qm9:nope")


# --- user files --------------------------------------------------------------------------------
SMI_LINES = ["OCC ethanol", "C1=CC=CC=C1\tbenzene", "N#CC(C)=O", "[NH3+]CC([O-])=O zwitterion"]
INPUTS = [line.split()[0] for line in SMI_LINES]
NAMES = ["ethanol", "benzene", "", "zwitterion"]


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["mols.smi", "mols.txt", "mols.smi.gz", "mols.txt.gz"])
def test_smi_with_names(tmp_path: Path, name: str):
    path = _write(tmp_path / name, "\n".join(SMI_LINES) + "\n")
    molecules = load_molecules(str(path), progress=False)
    assert molecules.smiles == [rdkit_canonical(s) for s in INPUTS]
    assert molecules.table["input"].tolist() == INPUTS
    assert molecules.table["name"].tolist() == NAMES
    assert molecules.table.index.tolist() == [1, 2, 3, 4]
    assert molecules.n_read == 4 and molecules.n_invalid == 0


def test_smi_line_numbers_skip_comments_blank_lines_and_header(tmp_path: Path):
    text = "smiles name\n# a comment\nCCO\n\n   \nOCC\nc1ccccc1\n"
    molecules = load_molecules(str(_write(tmp_path / "m.smi", text)), progress=False)
    assert molecules.table.index.tolist() == [3, 6, 7]
    assert molecules.table["input"].tolist() == ["CCO", "OCC", "c1ccccc1"]
    assert "name" not in molecules.table.columns  # no line has a second column


@pytest.mark.parametrize("header", ["SMILES", "smiles", "Smiles", "sMiLeS"])
def test_csv_smiles_column_any_case_and_extra_columns_kept(tmp_path: Path, header: str):
    text = f"id,{header},value\nm1,OCC,0.5\nm2,C1=CC=CC=C1,1.5\nm3,CC(=O)O,\n"
    molecules = load_molecules(str(_write(tmp_path / "m.csv", text)), progress=False)
    table = molecules.table
    assert table["smiles"].tolist() == [rdkit_canonical(s) for s in ("OCC", "C1=CC=CC=C1", "CC(=O)O")]
    assert table["input"].tolist() == ["OCC", "C1=CC=CC=C1", "CC(=O)O"]
    assert table["id"].tolist() == ["m1", "m2", "m3"]
    assert table["value"].tolist() == ["0.5", "1.5", ""]
    assert table.index.tolist() == [2, 3, 4]  # line 1 is the header


def test_csv_blank_lines_keep_true_line_numbers(tmp_path: Path):
    text = "smiles,id\nCCO,a\n\nxyz,b\nCCN,c\n"
    molecules = load_molecules(str(_write(tmp_path / "m.csv", text)), progress=False)
    assert molecules.invalid_lines == [4]
    assert molecules.table.index.tolist() == [2, 5]
    assert molecules.table["id"].tolist() == ["a", "c"]


def test_csv_with_trailing_commas_is_not_shifted(tmp_path: Path):
    # a delimiter at the end of every row must not turn the first column into the index
    text = "name,smiles\nA,CCO,\nB,c1ccccc1,\n"
    molecules = load_molecules(str(_write(tmp_path / "m.csv", text)), progress=False)
    assert molecules.table["input"].tolist() == ["CCO", "c1ccccc1"]
    assert molecules.table["name"].tolist() == ["A", "B"]


def test_jsonl(tmp_path: Path):
    records = [{"smiles": "OCC", "id": 1}, {"smiles": "C1=CC=CC=C1", "id": 2, "note": "x"}]
    text = json.dumps(records[0]) + "\n\n" + json.dumps(records[1]) + "\n"
    molecules = load_molecules(str(_write(tmp_path / "m.jsonl", text)), progress=False)
    assert molecules.smiles == [rdkit_canonical("OCC"), rdkit_canonical("C1=CC=CC=C1")]
    assert molecules.table["input"].tolist() == ["OCC", "C1=CC=CC=C1"]
    assert molecules.table["id"].tolist() == [1, 2]
    assert molecules.table.index.tolist() == [1, 3]


@pytest.mark.parametrize("plain, text", [
    ("m.smi", "\n".join(SMI_LINES) + "\n"),
    ("m.csv", "SMILES,id\nOCC,1\nxyz,2\nC1=CC=CC=C1,3\n"),
    ("m.jsonl", '{"smiles": "OCC"}\n{"smiles": "c1ccccc1"}\n'),
])
def test_gzip_variant_reads_like_plain_file(tmp_path: Path, plain: str, text: str):
    a = load_molecules(str(_write(tmp_path / plain, text)), progress=False)
    b = load_molecules(str(_write(tmp_path / (plain + ".gz"), text)), progress=False)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.invalid_lines == b.invalid_lines


def test_invalid_smiles_skipped_counted_and_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    lines = ["CCO", "xyz", "C1CC", "c1ccccc1", "C(", "CCN"]
    path = _write(tmp_path / "m.smi", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        molecules = load_molecules(str(path), progress=False)
    assert molecules.invalid_lines == [2, 3, 5]
    assert molecules.n_invalid == 3 and molecules.n_read == 6 and len(molecules) == 3
    assert molecules.table.index.tolist() == [1, 4, 6]
    assert molecules.smiles == [rdkit_canonical(s) for s in ("CCO", "c1ccccc1", "CCN")]
    warnings = [r for r in caplog.records if r.name == "moldiff" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "lines 2, 3, 5" in message
    assert "3 invalid" in message and "of 6" in message


def test_warning_lists_only_first_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    lines = ["CCO"] + [f"bad{i}" for i in range(8)]  # invalid on lines 2..9
    path = _write(tmp_path / "m.smi", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        load_molecules(str(path), progress=False)
    message = " ".join(r.getMessage() for r in caplog.records if r.name == "moldiff")
    assert "lines 2, 3, 4, 5, 6 and 3 more" in message


def test_describe_lines():
    assert describe_lines([7]) == "line 7"
    assert describe_lines([1, 2]) == "lines 1, 2"
    assert describe_lines(list(range(1, 8))) == "lines 1, 2, 3, 4, 5 and 2 more"


def test_valid_file_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        load_molecules(str(_write(tmp_path / "m.smi", "CCO\nCCN\n")), progress=False)
    assert not [r for r in caplog.records if r.name == "moldiff"]


def test_all_invalid_file_is_an_error(tmp_path: Path):
    path = _write(tmp_path / "m.smi", "xyz\nC1CC\n")
    with pytest.raises(MoldiffError, match=r"no valid SMILES \(2 read, all invalid\)"):
        load_molecules(str(path), progress=False)


@pytest.mark.parametrize("name, text", [
    ("empty.smi", ""),
    ("comments.smi", "# nothing here\n\n"),
    ("empty.csv", ""),
    ("header_only.csv", "smiles,id\n"),
    ("empty.jsonl", "\n"),
    ("empty.smi.gz", ""),
])
def test_empty_file_is_an_error(tmp_path: Path, name: str, text: str):
    path = _write(tmp_path / name, text)
    with pytest.raises(MoldiffError, match="holds no molecules"):
        load_molecules(str(path), progress=False)


def test_missing_file(tmp_path: Path):
    with pytest.raises(MoldiffError, match="no such file"):
        load_molecules(str(tmp_path / "absent.smi"), progress=False)


def test_directory_is_not_a_file(tmp_path: Path):
    (tmp_path / "folder.smi").mkdir()
    with pytest.raises(MoldiffError, match="directory"):
        load_molecules(str(tmp_path / "folder.smi"), progress=False)


@pytest.mark.parametrize("name", ["mols.xyz", "mols", "mols.mol2", "mols.xyz.gz"])
def test_unsupported_extension_lists_supported_types(tmp_path: Path, name: str):
    path = _write(tmp_path / name, "CCO\n") if not name.endswith(".gz") else tmp_path / name
    with pytest.raises(MoldiffError) as info:
        load_molecules(str(path), progress=False)
    message = str(info.value)
    assert "unsupported file type" in message
    for fmt in INPUT_FORMATS:
        assert fmt in message
    assert ".gz" in message


def test_csv_without_smiles_column_lists_columns(tmp_path: Path):
    path = _write(tmp_path / "m.csv", "molecule,weight\nCCO,46\n")
    with pytest.raises(MoldiffError) as info:
        load_molecules(str(path), progress=False)
    message = str(info.value)
    assert "no 'smiles' column" in message
    assert "molecule, weight" in message


def test_jsonl_errors_name_the_line(tmp_path: Path):
    path = _write(tmp_path / "m.jsonl", '{"smiles": "CCO"}\n{not json\n')
    with pytest.raises(MoldiffError, match="line 2"):
        load_molecules(str(path), progress=False)
    path = _write(tmp_path / "n.jsonl", '{"smiles": "CCO"}\n["CCO"]\n')
    with pytest.raises(MoldiffError, match="line 2.*JSON object"):
        load_molecules(str(path), progress=False)
    path = _write(tmp_path / "o.jsonl", '{"mol": "CCO"}\n')
    with pytest.raises(MoldiffError, match="line 1: no 'smiles' key.*mol"):
        load_molecules(str(path), progress=False)


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "m.smi.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(MoldiffError, match="cannot read"):
        load_molecules(str(path), progress=False)
