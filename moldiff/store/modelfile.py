"""The model format: a directory with ``config.json`` and ``weights.safetensors``.

``config.json`` records everything needed to rebuild and to trust the model: its kind (``mdlm``,
``udlm``, ``ar`` or ``classifier`` with a ``process``), the network architecture, the noise
schedule, the tokenizer vocabulary and representation, the guidance targets with their
thresholds, the data (spec, hash, sizes), training (steps, wall time, hardware, the exact command)
and validation metrics, and the weights file's sha256, dtype and parameter count.

:func:`read_model` resolves a name to ``models/<name>`` or ``guidance/<name>`` (see
:mod:`moldiff.core.assets`) or takes a path, verifies the weights' checksum, shapes and names, upcasts
half-precision weights, and returns a :class:`StoredModel` record ready on the chosen device. Anything
truncated, corrupted or mismatched is a :class:`~moldiff.core.errors.MoldiffError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from moldiff.chemistry.targets import Target
from moldiff.chemistry.tokenizers import Tokenizer, tokenizer_from_dict
from moldiff.core.assets import ASSET_KINDS, find_asset
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, read_json, sha256_text, write_json
from moldiff.diffusion.networks import NetworkConfig, Transformer
from moldiff.store.recommended import check_recommendation

FORMAT = "moldiff-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
#: What a model directory may hold: a denoiser of one of three processes, or a guidance classifier.
KINDS = ("mdlm", "udlm", "ar", "classifier")
WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class StoredModel:
    """A model read from disk: its network (eval mode, on ``device``), tokenizer, targets, config.

    A plain record: sampling it is the pipeline's job (:class:`moldiff.pipeline.model.LoadedModel`).
    """

    path: Path
    config: dict[str, Any]
    network: Transformer
    tokenizer: Tokenizer
    targets: list[Target]

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def process(self) -> str | None:
        return self.config.get("process")

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    def __repr__(self) -> str:
        what = self.kind if self.kind != "classifier" else f"classifier ({self.process})"
        return (f"{type(self).__name__}({what}, {self.config['representation']}, targets={self.target_names}, "
                f"{self.config['weights']['parameters']:,} parameters, path={self.path})")


def target_to_dict(target: Target) -> dict[str, Any]:
    return {"name": target.name, "oracle": target.oracle, "threshold": target.threshold,
            "direction": target.direction, "description": target.description,
            "data_sha256": target.computed.get("data_sha256")}


def target_from_dict(data: dict[str, Any]) -> Target:
    return Target(data["name"], data["oracle"], float(data["threshold"]), data.get("direction", "above"),
                  data.get("description", ""), {"data_sha256": data.get("data_sha256")})


def save_model(
    directory: str | Path,
    network: Transformer,
    config: dict[str, Any],
    dtype: str = "float32",
) -> Path:
    """Write ``network``'s weights and ``config`` (plus the weights' record) into ``directory``.

    ``config`` must hold ``kind``, ``representation``, ``tokenizer`` (dict) and ``targets`` (dicts);
    the network architecture and the weights' sha256 are added here. Both files are written
    atomically, weights first, so a config never points at missing weights.
    """
    if dtype not in WEIGHT_DTYPES:
        raise MoldiffError(f"unknown weight dtype '{dtype}': choose one of {', '.join(WEIGHT_DTYPES)}")
    directory = Path(directory)
    state = {k: v.detach().to("cpu", WEIGHT_DTYPES[dtype]).contiguous() for k, v in network.state_dict().items()}
    blob = save(state)
    with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
        handle.write(blob)
    full = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **config,
        "network": network.config.to_dict(),
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "dtype": dtype,
            "parameters": network.num_parameters(),
            "bytes": len(blob),
        },
    }
    full["integrity"] = config_checksums(full)
    write_json(full, directory / CONFIG_FILE)
    return directory


#: The parts of ``config.json`` that define what the weights mean; each is checksummed on export.
DEFINING_PARTS = ("kind", "process", "representation", "schedule", "tokenizer", "targets", "network", "weights")


def config_checksums(config: dict[str, Any]) -> dict[str, str]:
    """sha256 of each defining part of a config (canonical JSON), recorded as ``integrity``."""
    return {part: sha256_text(json.dumps(config.get(part), sort_keys=True)) for part in DEFINING_PARTS}


def check_config_integrity(config: dict[str, Any], path: Path) -> None:
    """Refuse a config whose defining parts were edited since export (a config without
    ``integrity``, from before checksums were recorded, is accepted)."""
    recorded = config.get("integrity")
    if recorded is None:
        return
    current = config_checksums(config)
    edited = [part for part in DEFINING_PARTS if recorded.get(part) != current[part]]
    if edited:
        raise MoldiffError(f"{path}: {', '.join(edited)} edited since the model was exported (checksum differs); "
                           "the weights would not mean what the file says: restore or re-export the model")


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A model directory from a path, or a name under ``models/`` then ``guidance/``."""
    candidate = Path(name_or_path)
    if (candidate / CONFIG_FILE).exists():
        return candidate
    for kind in ASSET_KINDS:
        found = find_asset(kind, str(name_or_path))
        if found is not None and (found / CONFIG_FILE).exists():
            return found
    if candidate.is_dir():
        raise MoldiffError(f"{candidate} is not a moldiff model: it has no {CONFIG_FILE}")
    from moldiff.core.assets import list_assets

    names = ", ".join(list_assets("models")) or "none"
    raise MoldiffError(f"no model '{name_or_path}' (a directory with {CONFIG_FILE}); shipped models: {names}; see `moldiff models`")


