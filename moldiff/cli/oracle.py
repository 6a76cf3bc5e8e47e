"""Commands on oracles fitted to the user's data: ``oracle fit|list``."""

from __future__ import annotations

from pathlib import Path

import click

from moldiff.cli.app import MoldiffGroup, cli, log
from moldiff.core.errors import MoldiffError


@cli.group(cls=MoldiffGroup)
def oracle() -> None:
    """Oracles fitted to a numeric column of your own data (see `moldiff oracles` for all oracles)."""


@oracle.command("fit")
@click.argument("name")
@click.option("--data", "data_spec", required=True, help="Molecule file (.csv, .jsonl, .sdf) with a SMILES column and the property.")
@click.option("--column", required=True, help="Numeric column to fit; empty fields are molecules without a value.")
@click.option("--model", type=click.Choice(["ridge", "mlp"]), default="ridge", show_default=True,
              help="ridge: linear, any size, fast; mlp: one hidden layer, for non-additive properties.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split, the folds and the model.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Cross-validation folds.")
@click.option("--test-fraction", type=click.FloatRange(0.05, 0.5), default=0.2, show_default=True, help="Share of molecules held out.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Oracle directory [default: oracles/NAME].")
@click.option("--force", is_flag=True, help="Replace an existing oracle directory's files.")
def oracle_fit(name: str, data_spec: str, column: str, model: str, seed: int, folds: int, test_fraction: float,
               out: Path | None, force: bool) -> None:
    """Fit the oracle NAME to COLUMN of a molecule file: held-out R² and Spearman, cross-validation,
    applicability domain; written to oracles/NAME/ (oracle.json, weights.safetensors, README.md)."""
    from moldiff.chemistry.data import check_enough, measured_values
    from moldiff.chemistry.fitted import MIN_FIT_MOLECULES, ORACLE_DIR, RECORD_FILE, fit_oracle, save_fitted
    from moldiff.chemistry.oracles import BUILTIN_ORACLES, ORACLES
    from moldiff.core.files import check_output_paths

    if not name.isidentifier():
        raise MoldiffError(f"oracle name '{name}' must be a plain identifier (letters, digits, _)")
    if name in BUILTIN_ORACLES:
        raise MoldiffError(f"oracle name '{name}' clashes with a built-in oracle: choose another name")
    if name in ORACLES and ORACLES[name].kind != "fitted":
        raise MoldiffError(f"oracle name '{name}' is taken by a {ORACLES[name].kind} oracle: choose another name")
    out = out or Path(ORACLE_DIR) / name
    if out.absolute().name != name:
        raise MoldiffError(f"--out {out}: an oracle directory must be named like its oracle ({name}), so that it is "
                           "found by name; choose another --out")
    if out.exists() and not out.is_dir():
        raise MoldiffError(f"--out {out} exists and is not a directory")
    if (out / RECORD_FILE).exists() and not force:
        raise MoldiffError(f"{out} holds an oracle already: pass --force to replace it, or choose another NAME")
    check_output_paths([("--out", out / RECORD_FILE)], [("--data", data_spec)])
    measured = measured_values(data_spec, column)
    check_enough(measured, MIN_FIT_MOLECULES, "fit an oracle and measure it on held-out molecules")
    labelled = measured.labelled
    command = (f"moldiff oracle fit {name} --data {data_spec} --column {column} --model {model} --seed {seed} "
               f"--folds {folds} --test-fraction {test_fraction:g}")
    record = {**measured.record, "command": command}
    fitted = fit_oracle(name, labelled.index.tolist(), labelled.to_numpy(), model=model, seed=seed, folds=folds,
                        test_fraction=test_fraction, record=record)
    save_fitted(fitted, out)
    if measured.record["without_value"]:
        log.warning("%s: %d rows without a value in '%s' were left out", data_spec, measured.record["without_value"], column)
    h, cv = fitted.record["metrics"]["heldout"], fitted.record["metrics"]["cross_validation"]
    near = fitted.record["domain"]["heldout_nearest_similarity"]
    click.echo(f"oracle {name}: {model} on {len(labelled):,} molecules; held-out R² {h['r2']:.3f}, Spearman "
               f"{h['spearman']:.3f} ({h['molecules']:,} molecules); {folds}-fold R² {cv['r2_mean']:.3f} ± {cv['r2_std']:.3f}, "
               f"Spearman {cv['spearman_mean']:.3f} ± {cv['spearman_std']:.3f}; held-out nearest-neighbour similarity "
               f"median {near['median']:.2f} -> {out}")


@oracle.command("list")
def oracle_list() -> None:
    """List the fitted oracles found (an earlier asset root wins) with their held-out quality."""
    from moldiff.chemistry.fitted import ORACLE_DIR, RECORD_FILE, read_fitted
    from moldiff.core.assets import list_assets

    for name, folder in list_assets(ORACLE_DIR).items():
        if not (folder / RECORD_FILE).is_file():
            continue
        try:
            fitted = read_fitted(folder)
        except MoldiffError as exc:
            log.warning("%s", exc)
            continue
        click.echo(f"{name:16s} {fitted.description}   {folder}")
