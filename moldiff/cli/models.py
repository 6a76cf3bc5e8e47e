"""Commands on model directories: ``models`` and ``export-model``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from moldiff.cli.app import _console, cli
from moldiff.core.errors import MoldiffError


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per model) for scripts.")
def list_models(as_json: bool) -> None:
    """List available models and classifiers: kind, representation, targets, size, validation.

    On a terminal this is a table; piped, it is tab-separated lines with full names and paths.
    """

    from moldiff.core.assets import list_assets
    from moldiff.store.modelfile import CONFIG_FILE, read_config

    found = dict(list_assets("models"))
    for name, folder in list_assets("guidance").items():
        found.update({f"{name}/{sub.name}": sub for sub in sorted(folder.iterdir()) if (sub / CONFIG_FILE).exists()})
    rows = []
    for name, folder in found.items():
        if not (folder / CONFIG_FILE).exists():
            continue
        try:
            config = read_config(folder)
        except MoldiffError as exc:
            rows.append({"name": name, "kind": "unreadable", "representation": "", "targets": "", "parameters": "",
                         "steps": "", "validation": str(exc), "path": str(folder)})
            continue
        kind = config["kind"] + (f" ({config.get('process')})" if config["kind"] == "classifier" else "")
        validation = ", ".join(f"{k} {v:.4g}" for k, v in config.get("validation", {}).items() if k in ("nll", "bits_per_token", "accuracy", "cross_entropy"))
        rows.append({"name": name, "kind": kind, "representation": config["representation"],
                     "targets": ",".join(t["name"] for t in config["targets"]), "parameters": config["weights"]["parameters"],
                     "steps": config.get("training", {}).get("steps", ""), "validation": validation, "path": str(folder)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models found under models/ or guidance/ (train one with `moldiff train`)")
        return
    if not sys.stdout.isatty():
        click.echo("\t".join(rows[0]))
        for row in rows:
            click.echo("\t".join(str(v) for v in row.values()))
        return
    from rich.table import Table

    table = Table(title="models", title_justify="left")
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    _console().print(table)


@cli.command("export-model")
@click.argument("source")
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]), default="float16", show_default=True,
              help="Weight precision on disk (upcast to float32 when loaded).")
@click.option("--force", is_flag=True, help="Replace the model in an existing, non-empty DESTINATION.")
@click.option("--recommend", default=None, metavar="KEY=VALUE,...",
              help="Recommended sampler settings that `sample` uses by default, e.g. sampler=remdm-loop,steps=128,top_p=0.9.")
def export_model_command(source: str, destination: Path, dtype: str, force: bool, recommend: str | None) -> None:
    """Copy a trained model (a run directory or a model name) into DESTINATION, e.g. models/NAME,
    with a model card (README.md) rendered from its record. An existing DESTINATION that is not
    empty is refused unless --force is given."""
    from moldiff.store.export import export_model
    from moldiff.store.modelfile import WEIGHTS_FILE
    from moldiff.store.recommended import parse_recommendation

    sampling = None if recommend is None else parse_recommendation(recommend)
    export_model(source, destination, dtype, force=force, sampling=sampling)
    click.echo(f"{source} -> {destination} ({(destination / WEIGHTS_FILE).stat().st_size / 1e6:.2f} MB, {dtype})")
