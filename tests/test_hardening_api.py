"""Issue 29 (Hardening II), items 8, 11, 13, 22 and 23: recommended settings, threads, hand-edited model
configs, what a filtered sample reports, and API misuse. Each test names its item."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import moldiff
from moldiff.core.errors import MoldiffError
from moldiff.core.runtime import thread_count
from moldiff.store.modelfile import CONFIG_FILE

DEFAULT = "qm9-selfies-mdlm"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return moldiff.load(DEFAULT)


def _copy(tmp_path: Path, name: str = DEFAULT) -> Path:
    target = tmp_path / name
    shutil.copytree(REPO / "models" / name, target)
    return target


def _edit_config(directory: Path, **changes) -> None:
    config = json.loads((directory / CONFIG_FILE).read_text())
    config.update(changes)
    (directory / CONFIG_FILE).write_text(json.dumps(config))


# --- item 8: recommended settings are checked like the command-line options ------------------------
@pytest.mark.parametrize(("recommend", "says"), [
    ("steps=abc", "steps"), ("temperature=hot", "temperature"), ("sampler=udlm", "udlm"), ("top_p=2", "top_p"),
    ("steps=2.5", "steps"), ("confidence=3", "confidence"), ("schedule=cosine", "cosine"),
])
def test_8_export_refuses_a_bad_recommended_value(run_cli, tmp_path: Path, recommend: str, says: str):
    result = run_cli("export-model", DEFAULT, tmp_path / "m", "--recommend", recommend, expect=2)
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_8_a_hand_edited_sampling_record_is_a_one_line_error_naming_the_file(run_cli, tmp_path: Path):
    directory = _copy(tmp_path)
    _edit_config(directory, sampling={"sampler": "remdm-loop", "steps": "abc"})  # outside the integrity checksums
    result = run_cli("sample", "--model", directory, "-n", "2", "--out", tmp_path / "s.csv", expect=2)
    assert str(directory / CONFIG_FILE) in result.stderr and "steps" in result.stderr
    with pytest.raises(MoldiffError, match="steps"):
        moldiff.load(directory).sample(2, progress=False)


def test_8_a_recommended_eta_does_not_follow_the_user_to_another_sampler(run_cli, tmp_path: Path):
    run_cli("export-model", DEFAULT, tmp_path / "m", "--recommend", "eta=0.05,steps=16")
    result = run_cli("sample", "--model", tmp_path / "m", "--sampler", "mdlm", "-n", "2", "--out", tmp_path / "s.csv")
    assert "eta" not in result.stderr
    sampled = moldiff.load(tmp_path / "m").sample(2, sampler="mdlm", progress=False)
    assert sampled.options.steps == 16 and sampled.options.eta is None


# --- item 11: a bounded thread count ------------------------------------------------------------------
@pytest.mark.parametrize("threads", ["99999", "40000", "4096"])
def test_11_absurd_thread_counts_are_refused(run_cli, tmp_path: Path, threads: str):
    result = run_cli("sample", "-n", "2", "--threads", threads, "--out", tmp_path / "s.csv", expect=2)
    assert "--threads" in result.stderr and not (tmp_path / "s.csv").exists()
    result = run_cli("sample", "-n", "2", "--out", tmp_path / "s.csv", env={"MOLDIFF_THREADS": threads}, expect=2)
    assert "MOLDIFF_THREADS" in result.stderr


def test_11_23_thread_counts_are_whole_numbers_and_an_empty_variable_is_unset(monkeypatch):
    with pytest.raises(MoldiffError, match="threads"):
        thread_count(2.7)
    with pytest.raises(MoldiffError, match="threads"):
        thread_count([1])
    monkeypatch.setenv("MOLDIFF_THREADS", "")
    assert thread_count() == 1
    monkeypatch.setenv("MOLDIFF_THREADS", " 2 ")
    assert thread_count() == 2


# --- item 13: hand-edited legacy configs --------------------------------------------------------------
@pytest.mark.parametrize("targets", [[{"name": "rings"}], "rings", [{"name": "rings", "oracle": "rings", "threshold": "x"}], [3]])
def test_13_a_legacy_config_with_malformed_targets_is_a_one_line_error(tmp_path: Path, targets):
    directory = _copy(tmp_path)
    config = json.loads((directory / CONFIG_FILE).read_text())
    del config["integrity"]  # a config from before checksums: accepted, so its shape must be checked
    config["targets"] = targets
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(MoldiffError, match="targets"):
        moldiff.load(directory)


# --- item 22: what a filtered sample reports ------------------------------------------------------------
def test_22_a_filtered_summary_describes_the_kept_molecules_too(model):
    result = model.sample(4, keep="novel", where="rings>=2", seed=0, progress=False)
    message = result.message()
    assert "kept" in message and "valid" in message
    kept = result.metrics()["kept"]
    assert kept["n"] == result.kept and kept["validity"] == 1.0


def test_22_every_invalid_row_says_why(model):
    table = model.sample(64, guidance="cfg", gamma=5, target="rings", seed=0, progress=False).to_dataframe()
    assert "invalid_reason" in table.columns
    assert (table.loc[table["valid"], "invalid_reason"] == "").all()
    assert (table.loc[~table["valid"], "invalid_reason"] != "").all()


def test_22_structural_reasons_come_from_the_tokens():
    from moldiff.chemistry.metrics import molecule_table
    from moldiff.chemistry.tokenizers import EOS_ID

    tok = moldiff.dataset_tokenizer("smiles")
    good = tok.encode("CCO")
    no_end = good.copy()
    no_end[no_end == EOS_ID] = tok.tokens.index("C")  # <eos> replaced: no end token
    table = molecule_table(tok, [good, no_end], "qm9:test", ["rings"])
    assert table["valid"].tolist() == [True, False]
    assert table["invalid_reason"].tolist()[0] == "" and "<eos>" in table["invalid_reason"].tolist()[1]


# --- item 23: API misuse is a MoldiffError ------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m: m.sample("4"), lambda m: m.sample(2, steps=2.5), lambda m: m.sample(2, target=5),
    lambda m: m.sample(2, keep=[1]), lambda m: m.sample(2, threads=[1]), lambda m: m.sample(2, threads=2.7),
    lambda m: m.sample(2, gamma="2"), lambda m: m.sample(2, top_p=True), lambda m: m.sample(True),
])
def test_23_api_misuse_is_a_moldiff_error(model, call):
    with pytest.raises(MoldiffError):
        call(model)


def test_23_a_preset_with_another_sampler_does_not_blame_settings_the_user_never_gave(run_cli, tmp_path: Path):
    result = run_cli("sample", "--preset", "paper-rings-cfg", "--sampler", "mdlm", "-n", "2", "--steps", "8",
                     "--out", tmp_path / "s.csv", expect=None)
    assert "confidence weighting" not in result.stderr
    assert result.exit_code == 0, result.stderr


def test_23_top_level_help_names_every_input_format(run_cli):
    assert ".sdf" in run_cli("--help").stdout
