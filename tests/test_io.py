"""Result tables out (csv, jsonl, smi, sdf), atomically; writability checks."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from moldiff.chemistry.molfiles import TABLE_FORMATS, check_writable, file_format, read_molecule_file, write_table
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, write_json


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({
        "smiles": ["CCO", "c1ccccc1", "not a smiles", "C#N"],
        "name": ["ethanol", "benzene", "junk", ""],
        "qed": [0.40680796565539457, 0.44262837597664437, np.nan, 0.1],
        "rings": [0.0, 1.0, np.nan, 0.0],
    })


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_csv_round_trip(tmp_path: Path, table: pd.DataFrame):
    path = tmp_path / "out.csv"
    assert write_table(table, path) == len(table)
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    back["name"] = back["name"].fillna("")
    pd.testing.assert_frame_equal(back, table)
    read = read_molecule_file(path)
    assert read["smiles"].tolist() == table["smiles"].tolist()
    assert read.index.tolist() == [2, 3, 4, 5]


def test_jsonl_round_trip(tmp_path: Path, table: pd.DataFrame):
    path = tmp_path / "out.jsonl"
    assert write_table(table, path) == len(table)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(table)
    assert records[2]["qed"] is None  # NaN is written as null, valid JSON
    assert records[0] == {"smiles": "CCO", "name": "ethanol", "qed": 0.40680796565539457, "rings": 0.0}
    read = read_molecule_file(path)
    assert read["smiles"].tolist() == table["smiles"].tolist()
    assert read["name"].tolist() == table["name"].tolist()
    assert read["qed"].tolist()[:2] == table["qed"].tolist()[:2]


def test_smi_round_trip(tmp_path: Path, table: pd.DataFrame):
    path = tmp_path / "out.smi"
    assert write_table(table, path) == len(table)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == ["CCO\tethanol", "c1ccccc1\tbenzene", "not a smiles\tjunk", "C#N"]
    read = read_molecule_file(path)
    assert read["smiles"].tolist()[:2] == ["CCO", "c1ccccc1"]
    assert read["name"].tolist()[:2] == ["ethanol", "benzene"]
    assert read["smiles"].tolist()[3] == "C#N" and read["name"].tolist()[3] == ""


def test_smi_without_names(tmp_path: Path):
    path = tmp_path / "plain.smi"
    write_table(pd.DataFrame({"smiles": ["CCO", "CCN"], "qed": [0.1, 0.2]}), path)
    assert path.read_text(encoding="utf-8") == "CCO\nCCN\n"
    read = read_molecule_file(path)
    assert read["smiles"].tolist() == ["CCO", "CCN"] and "name" not in read.columns


def test_sdf_round_trip(tmp_path: Path, table: pd.DataFrame):
    path = tmp_path / "out.sdf"
    written = write_table(table, path)
    assert written == 4  # the invalid row is a record without atoms
    mols = [m for m in Chem.SDMolSupplier(str(path))]
    assert len(mols) == 4 and all(m is not None for m in mols)
    assert mols[2].GetNumAtoms() == 0 and mols[2].GetProp("_Name") == table["name"][2]
    mols = mols[:2] + mols[3:]
    valid = table.drop(index=2).reset_index(drop=True)
    for mol, (_, row) in zip(mols, valid.iterrows()):
        assert mol.GetProp("smiles") == row["smiles"]
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.MolFromSmiles(row["smiles"]))
        assert float(mol.GetProp("qed")) == row["qed"]
        assert float(mol.GetProp("rings")) == row["rings"]
        assert mol.GetProp("_Name") == row["name"]
    assert not mols[2].HasProp("name")  # the name goes into the title line, not a property


def test_sdf_skips_nan_properties(tmp_path: Path):
    path = tmp_path / "nan.sdf"
    write_table(pd.DataFrame({"smiles": ["CCO"], "qed": [np.nan], "note": [None]}), path)
    (mol,) = list(Chem.SDMolSupplier(str(path)))
    assert not mol.HasProp("qed") and not mol.HasProp("note")
    assert mol.GetProp("smiles") == "CCO"


def test_written_file_has_normal_permissions(tmp_path: Path, table: pd.DataFrame):
    for fmt in TABLE_FORMATS:
        path = tmp_path / f"out{fmt}"
        write_table(table, path)
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), fmt


def test_overwrite_replaces_content(tmp_path: Path, table: pd.DataFrame):
    path = tmp_path / "out.csv"
    path.write_text("old content\n", encoding="utf-8")
    write_table(table.iloc[:1], path)
    assert pd.read_csv(path)["smiles"].tolist() == ["CCO"]


class _Unserialisable:
    pass


@pytest.mark.parametrize("existing", [True, False])
def test_failed_jsonl_write_leaves_target_untouched(tmp_path: Path, existing: bool):
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "t.jsonl"
    if existing:
        path.write_text("previous\n", encoding="utf-8")
    rows = pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "x": [1, 2, _Unserialisable()]})
    with pytest.raises(TypeError):
        write_table(rows, path)  # the first two lines reach the temporary file, the third fails
    if existing:
        assert path.read_text(encoding="utf-8") == "previous\n"
        assert [p.name for p in folder.iterdir()] == ["t.jsonl"]
    else:
        assert list(folder.iterdir()) == []


def test_failed_csv_write_leaves_target_untouched(tmp_path: Path, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "t.csv"
    path.write_text("previous\n", encoding="utf-8")

    def failing_to_csv(self, handle, **kwargs):
        handle.write("smiles,qed\nhalf,")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    with pytest.raises(RuntimeError, match="disk full"):
        write_table(table, path)
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in folder.iterdir()] == ["t.csv"]


def test_atomic_write_interrupted(tmp_path: Path):
    path = tmp_path / "sub" / "file.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as handle:
            handle.write("partial")
            raise KeyboardInterrupt
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # parent created, but no temporary file left
    with atomic_write(path, "wb") as handle:
        handle.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_write_json(tmp_path: Path):
    path = tmp_path / "m.json"
    write_json({"a": math.nan, "b": np.float64(1.5), "c": [np.int64(2), math.inf], 3: "x"}, path)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"a": None, "b": 1.5, "c": [2, None], "3": "x"}
    assert "NaN" not in text and "Infinity" not in text


# --- formats and writability -------------------------------------------------------------------
def test_file_format():
    assert file_format("x.CSV", TABLE_FORMATS) == ".csv"
    assert file_format("dir.d/x.sdf", TABLE_FORMATS) == ".sdf"
    with pytest.raises(MoldiffError, match="unsupported file type '.gz'"):
        file_format("x.csv.gz", TABLE_FORMATS)  # outputs are never compressed
    with pytest.raises(MoldiffError) as info:
        file_format("x.xlsx", TABLE_FORMATS)
    for fmt in TABLE_FORMATS:
        assert fmt in str(info.value)
    with pytest.raises(MoldiffError, match="no extension"):
        file_format("noext", TABLE_FORMATS)


def test_write_table_rejects_unsupported_format(tmp_path: Path, table: pd.DataFrame):
    with pytest.raises(MoldiffError, match="unsupported"):
        write_table(table, tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_check_writable_under_a_regular_file(tmp_path: Path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file\n", encoding="utf-8")
    for target in (blocker / "out.csv", blocker / "deeper" / "out.csv"):
        with pytest.raises(MoldiffError, match="cannot write"):
            check_writable(target)
    assert blocker.read_text(encoding="utf-8") == "I am a file\n"


def test_check_writable_directory_and_format(tmp_path: Path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(MoldiffError, match="is a directory"):
        check_writable(tmp_path / "d.csv")
    with pytest.raises(MoldiffError, match="unsupported"):
        check_writable(tmp_path / "out.txt")
    with pytest.raises(MoldiffError, match="unsupported"):
        check_writable(tmp_path / "out.csv", (".json",))


def test_check_writable_leaves_nothing_and_the_write_creates_parents(tmp_path: Path):
    target = tmp_path / "new" / "deeper" / "out.sdf"
    assert check_writable(target) == target
    assert not (tmp_path / "new").exists()  # a refused run must not leave empty directories
    write_table(pd.DataFrame({"smiles": ["CCO"]}), target)
    assert target.is_file()
    assert check_writable(tmp_path / "m.json", (".json",)) == tmp_path / "m.json"
    assert not (tmp_path / "m.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_check_writable_read_only_directory(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MoldiffError, match="cannot write"):
            check_writable(folder / "out.csv")
    finally:
        folder.chmod(0o700)
