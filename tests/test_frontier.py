"""Frontier sweeps: the product, caching by settings and weights, resuming, Pareto flags, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import moldiff
from moldiff.core.errors import MoldiffError
from moldiff.pipeline.frontier import pareto


@pytest.fixture
def tiny(tiny_selfies_mdlm) -> Path:
    return tiny_selfies_mdlm


def test_two_by_two_sweep_caches_resumes_and_plots(tiny, tmp_path, monkeypatch, point_runs):
    calls = point_runs
    cache = tmp_path / "cache.json"
    sweep = dict(guidance="cfg", gammas=[0, 2], samplers="mdlm,remdm-loop", steps=8, num_samples=24, target="rings",
                 cache=cache, progress=False)
    first = moldiff.frontier(str(tiny), **sweep)
    assert len(first.table) == 4 and len(calls) == 4 and not first.table["cached"].any()
    assert set(first.table["method"]) == {"mdlm, cfg", "remdm-loop, cfg"}
    assert {"validity", "uniqueness", "novel", "rings_novel_mean", "rings_hit_novel", "evaluations_per_molecule", "seconds", "pareto"} <= set(first.table.columns)

    again = moldiff.frontier(str(tiny), **sweep)  # everything cached: nothing sampled, same numbers
    assert len(calls) == 4 and again.table["cached"].all()
    pd.testing.assert_frame_equal(first.table.drop(columns=["cached", "source"]), again.table.drop(columns=["cached", "source"]))

    stored = json.loads(cache.read_text())  # an interrupted sweep: one point never got stored
    dropped = next(iter(stored["rows"]))
    del stored["rows"][dropped]
    cache.write_text(json.dumps(stored))
    resumed = moldiff.frontier(str(tiny), **sweep)
    assert len(calls) == 5 and calls[-1].key == dropped and resumed.table["cached"].sum() == 3
    pd.testing.assert_frame_equal(first.table.drop(columns=["cached", "source", "seconds"]), resumed.table.drop(columns=["cached", "source", "seconds"]))

    first.plot(tmp_path / "f.png", reference="papers")
    first.plot(tmp_path / "f.svg")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (tmp_path / "f.svg").read_bytes()


def test_jobs_give_the_same_points_as_one_process(tiny, tmp_path):
    sweep = dict(guidance="cfg", gammas=[0, 1], samplers="mdlm", steps=4, num_samples=12, progress=False)
    one = moldiff.frontier(str(tiny), cache=tmp_path / "a.json", **sweep).table
    two = moldiff.frontier(str(tiny), cache=tmp_path / "b.json", jobs=2, **sweep).table
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))


def test_changed_weights_miss_the_cache(tiny, tmp_path, monkeypatch, point_runs):
    calls = point_runs
    cache = tmp_path / "cache.json"
    moldiff.frontier(str(tiny), samplers="mdlm", steps=4, num_samples=8, cache=cache, progress=False)
    stored = json.loads(cache.read_text())
    for entry in stored["rows"].values():
        entry["weights"] = {k: "0" * 64 for k in entry["weights"]}
    cache.write_text(json.dumps(stored))
    moldiff.frontier(str(tiny), samplers="mdlm", steps=4, num_samples=8, cache=cache, progress=False)
    assert len(calls) == 2


def test_pareto_marks_undominated_points_per_method():
    table = pd.DataFrame({"model": ["m"] * 4 + ["m"], "method": ["a"] * 4 + ["b"],
                          "novel": [300, 200, 100, 250, 60], "y": [4.0, 4.5, 4.4, 3.9, 1.0]})
    assert pareto(table, "y").tolist() == [True, True, False, False, True]
    assert pareto(table, "y", higher_is_better=False).tolist() == [True, False, False, True, True]


def test_cli_frontier_writes_csv_json_plot(tiny, run_cli):
    result = run_cli("frontier", "--model", tiny, "--guidance", "none,cfg", "--gamma", "1", "--sampler", "mdlm", "--steps", 4,
                     "-n", 16, "--jobs", 2, "--out", "f.csv", "--out", "f.json", "--plot", "f.png", "--overlay", "papers")
    table = pd.read_csv("f.csv")
    assert len(table) == 2 and set(table["guidance"]) == {"none", "cfg"}
    assert len(json.loads(Path("f.json").read_text())["points"]) == 2 and Path("f.png").exists()
    assert Path("f.cache.json").exists() and "2 points (0 from the cache, 0 shipped)" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--guidance", "fudge"], "the frontier is empty"),
    (["--gamma", ""], "every list"),
    (["--plot", "f.gif"], "unsupported file type '.gif'"),
    (["--out", "f.txt"], "unsupported file type '.txt'"),
])
def test_cli_frontier_bad_input(tiny, run_cli, args, message):
    result = run_cli("frontier", "--model", tiny, "--guidance", "cfg", "--steps", 4, "-n", 8, *args, expect=2)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not Path("frontier.csv").exists() and not Path("f.gif").exists() and not Path("frontier.cache.json").exists()


def test_preset_points_carry_the_presets_sampler_settings_and_only_its_guidance():
    from moldiff.pipeline.frontier import product_points

    points = product_points(["qm9-smiles-mdlm"], guidance=["cfg", "cbg"], gammas=[1.0, 2.0], presets=["paper-rings-cbg"])
    assert [(p.guidance, p.gamma, p.sampler) for p in points] == [("cbg", 1.0, "remdm-rescale"), ("cbg", 2.0, "remdm-rescale")]
    assert dict(points[0].options) == {"confidence": True, "eta": 0.9, "preset": "paper-rings-cbg"}
    with pytest.raises(MoldiffError, match="is for cfg toward rings, not cfg toward qed"):
        product_points(["qm9-smiles-mdlm"], guidance=["cfg"], presets=["paper-rings-cfg"], target="qed")


def test_entries_from_before_the_nucleus_option_are_recomputed_under_guided_top_p(tiny, tmp_path, point_runs):
    """A cached guided top-p row without a recorded ``nucleus`` was computed by cutting the guided
    distribution: it answers ``nucleus="guided"`` points only, and unguided or top-p 1 rows stay valid."""
    calls = point_runs
    cache = tmp_path / "cache.json"
    sweep = dict(guidance="none,cfg", gammas=[2], samplers="mdlm", steps=4, num_samples=8, target="rings", top_p=0.9,
                 cache=cache, progress=False)
    moldiff.frontier(str(tiny), **sweep)
    assert len(calls) == 2
    stored = json.loads(cache.read_text())
    guided = [e for e in stored["rows"].values() if e["guidance"] == "cfg"]
    assert [e["nucleus"] for e in guided] == ["model"] and all("nucleus" not in e for e in stored["rows"].values() if e["guidance"] == "none")
    for entry in guided:
        del entry["nucleus"]  # as written before the option existed
    cache.write_text(json.dumps(stored))
    moldiff.frontier(str(tiny), **sweep)
    assert len(calls) == 3 and calls[-1].guidance == "cfg"  # only the guided row is recomputed


def test_shipped_points_answer_read_only_and_say_so(tiny, tmp_path, monkeypatch, point_runs):
    """The shipped report's points answer a sweep at their settings without sampling and are never
    written to the user's cache; ``shipped=False`` ignores them."""
    from moldiff.pipeline import frontier as module

    calls = point_runs
    sweep = dict(guidance="none,cfg", gammas=[2], samplers="mdlm", steps=4, num_samples=8, progress=False)
    shipped = tmp_path / "shipped.json"
    first = moldiff.frontier(str(tiny), cache=shipped, **sweep)
    assert len(calls) == 2 and set(first.table["source"]) == {"computed"}
    monkeypatch.setattr(module, "SHIPPED_RESULTS", (shipped,))
    before = shipped.read_bytes()

    mine = tmp_path / "mine.json"
    again = moldiff.frontier(str(tiny), cache=mine, **sweep)
    assert len(calls) == 2 and set(again.table["source"]) == {"shipped"} and again.table["cached"].all()
    assert not mine.exists() and shipped.read_bytes() == before
    pd.testing.assert_frame_equal(first.table.drop(columns=["cached", "source"]), again.table.drop(columns=["cached", "source"]))

    other = moldiff.frontier(str(tiny), cache=mine, **{**sweep, "num_samples": 6})  # not shipped at this size
    assert len(calls) == 4 and set(other.table["source"]) == {"computed"}
    assert set(moldiff.frontier(str(tiny), cache=mine, **{**sweep, "num_samples": 6}).table["source"]) == {"cache"}
    moldiff.frontier(str(tiny), cache=tmp_path / "none.json", shipped=False, **sweep)
    assert len(calls) == 6


