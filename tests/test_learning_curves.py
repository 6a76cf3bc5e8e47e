"""scripts/learning_curves.py: validation points of training runs, and an earlier CSV standing in for runs that are gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "learning_curves.py"


def _run(directory: Path, rows: list[dict]) -> Path:
    logs = directory / "logs" / "version_0"
    logs.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(logs / "metrics.csv", index=False)
    return directory


def test_runs_and_an_earlier_csv_merge(tmp_path: Path) -> None:
    nan = float("nan")
    stage = _run(tmp_path / "model-3", [
        {"step": 100, "train/wall_time_s": 50.0, "val/nll": nan},
        {"step": 200, "train/wall_time_s": 100.0, "val/nll": nan},
        {"step": 200, "train/wall_time_s": nan, "val/nll": 30.5},
        {"step": 201, "train/wall_time_s": nan, "val/nll": 30.5},  # the end-of-training validation repeats it
    ])
    earlier = tmp_path / "earlier.csv"  # stage 1 (directory gone) and a stale row of stage 3, which the run replaces
    pd.DataFrame([{"run": "model", "step": 600, "wall_time_s": 400.0, "val/nll": 31.0},
                  {"run": "model-3", "step": 100, "wall_time_s": 40.0, "val/nll": 99.0}]).to_csv(earlier, index=False)
    out, plot = tmp_path / "curve.csv", tmp_path / "curve.png"
    subprocess.run([sys.executable, str(SCRIPT), str(earlier), str(stage), "--out", str(out), "--plot", str(plot)],
                   check=True, capture_output=True)
    table = pd.read_csv(out)
    assert table[["run", "step", "wall_time_s", "val/nll"]].values.tolist() == [["model", 600, 400.0, 31.0],
                                                                                ["model-3", 201, 100.0, 30.5]]
    assert plot.stat().st_size > 0
