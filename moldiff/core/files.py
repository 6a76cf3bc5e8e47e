"""Files written safely and read with clear errors: atomic writes, JSON, hashes, output guards.

Every file moldiff writes goes through :func:`atomic_write`: a temporary file in the target directory
that replaces the target only when complete, so an interrupted run never leaves a half-written file.
A command first checks its outputs with :func:`check_output_paths`: no output may be one of its inputs
or another output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from moldiff.core.errors import MoldiffError


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_text(text: str) -> str:
    """Hex sha256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: hard links of it when both exist, else the same path once
    symbolic links are resolved."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_paths(outputs: Sequence[tuple[str, str | Path | None]],
                       inputs: Sequence[tuple[str, str | Path | None]] = ()) -> None:
    """Refuse, before any work, an output that is one of a command's inputs or another output.

    Both are ``(option, path)`` pairs such as ``("--out", path)``; ``None`` paths are skipped. A file
    that is read and then rewritten (a cache) is an input: no other output may be it.
    """
    given = [(flag, path) for flag, path in outputs if path is not None]
    for i, (flag, out) in enumerate(given):
        for source_flag, source in inputs:
            if source is not None and same_file(out, source):
                raise MoldiffError(f"{flag} {out} is the input {source_flag} {source}: writing it would overwrite "
                                   f"that input; choose another {flag}")
        for other_flag, other in given[:i]:
            if same_file(out, other):
                raise MoldiffError(f"{flag} {out} and {other_flag} {other} are the same file: give each output its own path")


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file; a missing or damaged file is a :class:`MoldiffError` naming ``what`` and the path."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MoldiffError(f"no such {what}: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MoldiffError(f"cannot read {what} {path} ({exc}); the file is damaged: copy or re-create it") from None


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as pretty JSON, atomically (NaN becomes null)."""
    with atomic_write(path) as handle:
        json.dump(json_safe(data), handle, indent=2)
        handle.write("\n")


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return value
