"""Where computations run: a checked device, and a deliberate number of CPU threads.

Thread policy (measured in ``benchmarks/threads.py``): moldiff's networks are small, so torch's
intra-op threads gain little, and their busy-waiting collapses when the cores are shared with
other jobs. moldiff therefore samples with one thread unless told otherwise by ``--threads``
(``threads=`` in the API) or ``$MOLDIFF_THREADS`` (a count, or ``auto`` for torch's own choice).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from moldiff.core.errors import MoldiffError

if TYPE_CHECKING:
    import torch

THREADS_ENV = "MOLDIFF_THREADS"
#: Threads used when neither ``--threads`` nor ``$MOLDIFF_THREADS`` says otherwise.
DEFAULT_THREADS = 1
#: Threads per core at most: more only spin (thousands of threads crash the OpenMP runtime).
THREADS_PER_CORE = 4


def check_device(device: str | None) -> str:
    """``device`` checked against this machine (``None``: cuda when available, else cpu)."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        kind = None
    if kind not in ("cpu", "cuda"):
        raise MoldiffError(f"unknown device '{device}': use cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        raise MoldiffError(f"device '{device}': no CUDA GPU is available on this machine (torch {torch.__version__}); use --device cpu")
    return device


def device_label(device: str | torch.device) -> str:
    """A device in words for reports: ``cpu``, or the GPU's name (``cuda: NVIDIA H200``)."""
    import torch

    device = torch.device(device)
    return f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type


def max_threads() -> int:
    """The most threads moldiff runs torch with: :data:`THREADS_PER_CORE` per core of this machine."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def thread_count(threads: int | str | None = None) -> int | None:
    """Threads to use: ``threads``, else ``$MOLDIFF_THREADS`` (empty: unset), else :data:`DEFAULT_THREADS`;
    ``None`` for ``auto`` (torch's default). A whole number from 1 to :func:`max_threads`."""
    from_env = threads is None
    value = (os.environ.get(THREADS_ENV, "").strip() or DEFAULT_THREADS) if from_env else threads
    source = f"${THREADS_ENV}" if from_env else "--threads"
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MoldiffError(f"{source} must be a whole number of threads or 'auto', not {value!r}")
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise MoldiffError(f"{source} must be a positive number of threads or 'auto', not '{value}'")
    if count > max_threads():
        raise MoldiffError(f"{source} {count} is more than {max_threads()} threads ({THREADS_PER_CORE} per core of this "
                           "machine): give fewer, or 'auto' for torch's choice")
    return count


@contextmanager
def torch_threads(threads: int | str | None = None) -> Iterator[int]:
    """Run a block with torch's intra-op threads chosen by :func:`thread_count`, then restore them
    (the Python API follows the same policy as the CLI without changing the caller's setting)."""
    import torch

    before = torch.get_num_threads()
    count = thread_count(threads)
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
