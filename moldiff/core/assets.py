"""Where moldiff finds its artifacts: ``models/`` (denoisers) and ``guidance/`` (targets, classifiers).

Roots are searched in order: the directories in ``$MOLDIFF_HOME`` (``os.pathsep``-separated), the
current directory, then the moldiff source checkout. A name resolves to the first
``<root>/<kind>/<name>`` that exists, so a user's own targets and models shadow shipped ones.
"""

from __future__ import annotations

import os
from pathlib import Path

ASSET_KINDS = ("models", "guidance")
#: The model `moldiff sample` uses when none is named.
DEFAULT_MODEL = "qm9-selfies-mdlm"
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def asset_roots() -> list[Path]:
    """Directories that may hold ``models/`` and ``guidance/``, most specific first, without repeats."""
    candidates = [Path(p) for p in os.environ.get("MOLDIFF_HOME", "").split(os.pathsep) if p]
    candidates += [Path.cwd(), CHECKOUT_ROOT]
    roots: list[Path] = []
    for root in candidates:
        resolved = root.expanduser().resolve()
        if resolved not in roots:
            roots.append(resolved)
    return roots


def cache_dir() -> Path:
    """Directory for derived, re-computable data: ``$MOLDIFF_CACHE`` or ``~/.cache/moldiff``."""
    return Path(os.environ.get("MOLDIFF_CACHE", Path.home() / ".cache" / "moldiff")).expanduser()


def find_asset(kind: str, name: str) -> Path | None:
    """First ``<root>/<kind>/<name>`` that exists, or ``None``."""
    for root in asset_roots():
        candidate = root / kind / name
        if candidate.exists():
            return candidate
    return None


def list_all_assets(kind: str) -> list[tuple[str, Path]]:
    """Every ``<root>/<kind>/<name>`` directory as ``(name, path)``, roots in search order, shadowed ones included."""
    found: list[tuple[str, Path]] = []
    for root in asset_roots():
        folder = root / kind
        if folder.is_dir():
            found += [(e.name, e) for e in sorted(folder.iterdir()) if e.is_dir() and not e.name.startswith(".")]
    return found


def list_assets(kind: str) -> dict[str, Path]:
    """Every ``<root>/<kind>/<name>`` directory by name; earlier roots shadow later ones."""
    found: dict[str, Path] = {}
    for name, path in list_all_assets(kind):
        found.setdefault(name, path)
    return found
