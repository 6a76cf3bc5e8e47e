"""Model cards: the ``README.md`` of a model or classifier directory, rendered from its ``config.json``.

The facts table (kind, network, weights, targets, data, training, validation) comes from the
record that training wrote, so a card cannot drift from its files unless someone edits one of them
by hand; ``tests/test_shipped.py`` checks the shipped cards against the files independently. A
sample-quality section (markdown, e.g. from ``scripts/report_qm9.py``) can be appended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moldiff.core.files import atomic_write
from moldiff.store.modelfile import CONFIG_FILE, read_config

CARD_FILE = "README.md"
KIND_TEXT = {
    "mdlm": "masked diffusion (MDLM, SUBS parameterisation)",
    "udlm": "uniform-noise diffusion (UDLM)",
    "ar": "autoregressive baseline (causal transformer, left to right)",
}
VALIDATION_TEXT = {"nll": "NLL {:.4g} nats per molecule", "bits_per_token": "{:.4g} bits per token"}
PROCESS_TEXT = {
    "mask": "noisy-input classifier p(y | z_t) under the masking process, for D-CBG with masked models",
    "uniform": "noisy-input classifier p(y | z_t) under the uniform process, for D-CBG with UDLM",
    "prefix": "prefix classifier p(y | x_1..x_i), for FUDGE with the autoregressive model",
}


def _target_text(target: dict[str, Any], positive: dict[str, float]) -> str:
    sign = ">" if target["direction"] == "above" else "<"
    share = f" ({positive[target['name']]:.2%} of training molecules positive)" if target["name"] in positive else ""
    return f"`{target['name']}`: {target['oracle']} {sign} {float(target['threshold'])}{share}"


def _positives(fractions: dict[str, float]) -> str:
    """``'32.3% rings-positive'`` for each target."""
    return ", ".join(f"{v:.1%} {k}-positive" for k, v in fractions.items())


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def facts(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) rows of the card's facts table."""
    net, weights, data = config["network"], config["weights"], config.get("data", {})
    training, validation = config.get("training", {}), config.get("validation", {})
    kind = PROCESS_TEXT[config["process"]] if config["kind"] == "classifier" else KIND_TEXT[config["kind"]]
    targets = ", ".join(_target_text(t, data.get("positive_fraction", {})) for t in config["targets"]) or "none"
    splits = ", ".join(f"{k.removesuffix('_molecules')} {v:,}" for k, v in data.items() if k.endswith("_molecules"))
    rows = [
        ("Kind", kind),
        ("Representation", f"{config['representation']} ({net['vocab_size']} tokens, L = {net['max_length']})"),
        ("Network", f"{config.get('preset', 'custom')} preset: {net['layers']} layers, hidden {net['hidden']}, "
                    f"{net['heads']} heads"),
        ("Parameters", f"{weights['parameters']:,}"),
        ("Weights", f"`{weights['file']}`, {weights['dtype']}, {weights['bytes']:,} bytes, sha256 `{weights['sha256'][:16]}…`"),
        ("Targets" if config["kind"] != "classifier" else "Predicts", targets),
        ("Data", f"`{data.get('spec', '?')}` (sha256 `{str(data.get('sha256', '?'))[:16]}…`): {splits}; the test split is held out"),
    ]
    if data.get("sampled"):  # a classifier's extra training rows: a sampler's own molecules (--sampled)
        files = "; ".join(f"`{Path(s['path']).parent.name}/{Path(s['path']).name}` (sha256 `{s['sha256'][:16]}…`): {s['molecules']:,} molecules x {s['repeat']}, "
                          + _positives(s["positive_fraction"]) for s in data["sampled"])
        rows.append(("Sampled", f"also trained on sampled molecules, as sampled, labelled by the oracle: {files}"))
    if data.get("perturbed"):  # a classifier's near misses of the data (--perturbed)
        p = data["perturbed"]
        rows.append(("Perturbed", f"also trained on {p['molecules']:,} copies of the training molecules with 1-4 tokens "
                                  f"redrawn ({p['copies']} per molecule; {p['invalid_skipped']:,} that decoded to no molecule "
                                  f"dropped), labelled by the oracle: " + _positives(p["positive_fraction"])))
    trunk = training.get("config", {}).get("trunk_from") if training else None
    if trunk:  # a classifier started from a denoiser (--trunk-from)
        rows.append(("Trunk", f"token embedding and transformer blocks started from the denoiser `{trunk}`; "
                              "the class head trained from scratch"))
    if training:
        stages = training.get("stages", [])
        if len(stages) > 1:
            parts = "; ".join(f"{s['steps']:,} steps, batch {s['batch_size']}, {_duration(s['wall_time_s'])} on {s['hardware']}"
                              for s in stages)
            rows.append(("Training", f"{training['steps']:,} steps in {len(stages)} stages ({parts}), {training['precision']}"))
        else:
            rows.append(("Training", f"{training['steps']:,} steps, batch {training['batch_size']}, "
                                     f"{_duration(training['wall_time_s'])} on {training['hardware']}, {training['precision']}"))
    if validation:
        shown = [VALIDATION_TEXT.get(k, k.replace("_", " ") + " {:.4g}").format(v) for k, v in validation.items()]
        rows.append(("Validation", ", ".join(shown) + " (EMA weights, valid split)"))
    return rows


def render_card(directory: str | Path, name: str, summary: str = "", quality: str = "") -> str:
    """The markdown model card of the model in ``directory``, shown under ``name``."""
    directory = Path(directory)
    config = read_config(directory)
    lines = [f"# {name}", ""]
    if summary:
        lines += [summary, ""]
    lines += ["| | |", "|---|---|"] + [f"| {field} | {value} |" for field, value in facts(config)]
    lines += ["", f"Load it with `moldiff.load(\"{name}\")`; `{CONFIG_FILE}` holds the full record.", ""]
    training = config.get("training", {})
    command = training.get("command")
    if command:
        earlier = [stage["command"] for stage in training.get("stages", [])[:-1]]
        recommend = ",".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                             for key, value in (config.get("sampling") or {}).items())  # as --recommend reads it
        lines += ["## Reproduce", "", "```bash", *earlier, command,
                  f"moldiff export-model {config['training']['config']['out']} <this directory> --dtype {config['weights']['dtype']}"
                  + (f" --recommend {recommend}" if recommend else ""),
                  "```", "", "`scripts/train_qm9.sh` runs every shipped model's and classifier's commands.", ""]
    if quality:
        lines += [quality.rstrip(), ""]
    return "\n".join(lines)


def write_card(directory: str | Path, name: str, summary: str = "", quality: str = "") -> Path:
    """Write :func:`render_card` to ``directory/README.md`` atomically."""
    path = Path(directory) / CARD_FILE
    with atomic_write(path) as handle:
        handle.write(render_card(directory, name, summary, quality))
    return path
