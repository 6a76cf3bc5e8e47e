"""Commands on data and molecules: ``data info|prepare|export``, ``oracles``, ``score``, ``evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from moldiff.cli.app import MoldiffGroup, _console, cli, log
from moldiff.core.errors import MoldiffError


# --- data -----------------------------------------------------------------------------------
@cli.group(cls=MoldiffGroup)
def data() -> None:
    """Packaged data sets: sizes, provenance, preparation, export."""


@data.command("info")
@click.option("--dataset", default="qm9", show_default=True, help="Data set: qm9 (packaged) or moses (fetched).")
def data_info(dataset: str) -> None:
    """Show sizes, hashes, vocabularies and guidance-target thresholds of a data set."""
    from rich.table import Table

    from moldiff.chemistry.data import dataset_info
    from moldiff.chemistry.targets import available_targets, read_target

    info = dataset_info(dataset)
    console = _console()
    table = Table(title=f"{dataset}: {info['molecules']:,} unique molecules", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("source", f"{info['source_file']} ({info['source_molecules']:,} SMILES, sha256 {info['source_sha256'][:16]}...)")
    if "rewritten_by_canonicalisation" in info:  # a fetched data set keeps its source's rows
        table.add_row("cleaning", f"{info['invalid']} invalid dropped, {info['duplicates']} duplicates kept, "
                                  f"{info['rewritten_by_canonicalisation']} rewritten; {info['canonicalisation']}")
    else:
        table.add_row("cleaning", f"{info['invalid']} invalid, {info['duplicates']} duplicates removed; {info['canonicalisation']}")
    sizes = ", ".join(f"{split} {n:,}" for split, n in info["split_sizes"].items())
    table.add_row("split", f"{sizes} " + (f"(seed {info['split_seed']})" if info["split_seed"] is not None else "(the source's own split)"))
    table.add_row("data hash", info["data_sha256"])
    for representation, tok in info["tokenizers"].items():
        table.add_row(
            f"{representation} vocabulary",
            f"{tok['vocab_size']} tokens ({tok['data_tokens']} + 4 special), longest molecule "
            f"{tok['longest_molecule_tokens']} tokens, max_length {tok['max_length']}, "
            f"{tok['molecules_too_long']} too long",
        )
    console.print(table)

    targets = Table(title="guidance targets", title_justify="left")
    for column in ("target", "oracle", "label", "percentile", "positive fraction", "computed on"):
        targets.add_column(column)
    for name, path in available_targets().items():
        try:
            target = read_target(path)
        except MoldiffError as exc:
            log.warning("%s", exc)
            targets.add_row(name, "unreadable", "", "", "", str(path))
            continue
        computed = target.computed
        same_data = computed.get("data_sha256") == info["data_sha256"]
        where = f"{computed.get('data', '?')}" + ("" if same_data else " (other data)")
        sign = ">" if target.direction == "above" else "<"
        targets.add_row(
            name, target.oracle, f"{target.oracle} {sign} {target.threshold:.4g}",
            str(computed.get("percentile", "")), str(computed.get("positive_fraction", "")), where,
        )
    console.print(targets)


@data.command("prepare")
@click.option("--source", required=True, type=click.Path(path_type=Path), help="Source SMILES file, one per line (.txt or .txt.gz).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Directory for the prepared files.")
@click.option("--name", default="qm9", show_default=True, help="Data set name (file prefix).")
def data_prepare(source: Path, out_dir: Path, name: str) -> None:
    """Rebuild a prepared data set (canonical, deduplicated, split, vocabularies) from its source.

    Maintainers run this to regenerate moldiff/resources/qm9 from the raw QM9 SMILES.
    """
    from moldiff.chemistry.data import prepare_dataset

    if not source.is_file():
        raise MoldiffError(f"no such file: {source}")
    info = prepare_dataset(source, out_dir, name)
    click.echo(f"{info['molecules']:,} molecules, data hash {info['data_sha256']} -> {out_dir}")


@data.command("export")
@click.argument("spec")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file: .csv, .jsonl, .sdf or .smi.")
def data_export(spec: str, out: Path) -> None:
    """Write the molecules of a data set spec (e.g. qm9:test) to a file."""
    from moldiff.chemistry.data import load_molecules
    from moldiff.chemistry.molfiles import check_writable, write_table
    from moldiff.core.files import check_output_paths

    check_output_paths([("--out", out)], [("SPEC", spec)])
    check_writable(out)
    molecules = load_molecules(spec)
    written = write_table(molecules.table.reset_index(drop=True), out)
    click.echo(f"wrote {written:,} molecules to {out}")


@data.command("fetch")
@click.argument("name", type=click.Choice(["moses"]))
@click.option("--wheel", type=click.Path(path_type=Path), default=None,
              help="The molsets 0.3.1 wheel, if already downloaded [default: pip download --no-deps into the cache].")
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="Asset root to write data/NAME/ under [default: the first directory of $MOLDIFF_HOME, else the current directory].")
def data_fetch(name: str, wheel: Path | None, root: Path | None) -> None:
    """Fetch a data set that is not shipped, once, at set-up time (MOSES: from the molsets wheel, sha256-checked)."""
    from moldiff.chemistry.data import fetch_moses

    folder, record = fetch_moses(root, wheel)
    sizes = ", ".join(f"{split} {n:,}" for split, n in record["split_sizes"].items())
    click.echo(f"{name}: {record['molecules']:,} molecules ({sizes}), data hash {record['data_sha256'][:16]}... -> {folder}")


# --- oracles and scoring --------------------------------------------------------------------
@cli.command("oracles")
def list_oracles() -> None:
    """List the property oracles: built-in, registered, fitted (`moldiff oracle fit`) and plugins (entry
    points of the group moldiff.oracles; one that fails to import is named in a warning)."""
    from moldiff.chemistry.oracles import available_oracles, get_oracle

    for name in available_oracles(load_plugins=True):
        try:
            oracle = get_oracle(name)
        except MoldiffError as exc:
            log.warning("%s", exc)
            continue
        kind = "" if oracle.kind == "builtin" else f"[{oracle.kind}] "
        click.echo(f"{name:16s} {kind}{oracle.description}")


@cli.command()
@click.argument("source", metavar="IN")
@click.option("--oracles", default="rings,qed", show_default=True, help="Comma-separated oracle names (see `moldiff oracles`).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file: .csv, .jsonl, .sdf (values as properties) or .smi (SMILES and name only).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for scoring [default: all cores].")
def score(source: str, oracles: str, out: Path, workers: int | None) -> None:
    """Score the molecules of IN (a file or data set spec) with property oracles.

    The output holds one row per input row, in input order, invalid SMILES and blank lines
    included: its line (SDF: record) number, the canonical SMILES (empty if invalid), valid, the
    input string, the input's other columns and one column per oracle (empty if invalid). A fitted
    oracle adds NAME_domain: the molecule's nearest-neighbour Tanimoto similarity to the oracle's
    training molecules (its applicability domain). An input column named like an output column
    (line, valid, input, an oracle) is kept as NAME_input.
    """
    from moldiff.chemistry.data import describe_lines, molecule_rows, refused_reasons
    from moldiff.chemistry.molfiles import check_writable, write_table
    from moldiff.chemistry.oracles import get_oracle, parse_oracles
    from moldiff.chemistry.oracles import score as score_molecules
    from moldiff.core.files import check_output_paths

    names = parse_oracles(oracles)
    fitted = [n for n in names if get_oracle(n).kind == "fitted"]
    check_output_paths([("--out", out)], [("IN", source)])
    check_writable(out)
    table = molecule_rows(source, reserved=[*names, *(f"{n}_domain" for n in fitted)])
    invalid = table.loc[~table["valid"], table.columns[0]].tolist()
    if len(invalid) == len(table):
        raise MoldiffError(f"{source} holds no valid SMILES ({len(table)} read, all invalid)")
    if invalid:
        log.warning("%s: %d invalid SMILES of %d kept as rows with valid False (%s)%s",
                    source, len(invalid), len(table), describe_lines(invalid),
                    refused_reasons(table.loc[~table["valid"], "input"]))
    values = score_molecules(table["smiles"].tolist(), names, workers=workers)
    for name in names:
        table[name] = values[name].to_numpy()
    for name in fitted:
        table[f"{name}_domain"] = get_oracle(name).fn.domain(table["smiles"].tolist())
    written = write_table(table, out)
    click.echo(f"scored {len(table) - len(invalid):,} valid molecules of {len(table):,} rows with {', '.join(names)} -> {out} ({written:,} rows)")


@cli.command()
@click.argument("generated")
@click.option("--reference", default="qm9", show_default=True, help="Known molecules for novelty: data set spec or file.")
@click.option("--oracles", default="rings,qed", show_default=True, help="Oracles whose statistics to report.")
@click.option("--targets", default="", help="Guidance targets whose hit fractions to report, e.g. rings,qed.")
@click.option("--fcd/--no-fcd", default=False, show_default=True, help="Compute the Frechet ChemNet Distance.")
@click.option("--fcd-reference", default="qm9:test", show_default=True, help="Reference set for FCD.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Metrics file (.json).")
@click.option("--metrics", "metric_set", type=click.Choice(["basic", "moses"]), default="basic", show_default=True,
              help="basic: the options above; moses: the MOSES metric set against moses:train, moses:test and "
                   "moses:test_scaffolds (`moldiff data fetch moses` first).")
def evaluate(generated: str, reference: str, oracles: str, targets: str, fcd: bool, fcd_reference: str, out: Path,
             metric_set: str) -> None:
    """Validity, uniqueness, novelty, properties (and FCD) of GENERATED molecules, or the MOSES metrics.

    GENERATED is a file or data set spec; every row counts: invalid SMILES, blank lines of a .smi
    file, empty fields of a .csv file and SD records without atoms count as invalid molecules
    (blank lines after the last molecule are not rows).
    """
    if metric_set == "moses":
        _evaluate_moses(generated, out)
        return
    from moldiff.chemistry.data import read_spec
    from moldiff.chemistry.metrics import evaluate as evaluate_molecules
    from moldiff.chemistry.metrics import metrics_table
    from moldiff.chemistry.molfiles import check_writable
    from moldiff.chemistry.oracles import parse_oracles
    from moldiff.chemistry.targets import parse_targets
    from moldiff.core.files import check_output_paths, write_json

    parse_oracles(oracles)
    target_list = parse_targets(targets) if targets else []
    check_writable(out, (".json",))
    check_output_paths([("--out", out)], [("GENERATED", generated), ("--reference", reference), ("--fcd-reference", fcd_reference),
                                          *(("--targets", t.strip()) for t in targets.split(",") if t.strip())])
    strings = read_spec(generated, keep_blank=True)["smiles"].tolist()
    metrics = evaluate_molecules(
        strings, reference=reference, oracles=oracles, targets=target_list, fcd=fcd, fcd_reference=fcd_reference
    )
    metrics["generated"] = generated
    for t in target_list:
        if t.measured:  # labelled by data: its hits are the fitted oracle's verdict, not measurements
            metrics["targets"][t.name]["measured_by"] = f"fitted oracle '{t.oracle}' (training labels: {t.measured['column']} in {t.measured['data']})"
    write_json(metrics, out)
    _console().print(metrics_table(metrics, title=f"{generated}: sample quality"))
    for t in target_list:
        if t.measured:
            click.echo(f"target {t.name}: hits measured with the fitted oracle '{t.oracle}', not by measurement")
    click.echo(f"metrics -> {out}")


def _evaluate_moses(generated: str, out: Path) -> None:
    """``evaluate --metrics moses``: the options of the basic set do not apply, and are refused."""
    from click.core import ParameterSource

    from moldiff.chemistry.data import read_spec
    from moldiff.chemistry.molfiles import check_writable
    from moldiff.chemistry.moses import MOSES_REFERENCES, MOSES_TRAIN, moses_metrics, moses_metrics_table
    from moldiff.core.files import check_output_paths, write_json

    context = click.get_current_context()
    given = [f"--{p.replace('_', '-')}" for p in ("reference", "oracles", "targets", "fcd", "fcd_reference")
             if context.get_parameter_source(p) == ParameterSource.COMMANDLINE]
    if given:
        raise MoldiffError(f"{', '.join(given)} do not apply to --metrics moses (it uses {MOSES_TRAIN} and "
                           f"{', '.join(MOSES_REFERENCES.values())})")
    check_writable(out, (".json",))
    check_output_paths([("--out", out)], [("GENERATED", generated)])
    strings = read_spec(generated, keep_blank=True)["smiles"].tolist()
    metrics = moses_metrics(strings)
    metrics["generated"] = generated
    write_json(metrics, out)
    _console().print(moses_metrics_table(metrics, title=f"{generated}: MOSES metrics"))
    click.echo(f"metrics -> {out}")