def test_a_curve_is_a_model_method_and_options():
    """Points of one method under two sampler settings are two curves: Pareto flags and hypervolumes per curve."""
    from moldiff.pipeline.frontier import curve_label, curves

    table = pd.DataFrame({"model": ["m"] * 4, "method": ["a"] * 4, "options": ["top_p=0.9", "top_p=0.9", "", ""],
                          "novel": [300, 200, 100, 90], "y": [4.0, 4.5, 4.4, 4.3]})
    assert pareto(table, "y").tolist() == [True, True, True, False]  # (100, 4.4) is dominated only across curves
    assert [key for key, _ in curves(table)] == [("m", "a", "top_p=0.9"), ("m", "a", "")]
    assert curve_label("m", "a", "top_p=0.9") == "m: a (top_p=0.9)" and curve_label("m", "a") == "m: a"


def test_a_points_molecules_are_its_first_molecules_and_show_in_jupyter(tiny, tmp_path):
    sweep = moldiff.frontier(str(tiny), guidance="cfg", gammas=[2], samplers="mdlm", steps=4, num_samples=12,
                             cache=tmp_path / "c.json", progress=False)
    from moldiff.pipeline.frontier import sample_point

    every = sample_point(sweep.points[0], sweep.settings, 12)
    first = sweep.molecules(0, count=5)
    assert first.table["raw"].tolist() == every.table["raw"].tolist()[:5]
    page = sweep._repr_html_()
    assert "Frontier: 1 points" in page and "1 computed" in page and "<table" in page
    with pytest.raises(MoldiffError, match="no point 3: the frontier has points 0 to 0"):
        sweep.molecules(3)


