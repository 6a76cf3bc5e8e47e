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
            rule = t.rule if t.measured else f"{t.oracle} {'>' if t.direction == 'above' else '<'} {t.threshold:.4g}"
        shadowed = f"   (shadowed by {shadowed_by})" if shadowed_by else ""
        click.echo(f"{name:12s} {rule:20s} {path}{shadowed}")


@target.command("create")
@click.argument("name")
@click.option("--oracle", default=None, help="Oracle giving the property (see `moldiff oracles`); with --column, the fitted "
              "oracle that measures hits among generated molecules [default: one fitted to that column of --data].")
@click.option("--column", default=None, help="Label by data: this numeric column of --data (a file), not by an oracle.")
@click.option("--above", type=float, default=None, help="Label 1 when the value is above this threshold.")
@click.option("--below", type=float, default=None, help="Label 1 when the value is below this threshold.")
@click.option("--direction", type=click.Choice(["above", "below"]), default="above", show_default=True, help="With --percentile: label 1 when the value is above / below the threshold.")
@click.option("--percentile", type=click.FloatRange(0, 100), default=None, help="Percentile of the data that sets the threshold [default: 90 above, 10 below].")
@click.option("--data", "data_spec", default="qm9:train", show_default=True, help="Molecules the threshold is computed on (with --column: the file of measured values).")
@click.option("--pseudo-labels", is_flag=True, help="With --column: molecules without a value are labelled by the oracle when training (else unlabelled).")
@click.option("--description", default="", help="What the target means.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Target file [default: guidance/NAME/target.toml].")
@click.option("--force", is_flag=True, help="Overwrite an existing target file (models trained on it will refuse the new one).")
def target_create(name: str, oracle: str | None, column: str | None, above: float | None, below: float | None, direction: str,
                  percentile: float | None, data_spec: str, pseudo_labels: bool, description: str, out: Path | None,
                  force: bool) -> None:
    """Write the target file NAME (an existing one only with --force): labels by an oracle (--oracle) or by a
    column of your data (--column), at a fixed threshold (--above X, --below X) or a percentile of the data."""
    from moldiff.chemistry.data import MIN_LABELLED, check_enough, load_molecules, measured_values, spec_sha256
    from moldiff.chemistry.fitted import fitted_for
    from moldiff.chemistry.molfiles import check_writable
    from moldiff.chemistry.oracles import get_oracle
    from moldiff.chemistry.oracles import score as score_molecules
    from moldiff.chemistry.targets import TARGET_FILE, check_new_target_name, default_percentile, threshold_from_data
    from moldiff.core.files import check_output_paths

    check_new_target_name(name)
    if above is not None and below is not None:
        raise MoldiffError("give one of --above and --below")
    fixed = above if above is not None else below
    if fixed is not None and percentile is not None:
        raise MoldiffError("give a fixed threshold (--above/--below) or a --percentile, not both")
    direction = "above" if above is not None else "below" if below is not None else direction
    if column is None and oracle is None:
        raise MoldiffError("give --oracle ORACLE (labels by an oracle) or --column COL with --data FILE (labels by your data)")
    if column is None and pseudo_labels:
        raise MoldiffError("--pseudo-labels applies to targets labelled by data (--column)")
    if oracle is not None:
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
    threshold = f"--{direction} {fixed:g}" if fixed is not None else f"--direction {direction} --percentile {percentile:g}"
    measured = None
    if column is None:
        molecules = load_molecules(data_spec)
        values = score_molecules(molecules.smiles, [oracle])[oracle].to_numpy()
        record = {"data": data_spec, "data_sha256": spec_sha256(data_spec),
                  "command": f"moldiff target create {name} --oracle {oracle} {threshold} --data {data_spec}"}
    else:
        found = measured_values(data_spec, column)
        check_enough(found, MIN_LABELLED, "set a threshold")
        if oracle is None:
            candidates = fitted_for(found.sha256, column)
            if not candidates:
                raise MoldiffError(f"a target labelled by data needs a fitted oracle to measure hits among generated molecules: "
                                   f"run `moldiff oracle fit NAME --data {data_spec} --column {column}` first, or pass --oracle")
            oracle = candidates[0]
        values = found.labelled.to_numpy()
        measured = {"data": data_spec, "column": column, "data_sha256": found.sha256, "pseudo_labels": pseudo_labels}
        record = {"data": data_spec, "data_sha256": found.sha256, "column": column,
                  "command": f"moldiff target create {name} --data {data_spec} --column {column} {threshold} --oracle {oracle}"
                  + (" --pseudo-labels" if pseudo_labels else "")}
    result = threshold_from_data(name, oracle, values, percentile=percentile, direction=direction,
                                 description=description, record=record, threshold=fixed, measured=measured)
    result.save(out)
    how = "fixed" if fixed is not None else f"percentile {percentile:g}"
    click.echo(f"target {name}: {result.rule} ({how}; {result.computed['molecules']:,} molecules, "
               f"{result.computed['positive_fraction']:.2%} positive) -> {out}")