def read_config(directory: Path) -> dict[str, Any]:
    """Parse and check a model's ``config.json``."""
    path = directory / CONFIG_FILE
    config = read_json(path, "model config")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise MoldiffError(f"{path} is not a moldiff model config (no format '{FORMAT}')")
    if config.get("version") != FORMAT_VERSION:
        raise MoldiffError(f"{path} has model format version {config.get('version')}; this moldiff reads {FORMAT_VERSION}")
    missing = [k for k in ("kind", "representation", "tokenizer", "targets", "network", "weights") if k not in config]
    if missing:
        raise MoldiffError(f"{path} lacks {', '.join(missing)}")
    if config["kind"] not in KINDS:
        raise MoldiffError(f"{path}: unknown model kind '{config['kind']}' (known: {', '.join(KINDS)})")
    _check_targets(config["targets"], path)
    return config


def _check_targets(targets: Any, path: Path) -> None:
    """The ``targets`` of a config are a list of tables with a name, an oracle and a numeric threshold
    (a legacy config without checksums may have been edited by hand)."""
    problem = None
    if not isinstance(targets, list):
        problem = f"a list of targets, not {targets!r}"
    for target in targets if isinstance(targets, list) else []:
        if not isinstance(target, dict):
            problem = f"tables, not {target!r}"
        elif not all(isinstance(target.get(key), str) for key in ("name", "oracle")):
            problem = f"tables with a name and an oracle: {target!r}"
        elif isinstance(target.get("threshold"), bool) or not isinstance(target.get("threshold"), (int, float)):
            problem = f"tables with a numeric threshold: {target!r}"
        elif target.get("direction", "above") not in ("above", "below"):
            problem = f"tables with direction above or below: {target!r}"
        if problem:
            break
    if problem:
        raise MoldiffError(f"{path}: its targets must be {problem}; restore or re-export the model")


def read_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> StoredModel:
    """Read a model or classifier by name or path, verified, on ``device`` (see module docstring)."""
    directory = resolve_model_path(name_or_path)
    config = read_config(directory)
    config_path = directory / CONFIG_FILE
    check_config_integrity(config, config_path)
    check_recommendation(config, str(config_path))
    try:
        network = Transformer(NetworkConfig(**config["network"]))
    except (TypeError, MoldiffError) as exc:
        raise MoldiffError(f"{config_path}: bad network description ({exc})") from None
    tokenizer = tokenizer_from_dict(config["tokenizer"], str(config_path))
    if tokenizer.vocab_size != network.config.vocab_size:
        raise MoldiffError(f"{config_path}: tokenizer has {tokenizer.vocab_size} tokens but the network expects {network.config.vocab_size}")
    weights_path = directory / config["weights"].get("file", WEIGHTS_FILE)
    try:
        blob = weights_path.read_bytes()
    except FileNotFoundError:
        raise MoldiffError(f"missing weights file {weights_path}") from None
    if hashlib.sha256(blob).hexdigest() != config["weights"].get("sha256"):
        raise MoldiffError(f"{weights_path} is corrupted or truncated (sha256 differs from {CONFIG_FILE}); re-copy or re-export the model")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise MoldiffError(f"{weights_path} is not a readable safetensors file: {exc}") from None
    expected = network.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            part for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                f"wrong shape {', '.join(wrong[:3])}" if wrong else "",
            ) if part
        )
        raise MoldiffError(f"{weights_path} does not match the architecture in {CONFIG_FILE}: {detail}")
    network.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    network.eval().to(device)
    targets = [target_from_dict(t) for t in config["targets"]]
    return StoredModel(directory, config, network, tokenizer, targets)
