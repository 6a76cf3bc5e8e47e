"""Shared fixtures for the moldiff test suite.

Every test runs in its own temporary working directory with its own ``MOLDIFF_CACHE``, so nothing
lands in the repository or in the user's cache, and the ``moldiff`` logger is restored afterwards
(the CLI installs a stderr handler and turns propagation off, which would hide later warnings from
``caplog``).
"""

from __future__ import annotations

import os

# numpy/scipy's OpenBLAS threads spin while they wait: on a 2-core machine that is busy with other
# work, the 512x512 sqrtm of an FCD then took 10 s instead of 0.3 s. One BLAS thread per process
# costs the suite nothing, since its heavy work is split over processes. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Under pytest-xdist (make test -n auto) every core runs a worker: one torch thread each (for training
# runs too: $MOLDIFF_THREADS), or the workers' thread pools oversubscribe the cores. Set before torch loads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MOLDIFF_THREADS", "1")

import logging  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from click.testing import CliRunner, Result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QM9_RESOURCES = REPO / "moldiff" / "resources" / "qm9"


def _logger_state() -> tuple[list[logging.Handler], bool, int]:
    logger = logging.getLogger("moldiff")
    return logger.handlers[:], logger.propagate, logger.level


def _restore_logger(state: tuple[list[logging.Handler], bool, int]) -> None:
    logger = logging.getLogger("moldiff")
    handlers, propagate, level = state
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Work in ``tmp_path``, with a private cache and no ``MOLDIFF_HOME``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path / ".moldiff-cache"))
    monkeypatch.delenv("MOLDIFF_HOME", raising=False)
    state = _logger_state()
    yield
    _restore_logger(state)


@pytest.fixture
def moldiff_cache(tmp_path: Path) -> Path:
    """The ``MOLDIFF_CACHE`` directory of this test (not created in advance)."""
    return tmp_path / ".moldiff-cache"


@pytest.fixture
def molecules(tmp_path: Path) -> Path:
    """A molecule file of the first 64 QM9 training molecules (small training runs)."""
    from moldiff.chemistry.data import load_split

    path = tmp_path / "mols.smi"
    path.write_text("\n".join(load_split("qm9", "train")[:64]) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_selfies_mdlm(tmp_path_factory) -> Path:
    """A tiny SELFIES MDLM with a rings label, trained briefly: almost every sample is a valid, novel
    molecule, and sampling is fast (filtered generation and frontier sweeps)."""
    from moldiff.chemistry.data import load_split
    from moldiff.training.config import TrainConfig
    from moldiff.training.train import train

    root = tmp_path_factory.mktemp("tiny-selfies")
    data = root / "mols.smi"
    data.write_text("\n".join(load_split("qm9", "train")[:256]) + "\n")
    out = root / "mdlm"
    train(TrainConfig(kind="mdlm", representation="selfies", out=str(out), targets=["rings"], preset="tiny", data=str(data),
                      max_steps=30, batch_size=64, lr=3e-3, warmup_steps=5, val_every=30, checkpoint_every=30), progress=False)
    return out


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Invoke ``moldiff`` in-process: ``run_cli('score', 'in.smi', '--out', 'o.csv', expect=0)``.

    ``expect`` is the exit code the call must end with (``None``: do not check). Exceptions other
    than the CLI's own exits propagate, so a bug shows up with its traceback. A wide terminal is
    simulated so that rich tables do not wrap.
    """
    from moldiff.cli import cli

    try:  # click < 8.2 mixes stderr into stdout unless told not to
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()

    def run(*args: object, expect: int | None = 0, env: dict[str, str] | None = None) -> Result:
        state = _logger_state()
        try:
            result = runner.invoke(
                cli, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})}, catch_exceptions=False
            )
        finally:
            _restore_logger(state)  # the handler bound to this invocation's stderr must not outlive it
        if expect is not None:
            assert result.exit_code == expect, (
                f"moldiff {' '.join(map(str, args))}: exit code {result.exit_code}, expected {expect}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture
def point_runs(monkeypatch) -> list:
    """The frontier points computed during a test (calls of ``moldiff.pipeline.frontier.run_point``), in order."""
    from moldiff.pipeline import frontier

    calls: list = []
    real = frontier.run_point

    def counting(point, settings, progress=False):
        calls.append(point)
        return real(point, settings, progress)

    monkeypatch.setattr(frontier, "run_point", counting)
    return calls
