"""Chunked process-pool map with a progress bar, used for RDKit work over many molecules."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items a process pool costs more than it saves.
MIN_PARALLEL_ITEMS = 2000


def available_cpus() -> int:
    """Number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _apply_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    chunk_size: int = 1000,
    desc: str | None = None,
    progress: bool = True,
) -> list[R]:
    """``[fn(x) for x in items]``, split over ``workers`` processes (default: all cores).

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one).
    Small inputs run in this process. The order of the results is the order of ``items``.
    The progress bar (when ``desc`` is given) shows only on a terminal.
    """
    workers = available_cpus() if workers is None else max(1, workers)
    disable = None if progress and desc is not None else True  # None: only on a TTY
    if workers == 1 or len(items) < MIN_PARALLEL_ITEMS:
        return [fn(item) for item in tqdm(items, desc=desc, disable=disable, leave=False)]
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    results: list[R] = []
    with ProcessPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(items), desc=desc, disable=disable, leave=False
    ) as bar:
        for chunk_result in pool.map(_apply_chunk, [fn] * len(chunks), chunks):
            results.extend(chunk_result)
            bar.update(len(chunk_result))
    return results
