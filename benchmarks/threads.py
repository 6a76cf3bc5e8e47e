"""Sampling time of `moldiff sample` by torch thread count (item 24 of issue 13), same output checked.

Runs the CLI in fresh processes with ``--threads 1``, ``2`` and ``auto`` (torch's default: one per
core), on the shipped default model, and prints seconds per run, the ratio to one thread, and
whether the molecules are identical. Run it on an idle machine and on a loaded one (another job
busy on the cores) and report both: the point is how intra-op threads behave when cores are shared.

    python benchmarks/threads.py [-n 64] [--steps 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(threads: str, n: int, steps: int, out: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MOLDIFF_THREADS", "MKL_NUM_THREADS")}
    command = [sys.executable, "-m", "moldiff", "sample", "-n", str(n), "--steps", str(steps), "--threads", threads,
               "--device", "cpu", "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min) at start; "
          f"sample -n {args.n} --steps {args.steps}, {args.repeats} runs each")
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for threads in ("1", "2", "auto"):
            out = Path(folder) / f"t{threads}.csv"
            times = [run(threads, args.n, args.steps, out) for _ in range(args.repeats)]
            results[threads] = (min(times), max(times), hashlib.sha256(out.read_bytes()).hexdigest())
    base = results["1"][0]
    for threads, (low, high, digest) in results.items():
        same = "same molecules" if digest == results["1"][2] else "DIFFERENT molecules"
        print(f"--threads {threads:>4}: {low:6.1f}-{high:6.1f} s (best {low / base:.2f} x one thread), {same}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")


if __name__ == "__main__":
    main()
