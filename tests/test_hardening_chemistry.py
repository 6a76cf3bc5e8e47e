"""Issue 29 ("Hardening II"), chemistry and data commands: each test names the item it covers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import moldiff.chemistry.fcd as fcd_module
import moldiff.chemistry.molecules as molecules_module
from moldiff.chemistry.data import load_molecules, load_split, parse_spec, prepare_dataset, read_spec
from moldiff.chemistry.molecules import canonical_smiles, to_mol
from moldiff.chemistry.molfiles import read_molecule_file, write_table
from moldiff.chemistry.targets import Target, load_target, read_target
from moldiff.core.errors import MoldiffError

FEW = load_split("qm9", "test")[:5]


def _one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output


# --- 2: data prepare --name is a plain file name ------------------------------------------------
@pytest.mark.parametrize("name", ["../../escape", "sub/dir", ".", "..", "ABSOLUTE", ""])
def test_2_prepare_name_must_be_a_plain_file_name(run_cli, tmp_path: Path, name: str):
    name = str(tmp_path / "abs" / "escape") if name == "ABSOLUTE" else name
    Path("work").mkdir()
    Path("work/source.txt").write_text("C\nCC\nCCO\n")
    result = run_cli("data", "prepare", "--source", "work/source.txt", "--out", "work/prep", "--name", name, expect=2)
    _one_line_error(result, "plain file name")
    assert not Path("work/prep").exists() and not (tmp_path / "abs").exists() and not Path("escape.json").exists()
    with pytest.raises(MoldiffError, match="plain file name"):
        prepare_dataset(Path("work/source.txt"), Path("work/prep"), name)


# --- 6: target create does not overwrite without --force ----------------------------------------
def test_6_target_create_refuses_to_overwrite_without_force(run_cli):
    Path("mols.smi").write_text("\n".join(FEW) + "\n")
    run_cli("target", "create", "mine", "--oracle", "rings", "--data", "mols.smi")
    path = Path("guidance/mine/target.toml")
    before = path.read_text()
    result = run_cli("target", "create", "mine", "--oracle", "qed", "--data", "mols.smi", expect=2)
    _one_line_error(result, "--force")
    assert path.read_text() == before
    run_cli("target", "create", "mine", "--oracle", "qed", "--data", "mols.smi", "--force")
    assert read_target(path).oracle == "qed"


# --- 7: score keeps every input column, renaming the clashing ones --------------------------------
def _sample_like_csv(path: str) -> None:
    pd.DataFrame({
        "smiles": ["CCO", "", "c1ccccc1"], "raw": ["OCC", "C(", "c1ccccc1"], "valid": [True, False, True],
        "novel": [True, False, False], "rings": [0.0, None, 1.0], "qed": [0.1, None, 0.2],
    }).to_csv(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".sdf"])
def test_7_score_reads_its_own_output_and_sample_output(run_cli, suffix: str):
    _sample_like_csv("sampled.csv")
    result = run_cli("score", "sampled.csv", "--oracles", "qed", "--out", f"once{suffix}")
    assert "valid_input" in result.stderr and "qed_input" in result.stderr
    once = read_molecule_file(f"once{suffix}", keep_blank=True)
    assert len(once) == 3
    run_cli("score", f"once{suffix}", "--oracles", "qed,rings", "--out", "twice.csv")
    twice = pd.read_csv("twice.csv", keep_default_na=False, dtype=str)
    assert len(twice) == 3
    assert {"valid", "input", "qed", "rings", "valid_input", "qed_input", "rings_input", "raw", "novel"} <= set(twice.columns)
    assert twice["raw"].tolist() == ["OCC", "C(", "c1ccccc1"]
    if suffix == ".csv":  # the values of the first run are kept under the new names
        first = pd.read_csv("once.csv", keep_default_na=False, dtype=str)
        assert twice["qed_input2"].tolist() == first["qed"].tolist() and twice["valid_input2"].tolist() == first["valid"].tolist()
        assert twice["qed_input"].tolist() == first["qed_input"].tolist() == ["0.1", "", "0.2"]


def test_7_score_keeps_line_valid_input_and_oracle_columns(run_cli):
    Path("in.csv").write_text("smiles,line,valid,input,qed,input_input\nCCO,a,b,c,d,e\nC1CC1,f,g,h,i,j\n")
    result = run_cli("score", "in.csv", "--oracles", "qed", "--out", "out.csv")
    out = pd.read_csv("out.csv", keep_default_na=False, dtype=str)
    assert out.columns.tolist() == ["line", "smiles", "valid", "input", "line_input", "valid_input", "input_input2",
                                    "qed_input", "input_input", "qed"]
    assert out["line"].tolist() == ["2", "3"] and out["input"].tolist() == ["CCO", "C1CC1"]
    assert out["qed_input"].tolist() == ["d", "i"] and out["input_input2"].tolist() == ["c", "h"]
    assert "renamed" in result.stderr


def test_7_data_export_output_can_be_scored_and_exported_again(run_cli):
    Path("in.smi").write_text("OCC one\nC1CC1 two\n")
    run_cli("data", "export", "in.smi", "--out", "exported.csv")
    run_cli("data", "export", "exported.csv", "--out", "again.csv")
    again = pd.read_csv("again.csv", keep_default_na=False, dtype=str)
    assert again.columns.tolist() == ["smiles", "input", "input_input", "name"]
    assert again["input_input"].tolist() == ["OCC", "C1CC1"] and again["input"].tolist() == ["CCO", "C1CC1"]
    run_cli("score", "exported.csv", "--out", "scored.csv")
    assert len(pd.read_csv("scored.csv")) == 2


@pytest.mark.parametrize("text, suffix", [
    ("SMILES,smiles\nxx,CCO\nyy,C1CC1\n", ".csv"),
    ("smiles,SMILES\nCCO,xx\nC1CC1,yy\n", ".csv"),
    ('{"SMILES": "xx", "smiles": "CCO"}\n{"smiles": "C1CC1", "SMILES": "yy"}\n', ".jsonl"),
])
def test_7_the_column_spelled_smiles_wins_and_the_other_is_kept(run_cli, text: str, suffix: str):
    Path(f"in{suffix}").write_text(text)
    run_cli("score", f"in{suffix}", "--oracles", "rings", "--out", "out.csv")
    out = pd.read_csv("out.csv", keep_default_na=False, dtype=str)
    assert out["input"].tolist() == ["CCO", "C1CC1"] and out["SMILES"].tolist() == ["xx", "yy"]
    assert out["valid"].tolist() == ["True", "True"]


def test_7_two_smiles_columns_none_spelled_smiles_is_an_error(run_cli):
    Path("in.csv").write_text("SMILES,Smiles\nCCO,C\n")
    _one_line_error(run_cli("score", "in.csv", "--out", "out.csv", expect=2), "SMILES, Smiles")


# --- 10: a damaged FCD statistics file is recomputed ---------------------------------------------
def test_10_truncated_fcd_statistics_are_recomputed(moldiff_cache: Path, monkeypatch, caplog):
    fake = {"mu": np.zeros(3), "sigma": np.eye(3)}
    monkeypatch.setattr(fcd_module, "chemnet_statistics", lambda smiles, device="cpu": fake)
    fcd_module._reference_statistics.cache_clear()
    fcd_module.reference_statistics(FEW)
    [path] = (moldiff_cache / "fcd").glob("*.npz")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    fcd_module._reference_statistics.cache_clear()
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        stats = fcd_module.reference_statistics(FEW)
    fcd_module._reference_statistics.cache_clear()
    assert np.array_equal(stats["sigma"], fake["sigma"])
    assert path.read_bytes() == good
    assert "recomput" in caplog.text and str(path) in caplog.text


# --- 12: overlong molecule strings are invalid before RDKit sees them ------------------------------
def test_12_overlong_strings_are_invalid_in_the_api():
    assert molecules_module.MAX_SMILES_LENGTH >= 1000
    huge = "C" * 100_000
    assert to_mol(huge) is None and canonical_smiles(huge) is None
    assert "longer than" in molecules_module.smiles_problem(huge)
    assert canonical_smiles("C" * molecules_module.MAX_SMILES_LENGTH) == "C" * molecules_module.MAX_SMILES_LENGTH


@pytest.mark.parametrize("suffix", [".smi", ".csv"])
def test_12_overlong_lines_are_skipped_in_data_files(suffix: str, caplog):
    lines = ["CCO", "C" * 100_000, "C1CC1"]
    Path(f"in{suffix}").write_text(("smiles\n" if suffix == ".csv" else "") + "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        molecules = load_molecules(f"in{suffix}", progress=False)
    number = 2 + (suffix == ".csv")
    assert molecules.smiles == ["CCO", "C1CC1"] and molecules.invalid_lines == [number]
    assert f"line {number}" in caplog.text and f"longer than {molecules_module.MAX_SMILES_LENGTH:,} characters" in caplog.text


def test_12_overlong_lines_in_score_and_evaluate(run_cli):
    Path("in.smi").write_text("CCO\n" + "C" * 100_000 + "\nC1CC1\n")
    result = run_cli("score", "in.smi", "--out", "out.csv")
    assert "line 2" in result.stderr and "longer than" in result.stderr
    assert pd.read_csv("out.csv")["valid"].tolist() == [True, False, True]
    result = run_cli("evaluate", "in.smi", "--reference", "in.smi", "--out", "m.json")
    metrics = json.loads(Path("m.json").read_text())
    assert (metrics["n"], metrics["valid"], metrics["novel"]) == (3, 2, 0)
    assert "line 2" in result.stderr and "longer than" in result.stderr


# --- 16: control characters in names do not change the row count ------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".smi", ".sdf"])
def test_16_names_with_control_characters_round_trip(run_cli, suffix: str):
    table = pd.DataFrame({"smiles": ["CCO", "C1CC1", "c1ccccc1"], "name": ["a\nb", "c\td\re", "$$$$"],
                          "note": ["x\n\ny", "$$$$", "\x00z"]})
    write_table(table, f"out{suffix}")
    back = read_molecule_file(f"out{suffix}")
    assert back["smiles"].tolist() == ["CCO", "C1CC1", "c1ccccc1"]
    if suffix in (".csv", ".jsonl"):  # these formats keep any text
        assert back["name"].tolist() == table["name"].tolist() and back["note"].tolist() == table["note"].tolist()
    elif suffix == ".sdf":
        assert back["name"].tolist() == ["a b", "c d e", "$$$$"] and back["note"].tolist() == ["x  y", "$$$$", " z"]
    else:
        assert back["name"].tolist() == ["a b", "c d e", "$$$$"]
    run_cli("evaluate", f"out{suffix}", "--out", "m.json")
    metrics = json.loads(Path("m.json").read_text())
    assert (metrics["n"], metrics["validity"]) == (3, 1.0)


# --- 17: a target file's name is its folder's; thresholds are real numbers ---------------------------
def test_17_target_name_must_match_its_folder(run_cli):
    path = Path("guidance/t8/target.toml")
    path.parent.mkdir(parents=True)
    path.write_text('name = "qed"\noracle = "qed"\nthreshold = 0.5\n')
    with pytest.raises(MoldiffError, match="rename"):
        load_target("t8")
    Path("gen.smi").write_text("CCO\n")
    _one_line_error(run_cli("evaluate", "gen.smi", "--targets", "t8,qed", "--out", "m.json", expect=2), "t8")


@pytest.mark.parametrize("value", ["true", '"3.0"', "inf", "-inf", "nan"])
def test_17_threshold_must_be_a_finite_number(value: str):
    path = Path("guidance/t/target.toml")
    path.parent.mkdir(parents=True)
    path.write_text(f'oracle = "qed"\nthreshold = {value}\n')
    with pytest.raises(MoldiffError, match="threshold"):
        read_target(path)
    with pytest.raises(MoldiffError, match="threshold"):
        Target("t", "qed", True)  # type: ignore[arg-type]


# --- 18: a packaged data set name wins over a local file -------------------------------------------
@pytest.mark.parametrize("kind", ["file", "directory"])
def test_18_packaged_name_wins_over_a_local_file(run_cli, kind: str):
    local = Path("qm9")
    local.mkdir() if kind == "directory" else local.write_text("CCO\n")
    assert parse_spec("qm9") == ("qm9", None) and parse_spec("qm9:test") == ("qm9", "test")
    assert parse_spec("./qm9") is None
    Path("gen.smi").write_text("CCO\nC1CC1\n")
    run_cli("evaluate", "gen.smi", "--oracles", "rings", "--out", "m.json")
    assert json.loads(Path("m.json").read_text())["reference"]["molecules"] == len(load_split("qm9"))
    with pytest.raises(MoldiffError, match="unsupported file type|directory"):  # ./qm9 is the local one
        read_spec("./qm9")


# --- 23: characters outside the SMILES alphabet make a string invalid -------------------------------
@pytest.mark.parametrize("text", ["Cé", "C\u00a0C", "CC O", "C\tC", "C\x00"])
def test_23_strings_outside_the_smiles_alphabet_are_invalid(text: str, caplog):
    assert to_mol(text) is None and canonical_smiles(text) is None
    assert "outside the SMILES alphabet" in molecules_module.smiles_problem(text)
    Path("in.csv").write_text(pd.DataFrame({"smiles": ["CCO", text]}).to_csv(index=False))
    with caplog.at_level(logging.WARNING, logger="moldiff"):
        molecules = load_molecules("in.csv", progress=False)
    assert molecules.invalid_lines == [3] and "outside the SMILES alphabet" in caplog.text


def test_23_surrounding_whitespace_is_still_allowed():
    assert canonical_smiles(" OCC ") == "CCO" and molecules_module.smiles_problem(" OCC ") is None
