"""The command line: help everywhere, data info, score, evaluate, target create, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import moldiff
from moldiff.chemistry.data import dataset_info, load_split
from moldiff.chemistry.oracles import ORACLES, get_oracle
from moldiff.chemistry.targets import load_target, read_target
from moldiff.cli import cli

REPO = Path(__file__).resolve().parents[1]


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(cli)


def test_command_tree_is_complete():
    for expected in [(), ("data",), ("data", "info"), ("data", "prepare"), ("data", "export"), ("oracles",),
                     ("score",), ("evaluate",), ("target",), ("target", "list"), ("target", "create")]:
        assert expected in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "moldiff")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(run_cli, path: tuple[str, ...], flag: str):
    result = run_cli(*path, flag)
    assert result.stdout.startswith("Usage:")
    assert " ".join(path) in result.stdout.splitlines()[0]
    assert result.stderr == ""


def test_version(run_cli):
    assert moldiff.__version__ in run_cli("--version").stdout


def test_oracles_lists_all(run_cli):
    lines = run_cli("oracles").stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(ORACLES)
    for line, oracle in zip(lines, ORACLES.values()):
        assert oracle.description in line


def test_data_info(run_cli):
    out = run_cli("data", "info").stdout
    info = dataset_info("qm9")
    for representation in ("smiles", "selfies"):
        assert f"{representation} vocabulary" in out
        assert info["tokenizers"][representation]["vocab_size"] == 34
    assert out.count("34 tokens") == 2
    assert f"{info['molecules']:,}" in out
    assert info["data_sha256"] in out
    for name in ("rings", "qed"):
        target = read_target(REPO / "guidance" / name / "target.toml")
        assert f"{target.oracle} > {target.threshold:.4g}" in out
    for line in out.splitlines():  # the QM9 targets were computed on this very data; the MOSES ones on MOSES
        if line.lstrip("│ ").startswith(("rings ", "qed ")):
            assert "(other data)" not in line
        if "moses-" in line:
            assert "moses:test (other data)" in line


def test_target_list(run_cli):
    out = run_cli("target", "list").stdout
    for name in ("rings", "qed"):
        target = load_target(name)
        line = next(line for line in out.splitlines() if line.split()[0] == name)
        assert f"{target.threshold:.4g}" in line and str(target.path) in line


# --- score ------------------------------------------------------------------------------------
MOLECULES = ["OCC", "c1ccccc1", "xyz", "C1=CC=CC=C1O", "N#CC"]
VALID = [s for s in MOLECULES if s != "xyz"]


@pytest.fixture
def smi_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.smi"
    path.write_text("\n".join(MOLECULES) + "\n", encoding="utf-8")
    return path


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def _expected(oracle: str) -> list[float]:
    return [get_oracle(oracle)(s) for s in VALID]


def test_score_csv(run_cli, smi_file: Path, tmp_path: Path):
    out = tmp_path / "results" / "scored.csv"
    result = run_cli("score", smi_file, "--oracles", "rings,qed,logp", "--out", out)
    assert "scored 4 valid molecules of 5 rows" in result.stdout
    assert "line 3" in result.stderr  # the warning names the invalid line
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["line", "smiles", "valid", "input", "rings", "qed", "logp"]
    assert table["line"].tolist() == [1, 2, 3, 4, 5] and table["valid"].tolist() == [s in VALID for s in MOLECULES]
    table = table.loc[table["valid"]]  # the invalid row is kept, with empty values
    assert table["smiles"].tolist() == [_canonical(s) for s in VALID]
    assert table["input"].tolist() == VALID
    for oracle in ("rings", "qed", "logp"):
        np.testing.assert_allclose(table[oracle].to_numpy(float), _expected(oracle), rtol=1e-12)


def test_score_jsonl(run_cli, smi_file: Path, tmp_path: Path):
    out = tmp_path / "scored.jsonl"
    run_cli("score", smi_file, "--oracles", "qed,sa", "--out", out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["valid"] for r in records] == [s in VALID for s in MOLECULES]
    records = [r for r in records if r["valid"]]
    assert [r["smiles"] for r in records] == [_canonical(s) for s in VALID]
    assert [r["qed"] for r in records] == _expected("qed")
    assert [r["sa"] for r in records] == _expected("sa")


def test_score_sdf(run_cli, smi_file: Path, tmp_path: Path):
    out = tmp_path / "scored.sdf"
    run_cli("score", smi_file, "--oracles", "rings,qed", "--out", out, "--workers", "1")
    mols = list(Chem.SDMolSupplier(str(out)))
    assert [m.GetNumAtoms() > 0 for m in mols] == [s in VALID for s in MOLECULES]  # the invalid row has no atoms
    mols = [m for m in mols if m.GetNumAtoms()]
    assert [m.GetProp("smiles") for m in mols] == [_canonical(s) for s in VALID]
    assert [float(m.GetProp("qed")) for m in mols] == _expected("qed")
    assert [float(m.GetProp("rings")) for m in mols] == _expected("rings")


def test_score_smi(run_cli, smi_file: Path, tmp_path: Path):
    out = tmp_path / "scored.smi"
    run_cli("score", smi_file, "--out", out)
    # a SMILES file holds molecules and their line numbers; the invalid one is written <invalid>
    expected = [_canonical(s) if s in VALID else "<invalid>" for s in MOLECULES]
    assert out.read_text(encoding="utf-8").splitlines() == [f"{s}\t{i}" for i, s in enumerate(expected, start=1)]


def test_score_csv_input_keeps_columns(run_cli, tmp_path: Path):
    source = tmp_path / "in.csv"
    source.write_text("id,Smiles\nm1,OCC\nm2,c1ccccc1\n", encoding="utf-8")
    run_cli("score", source, "--oracles", "hbd", "--out", tmp_path / "o.csv")
    table = pd.read_csv(tmp_path / "o.csv")
    assert list(table.columns) == ["line", "smiles", "valid", "input", "id", "hbd"]
    assert table["id"].tolist() == ["m1", "m2"]
    assert table["hbd"].tolist() == [1.0, 0.0]


def test_score_qm9_split(run_cli, tmp_path: Path):
    run_cli("score", "qm9:valid", "--oracles", "rings", "--out", tmp_path / "v.csv")
    table = pd.read_csv(tmp_path / "v.csv")
    assert table["smiles"].tolist() == load_split("qm9", "valid")
    assert table["rings"].tolist() == moldiff.score(load_split("qm9", "valid"), "rings", progress=False)["rings"].tolist()


def test_data_export(run_cli, tmp_path: Path):
    run_cli("data", "export", "qm9:test", "--out", tmp_path / "test.smi")
    assert (tmp_path / "test.smi").read_text(encoding="utf-8").splitlines() == load_split("qm9", "test")


# --- evaluate ---------------------------------------------------------------------------------
def test_evaluate_qm9_test_against_train(run_cli, tmp_path: Path):
    out = tmp_path / "m.json"
    result = run_cli("evaluate", "qm9:test", "--reference", "qm9:train", "--targets", "rings", "--out", out)
    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert metrics["validity"] == 1.0
    assert metrics["n"] == len(load_split("qm9", "test"))
    assert metrics["reference"]["name"] == "qm9:train"
    assert metrics["generated"] == "qm9:test"
    assert set(metrics["properties"]) == {"rings", "qed"}
    assert "rings" in metrics["targets"]
    assert f"metrics -> {out}" in result.stdout
    assert "sample quality" in result.stdout


def test_evaluate_file_counts_invalid_rows(run_cli, smi_file: Path, tmp_path: Path):
    out = tmp_path / "m.json"
    run_cli("evaluate", smi_file, "--oracles", "rings", "--reference", smi_file, "--out", out)
    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert (metrics["n"], metrics["valid"]) == (len(MOLECULES), len(VALID))
    assert metrics["unique"] == len({_canonical(s) for s in VALID})
    assert metrics["novel"] == 0 and metrics["novelty"] == 0.0


# --- target create ----------------------------------------------------------------------------
def test_target_create(run_cli, tmp_path: Path):
    data = tmp_path / "data.smi"
    molecules = load_split("qm9", "valid")[:200]
    data.write_text("\n".join(molecules) + "\n", encoding="utf-8")
    result = run_cli("target", "create", "mine", "--oracle", "rings", "--data", data, "--description", "my rings")
    path = Path("guidance") / "mine" / "target.toml"  # default location, relative to the cwd (tmp_path)
    assert (tmp_path / path).is_file()
    assert str(path) in result.stdout
    target = load_target("mine")
    values = np.array([get_oracle("rings")(s) for s in molecules])
    assert target.threshold == float(np.percentile(values, 90))
    assert target.direction == "above" and target.description == "my rings"
    assert target.computed["molecules"] == 200
    assert target.computed["positive_fraction"] == round(float((values > target.threshold).mean()), 6)
    import hashlib

    assert target.computed["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()


def test_target_create_below_with_out(run_cli, tmp_path: Path):
    out = tmp_path / "targets" / "low.toml"
    run_cli("target", "create", "low", "--oracle", "logp", "--direction", "below", "--data", "qm9:valid", "--out", out)
    target = read_target(out)
    values = moldiff.score(load_split("qm9", "valid"), "logp", progress=False)["logp"].to_numpy()
    assert target.threshold == float(np.percentile(values, 10))
    assert target.computed["percentile"] == 10.0
    assert target.computed["data_sha256"] == moldiff.chemistry.data.data_hash("qm9")
    assert load_target(str(out)) == target


# --- errors -----------------------------------------------------------------------------------
def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], Path, str]]:
    """name -> (arguments, output path that must not appear, text the message must contain)."""
    (tmp_path / "mols.xyz").write_text("CCO\n", encoding="utf-8")
    (tmp_path / "nocol.csv").write_text("molecule,weight\nCCO,46\n", encoding="utf-8")
    (tmp_path / "ragged.csv").write_text("smiles,b\nCCO,2\nCC,1,5\n", encoding="utf-8")
    (tmp_path / "invalid.smi").write_text("xyz\nC1CC\n", encoding="utf-8")
    (tmp_path / "good.smi").write_text("CCO\n", encoding="utf-8")
    (tmp_path / "file.txt").write_text("a regular file\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    blocked = tmp_path / "file.txt" / "out.csv"
    return {
        "missing file": (["score", "missing.smi", "--out", str(out)], out, "no such file"),
        "unsupported extension": (["score", "mols.xyz", "--out", str(out)], out, ".smi, .txt, .csv, .jsonl"),
        "csv without smiles": (["score", "nocol.csv", "--out", str(out)], out, "columns: molecule, weight"),
        "ragged csv": (["score", "ragged.csv", "--out", str(out)], out, "not a valid CSV file"),
        "only invalid smiles": (["score", "invalid.smi", "--out", str(out)], out, "no valid SMILES"),
        "unknown oracle": (["score", "good.smi", "--oracles", "rings,nope", "--out", str(out)], out, ", ".join(ORACLES)),
        "unknown target": (["evaluate", "qm9:test", "--targets", "nope", "--out", "m.json"], tmp_path / "m.json", "moldiff target create nope"),
        "unwritable output": (["score", "good.smi", "--out", str(blocked)], blocked, "cannot write"),
        "unknown split (score)": (["score", "qm9:nope", "--out", str(out)], out, "unknown split 'nope'"),
        "unknown split (evaluate)": (["evaluate", "qm9:nope", "--out", "m.json"], tmp_path / "m.json", "unknown split 'nope'"),
        "unknown reference split": (["evaluate", "good.smi", "--reference", "qm9:nope", "--out", "m.json"], tmp_path / "m.json", "unknown split"),
        "unsupported output": (["score", "good.smi", "--out", "out.xlsx"], tmp_path / "out.xlsx", "unsupported file type"),
        "evaluate not json": (["evaluate", "good.smi", "--out", str(out)], out, ".json"),
        "evaluate unwritable": (["evaluate", "good.smi", "--out", str(tmp_path / "file.txt" / "m.json")], tmp_path / "file.txt" / "m.json", "cannot write"),
        "export unknown split": (["data", "export", "qm9:nope", "--out", str(out)], out, "unknown split"),
        "target bad name": (["target", "create", "a b", "--oracle", "rings"], tmp_path / "guidance", "letters, digits"),
        "target unknown oracle": (["target", "create", "t", "--oracle", "nope"], tmp_path / "guidance", "unknown oracle"),
        "target bad data": (["target", "create", "t", "--oracle", "rings", "--data", "invalid.smi"], tmp_path / "guidance" / "t" / "target.toml", "no valid SMILES"),
        "prepare missing source": (["data", "prepare", "--source", "absent.txt", "--out", "prepared"], tmp_path / "prepared", "no such file"),
        "unknown dataset": (["data", "info", "--dataset", "zinc"], tmp_path / "nothing", "unknown data set 'zinc'"),
    }


BAD_CASES = [
    "missing file", "unsupported extension", "csv without smiles", "ragged csv", "only invalid smiles", "unknown oracle",
    "unknown target", "unwritable output", "unknown split (score)", "unknown split (evaluate)",
    "unknown reference split", "unsupported output", "evaluate not json", "evaluate unwritable",
    "export unknown split", "target bad name", "target unknown oracle", "target bad data",
    "prepare missing source", "unknown dataset",
]


def test_bad_case_list_is_complete(tmp_path: Path):
    assert sorted(_bad_inputs(tmp_path)) == sorted(BAD_CASES)


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_a_one_line_error(run_cli, tmp_path: Path, case: str):
    args, must_not_exist, expected = _bad_inputs(tmp_path)[case]
    result = run_cli(*args, expect=2)
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not must_not_exist.exists()
    assert result.stdout == ""


def test_usage_errors_exit_2(run_cli):
    result = run_cli("score", expect=2)  # missing argument and --out: click's own usage error
    assert "Usage:" in result.stderr and "Traceback" not in result.output
    run_cli("score", "in.smi", "--out", "o.csv", "--workers", "0", expect=2)
    run_cli("nonsense", expect=2)


def test_console_script_bad_input(tmp_path: Path):
    script = Path(sys.executable).parent / "moldiff"
    assert script.is_file()
    proc = subprocess.run(
        [str(script), "score", "missing.smi", "--out", "out.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip("\n").splitlines()
    assert lines == ["Error: no such file: missing.smi"]
    assert proc.stdout == ""
    assert not (tmp_path / "out.csv").exists()


def test_console_script_warning_goes_to_stderr(tmp_path: Path):
    (tmp_path / "in.smi").write_text("CCO\nxyz\n", encoding="utf-8")
    script = Path(sys.executable).parent / "moldiff"
    proc = subprocess.run(
        [str(script), "score", "in.smi", "--oracles", "rings", "--out", "out.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == ["warning: in.smi: 1 invalid SMILES of 2 kept as rows with valid False (line 2)"]
    assert pd.read_csv(tmp_path / "out.csv", keep_default_na=False)["smiles"].tolist() == ["CCO", ""]
