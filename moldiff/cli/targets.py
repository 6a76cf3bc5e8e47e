"""Commands on guidance targets: ``target list|create``."""

from __future__ import annotations

from pathlib import Path

import click

from moldiff.cli.app import MoldiffGroup, cli, log
from moldiff.core.errors import MoldiffError


# --- targets --------------------------------------------------------------------------------
@cli.group(cls=MoldiffGroup)
def target() -> None:
    """Guidance targets: an oracle, a threshold and a direction."""


@target.command("list")
def target_list() -> None:
    """List the targets and where their files are, shadowed ones too (an earlier root wins:
    $MOLDIFF_HOME, then the current directory, then the shipped ones); unreadable files are named."""
    from moldiff.chemistry.targets import read_target, target_files

    for name, path, shadowed_by in target_files():
        try:
            t = read_target(path)
        except MoldiffError as exc:
            log.warning("%s", exc)
            rule = "unreadable"
        else:
            rule = f"{t.oracle} {'>' if t.direction == 'above' else '<'} {t.threshold:.4g}"
        shadowed = f"   (shadowed by {shadowed_by})" if shadowed_by else ""
        click.echo(f"{name:12s} {rule:20s} {path}{shadowed}")


@target.command("create")
@click.argument("name")
@click.option("--oracle", required=True, help="Oracle giving the property (see `moldiff oracles`).")
@click.option("--direction", type=click.Choice(["above", "below"]), default="above", show_default=True, help="Label 1 when the value is above / below the threshold.")
@click.option("--percentile", type=click.FloatRange(0, 100), default=None, help="Percentile of the data that sets the threshold [default: 90 above, 10 below].")
@click.option("--data", "data_spec", default="qm9:train", show_default=True, help="Molecules the threshold is computed on.")
@click.option("--description", default="", help="What the target means.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Target file [default: guidance/NAME/target.toml].")
@click.option("--force", is_flag=True, help="Overwrite an existing target file (models trained on it will refuse the new one).")
def target_create(name: str, oracle: str, direction: str, percentile: float | None, data_spec: str, description: str,
                  out: Path | None, force: bool) -> None:
    """Compute a threshold from data and write the target file NAME (an existing one only with --force)."""
    from moldiff.chemistry.data import load_molecules, spec_sha256
    from moldiff.chemistry.molfiles import check_writable
    from moldiff.chemistry.oracles import get_oracle
    from moldiff.chemistry.oracles import score as score_molecules
    from moldiff.chemistry.targets import TARGET_FILE, default_percentile, threshold_from_data, validate_target_name
    from moldiff.core.files import check_output_paths

    validate_target_name(name)
    get_oracle(oracle)
    percentile = default_percentile(direction) if percentile is None else percentile
    out = out or Path("guidance") / name / TARGET_FILE
    check_writable(out, (".toml",))
    check_output_paths([("--out", out)], [("--data", data_spec)])
    if out.name == TARGET_FILE and out.absolute().parent.name != name:
        raise MoldiffError(f"--out {out}: a {TARGET_FILE} file must lie in a folder named like its target ({name}); "
                           "choose another --out")
    if out.exists() and not force:
        raise MoldiffError(f"{out} exists: models trained on it would refuse a new definition; "
                           "pass --force to overwrite it, or choose another NAME or --out")
    molecules = load_molecules(data_spec)
    values = score_molecules(molecules.smiles, [oracle])[oracle].to_numpy()
    record = {
        "data": data_spec,
        "data_sha256": spec_sha256(data_spec),
        "command": f"moldiff target create {name} --oracle {oracle} --direction {direction} "
        f"--percentile {percentile:g} --data {data_spec}",
    }
    result = threshold_from_data(name, oracle, values, percentile=percentile, direction=direction,
                                 description=description, record=record)
    result.save(out)
    sign = ">" if direction == "above" else "<"
    click.echo(
        f"target {name}: {oracle} {sign} {result.threshold:.6g} "
        f"(percentile {result.computed['percentile']:g} of {len(values):,} molecules; "
        f"{result.computed['positive_fraction']:.2%} positive) -> {out}"
    )