def test_the_cache_keeps_an_fcd_that_a_later_sweep_did_not_compute(tmp_path):
    from moldiff.pipeline.frontier import Point, _read_cache, _store

    point, cache = Point("m", "mdlm", 4), tmp_path / "c.json"
    common = {"weights": {"m": "0" * 64}, "n": 8, "seed": 0, "reference": "qm9", "reference_sha256": "a"}
    _store(cache, point, {**common, "fcd": 1.5, "rings_novel_mean": 2.0, "targets": {"rings": {}}})
    _store(cache, point, {**common, "fcd": None, "qed_novel_mean": 0.5, "targets": {"qed": {}}})
    row = _read_cache(cache)["rows"][point.key]
    assert (row["fcd"], row["rings_novel_mean"], row["qed_novel_mean"]) == (1.5, 2.0, 0.5) and set(row["targets"]) == {"rings", "qed"}
    _store(cache, point, {**common, "n": 16, "fcd": None, "targets": {"qed": {}}})  # other molecules: nothing kept
    assert _read_cache(cache)["rows"][point.key]["fcd"] is None


def test_an_interrupted_point_resumes_from_its_saved_batches(tiny, tmp_path, monkeypatch, caplog):
    from moldiff.pipeline import frontier

    sweep = dict(guidance="cfg", gammas=[2], samplers="mdlm", steps=8, num_samples=24, target="rings", progress=False)
    whole = moldiff.frontier(str(tiny), cache=tmp_path / "whole.json", **sweep).table  # one batch of 24
    real, starts, devices = frontier.sample, [], []

    def sample(*args, first_index=0, **kwargs):
        starts.append(first_index)
        devices.append(kwargs["device"])
        if fail_at == first_index:
            raise KeyboardInterrupt
        return real(*args, first_index=first_index, **kwargs)

    monkeypatch.setattr(frontier, "sample", sample)
    cache, partial = tmp_path / "cache.json", tmp_path / "cache.partial"
    fail_at = 16
    with pytest.raises(KeyboardInterrupt):
        moldiff.frontier(str(tiny), cache=cache, batch_size=8, **sweep)
    (saved,) = partial.iterdir()
    assert sorted(json.loads(saved.read_text())["batches"]) == ["0", "8"] and not cache.exists()
    point = frontier.make_point(str(tiny), "mdlm", 8, "cfg", 2.0, "rings")
    assert frontier.saved_batches(cache, point)[:2] == (2, 8) and frontier.saved_batches(cache, point, seed=1) == (0, 0, 0.0)
    record = json.loads(saved.read_text())
    assert {b["device"] for b in record["batches"].values()} == {"cpu"}
    del record["batches"]["0"]["device"], record["batches"]["0"]["classifier_passes"]  # as saved before they were recorded
    saved.write_text(json.dumps(record))

    fail_at = None
    resumed = moldiff.frontier(str(tiny), cache=cache, batch_size=8, **sweep).table
    assert starts == [0, 8, 16, 16] and not partial.exists()  # only the missing batch was sampled, then forgotten
    same = ["validity", "uniqueness", "novel", "rings_novel_mean", "rings_hit_novel", "evaluations_per_molecule"]
    pd.testing.assert_frame_equal(resumed[same], whole[same])  # batches never change the molecules
    row, one = (json.loads(c.read_text())["rows"][point.key] for c in (cache, tmp_path / "whole.json"))
    assert list(row["devices"]) == ["cpu"] and row["devices"]["cpu"]["batches"] == 3  # an old batch counts as CPU
    assert "classifier_passes_per_molecule" not in row  # not known for every batch
    assert one["devices"]["cpu"]["batches"] == 1 and one["classifier_passes_per_molecule"] == 0  # D-CFG scores nothing
    starts.clear()  # a device is where points are sampled, not part of them: the cached point answers
    moldiff.frontier(str(tiny), cache=cache, batch_size=8, device="cpu", **sweep)
    assert starts == [] and set(devices) == {None}  # so far: the default device
    moldiff.frontier(str(tiny), cache=tmp_path / "on_cpu.json", batch_size=8, device="cpu", **sweep)
    assert devices[-3:] == ["cpu"] * 3  # passed to every batch

    starts.clear()  # a damaged file is sampled again, with a warning
    fail_at = 16
    with pytest.raises(KeyboardInterrupt):
        moldiff.frontier(str(tiny), cache=tmp_path / "again.json", batch_size=8, **sweep)
    (saved,) = (tmp_path / "again.partial").iterdir()
    record = json.loads(saved.read_text())
    record["batches"]["8"]["smiles"] = record["batches"]["8"]["smiles"][:3]
    saved.write_text(json.dumps(record))
    fail_at, starts[:] = None, []
    moldiff.frontier(str(tiny), cache=tmp_path / "again.json", batch_size=8, **sweep)
    assert starts == [0, 8, 16] and "is damaged" in caplog.text


