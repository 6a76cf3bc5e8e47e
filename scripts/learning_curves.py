"""Learning curves of training runs: one CSV and one plot of validation NLL (and, for runs trained with
``--val-samples``, the validity of unguided samples) against steps and wall time.

Reads each run's Lightning CSV logs (``RUN/logs/version_*/metrics*.csv``; a resumed run keeps the log of
each earlier part as ``metrics.before-resume-NNN.csv``; where parts overlap, the later one wins)
and writes the validation points (step, training wall time, validation metrics) of every run::

    python scripts/learning_curves.py RUN [RUN ...] --out reports/learning_curves.csv --plot reports/learning_curves.png

A CSV written earlier may stand in for runs whose directories are gone (a model trained in stages across
sessions): its rows are kept, except those of runs also given as directories.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def curves(run: Path) -> pd.DataFrame:
    """Validation rows of one run with the training wall time at that step (interpolated from the train rows)."""
    logs = sorted(run.glob("logs/version_*/metrics*.csv"))  # metrics.before-resume-NNN.csv sort before metrics.csv
    if not logs:
        raise SystemExit(f"{run}: no logs/version_*/metrics.csv (is it a moldiff training run?)")
    table = pd.concat([pd.read_csv(p) for p in logs], ignore_index=True)
    value = "val/nll" if "val/nll" in table else "val/cross_entropy"
    valid = table.dropna(subset=[value]).groupby("step", as_index=False).last()
    timed = table.dropna(subset=["train/wall_time_s"]) if "train/wall_time_s" in table else None
    metrics = [c for c in valid.columns if c.startswith("val/")]
    # the validation at the end of training repeats the last periodic one (same weights) one step later
    valid = valid[~valid.duplicated(subset=metrics, keep="last")]
    out = valid[["step"] + metrics].copy()
    if timed is not None and len(timed):
        out.insert(1, "wall_time_s", out["step"].map(lambda s: float(timed.loc[(timed["step"] - s).abs().idxmin(), "train/wall_time_s"])))
    out.insert(0, "run", run.name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("learning_curves.csv"))
    parser.add_argument("--plot", type=Path, default=Path("learning_curves.png"))
    args = parser.parse_args()
    runs = [curves(run) for run in args.runs if run.suffix != ".csv"]
    given = {name for table in runs for name in table["run"]}
    earlier = [kept[~kept["run"].isin(given)] for kept in (pd.read_csv(path) for path in args.runs if path.suffix == ".csv")]
    table = pd.concat(earlier + runs, ignore_index=True)
    table.to_csv(args.out, index=False)
    value = "val/nll" if "val/nll" in table else "val/cross_entropy"
    values = [value] + [v for v in ("val/validity",) if v in table and table[v].notna().any()]
    axes_x = ["step"] + (["wall_time_s"] if "wall_time_s" in table else [])
    figure, axes = plt.subplots(len(values), len(axes_x), figsize=(5 * len(axes_x), 4 * len(values)), squeeze=False)
    for row, y in zip(axes, values):
        for axis, x in zip(row, axes_x):
            for run, rows in table.groupby("run"):
                axis.plot(rows[x], rows[y], marker="o", label=run)
            axis.set_xlabel("training wall time (s)" if x == "wall_time_s" else "step")
            axis.set_ylabel(y)
            axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(args.plot)
    print(f"{len(table)} points of {table['run'].nunique()} runs -> {args.out}, {args.plot}")


if __name__ == "__main__":
    main()