def test_a_parallel_sweep_spreads_its_workers_over_the_gpus(monkeypatch):
    """With several GPUs and the device left open, worker i takes GPU i mod count; a chosen device, or one GPU, keeps
    every worker where it was told; a worker applies its GPU to the points it computes."""
    from moldiff.pipeline import frontier

    monkeypatch.setattr(frontier.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(frontier.torch.cuda, "device_count", lambda: 3)
    assert frontier.worker_devices(None, 4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert frontier.worker_devices("cuda", 2) == ["cuda:0", "cuda:1"]
    assert frontier.worker_devices("cuda:1", 4) is None and frontier.worker_devices("cpu", 4) is None
    monkeypatch.setattr(frontier.torch.cuda, "device_count", lambda: 1)
    assert frontier.worker_devices(None, 4) is None

    class Queue:  # what _start_worker takes its GPU from
        def get(self):
            return "cuda:2"

    seen = []
    monkeypatch.setattr(frontier, "run_point", lambda point, settings: seen.append(settings.device))
    monkeypatch.setattr(frontier.torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(frontier, "_WORKER_DEVICE", None)
    frontier._worker(None, frontier.Settings(device="cpu"))
    frontier._start_worker(Queue())
    frontier._worker(None, frontier.Settings())
    assert seen == ["cpu", "cuda:2"]


def test_spawned_workers_given_devices_at_their_start_complete_a_sweep(tiny, tmp_path, monkeypatch):
    """The path a machine with several GPUs takes, run on CPU: spawned workers, each taking a device from a queue at
    its start (that a worker then samples there: test_a_parallel_sweep_spreads_its_workers_over_the_gpus)."""
    from moldiff.pipeline import frontier

    monkeypatch.setattr(frontier.torch.cuda, "is_available", lambda: True)  # the parent only: spawned workers use CPU
    monkeypatch.setattr(frontier, "worker_devices", lambda device, workers: ["cpu"] * workers)
    sweep = moldiff.frontier(str(tiny), guidance="cfg", gammas=[1, 2], samplers="mdlm", steps=4, num_samples=8,
                             target="rings", cache=tmp_path / "cache.json", jobs=2, progress=False)
    rows = json.loads((tmp_path / "cache.json").read_text())["rows"]
    assert len(sweep.table) == 2 and all(list(r["devices"]) == ["cpu"] for r in rows.values())
