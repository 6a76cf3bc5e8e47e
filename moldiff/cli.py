"""The ``moldiff`` command line.

User mistakes (a :class:`~moldiff.errors.MoldiffError`) end in one line ``Error: ...`` on stderr and
exit code 2, without a traceback; output files are only written, atomically, once the work is done.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .assets import DEFAULT_MODEL
from .errors import MoldiffError
from .presets import presets_help

log = logging.getLogger("moldiff")


class UserError(click.ClickException):
    """A one-line error with exit code 2."""

    exit_code = 2


class MoldiffGroup(click.Group):
    """A click group that turns :class:`MoldiffError` into a one-line error, exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MoldiffError as exc:
            raise UserError(str(exc)) from None


class _EchoHandler(logging.Handler):
    """Writes ``warning: message`` to whatever stderr is now (tests and notebooks swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def _setup_logging() -> None:
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler())
        log.setLevel(logging.INFO)
        log.propagate = False


def _console():
    from rich.console import Console

    return Console()


@click.group(cls=MoldiffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="moldiff")
def cli() -> None:
    """moldiff: guided discrete diffusion for molecule design.

    Data sets are named by a spec wherever a molecule file is accepted: qm9 (all splits),
    qm9:train, qm9:valid, qm9:test, or a path to a .smi/.txt/.csv/.jsonl file (optionally .gz).
    """
    _setup_logging()


# --- data -----------------------------------------------------------------------------------
@cli.group(cls=MoldiffGroup)
def data() -> None:
    """Packaged data sets: sizes, provenance, preparation, export."""


@data.command("info")
@click.option("--dataset", default="qm9", show_default=True, help="Packaged data set.")
def data_info(dataset: str) -> None:
    """Show sizes, hashes, vocabularies and guidance-target thresholds of a data set."""
    from rich.table import Table

    from .data import dataset_info
    from .targets import available_targets, read_target

    info = dataset_info(dataset)
    console = _console()
    table = Table(title=f"{dataset}: {info['molecules']:,} unique molecules", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("source", f"{info['source_file']} ({info['source_molecules']:,} SMILES, sha256 {info['source_sha256'][:16]}...)")
    table.add_row("cleaning", f"{info['invalid']} invalid, {info['duplicates']} duplicates removed; {info['canonicalisation']}")
    sizes = ", ".join(f"{split} {n:,}" for split, n in info["split_sizes"].items())
    table.add_row("split", f"{sizes} (seed {info['split_seed']})")
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
    from .data import prepare_dataset

    if not source.is_file():
        raise MoldiffError(f"no such file: {source}")
    info = prepare_dataset(source, out_dir, name)
    click.echo(f"{info['molecules']:,} molecules, data hash {info['data_sha256']} -> {out_dir}")


@data.command("export")
@click.argument("spec")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file: .csv, .jsonl, .sdf or .smi.")
def data_export(spec: str, out: Path) -> None:
    """Write the molecules of a data set spec (e.g. qm9:test) to a file."""
    from .data import load_molecules
    from .io import check_not_input, check_writable, write_table

    check_not_input(out, spec)
    check_writable(out)
    molecules = load_molecules(spec)
    written = write_table(molecules.table.reset_index(drop=True), out)
    click.echo(f"wrote {written:,} molecules to {out}")


# --- oracles and scoring --------------------------------------------------------------------
@cli.command("oracles")
def list_oracles() -> None:
    """List the property oracles."""
    from .oracles import ORACLES

    for name, oracle in ORACLES.items():
        click.echo(f"{name:16s} {oracle.description}")


@cli.command()
@click.argument("source", metavar="IN")
@click.option("--oracles", default="rings,qed", show_default=True, help="Comma-separated oracle names (see `moldiff oracles`).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file: .csv, .jsonl, .sdf (values as properties) or .smi (SMILES and name only).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for scoring [default: all cores].")
def score(source: str, oracles: str, out: Path, workers: int | None) -> None:
    """Score the molecules of IN (a file or data set spec) with property oracles.

    The output holds one row per input row, in input order, invalid SMILES and blank lines
    included: its line (SDF: record) number, the canonical SMILES (empty if invalid), valid, the
    input string, the input's other columns and one column per oracle (empty if invalid).
    """
    from .data import describe_lines, molecule_rows
    from .io import check_not_input, check_writable, write_table
    from .oracles import parse_oracles
    from .oracles import score as score_molecules

    names = parse_oracles(oracles)
    check_not_input(out, source)
    check_writable(out)
    table = molecule_rows(source)
    invalid = table.loc[~table["valid"], table.columns[0]].tolist()
    if len(invalid) == len(table):
        raise MoldiffError(f"{source} holds no valid SMILES ({len(table)} read, all invalid)")
    if invalid:
        log.warning("%s: %d invalid SMILES of %d kept as rows with valid False (%s)",
                    source, len(invalid), len(table), describe_lines(invalid))
    values = score_molecules(table["smiles"].tolist(), names, workers=workers)
    for name in names:
        table[name] = values[name].to_numpy()
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
def evaluate(generated: str, reference: str, oracles: str, targets: str, fcd: bool, fcd_reference: str, out: Path) -> None:
    """Validity, uniqueness, novelty, properties (and FCD) of GENERATED molecules.

    GENERATED is a file or data set spec; every row counts: invalid SMILES, blank lines of a .smi
    file, empty fields of a .csv file and SD records without atoms count as invalid molecules
    (blank lines after the last molecule are not rows).
    """
    from .data import read_spec
    from .io import check_writable, write_json
    from .metrics import evaluate as evaluate_molecules
    from .metrics import metrics_table
    from .oracles import parse_oracles
    from .targets import parse_targets

    parse_oracles(oracles)
    target_list = parse_targets(targets) if targets else []
    check_writable(out, (".json",))
    strings = read_spec(generated, keep_blank=True)["smiles"].tolist()
    metrics = evaluate_molecules(
        strings, reference=reference, oracles=oracles, targets=target_list, fcd=fcd, fcd_reference=fcd_reference
    )
    metrics["generated"] = generated
    write_json(metrics, out)
    _console().print(metrics_table(metrics, title=f"{generated}: sample quality"))
    click.echo(f"metrics -> {out}")


# --- targets --------------------------------------------------------------------------------
@cli.group(cls=MoldiffGroup)
def target() -> None:
    """Guidance targets: an oracle, a threshold and a direction."""


@target.command("list")
def target_list() -> None:
    """List the targets and where their files are, shadowed ones too (an earlier root wins:
    $MOLDIFF_HOME, then the current directory, then the shipped ones); unreadable files are named."""
    from .targets import read_target, target_files

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
def target_create(name: str, oracle: str, direction: str, percentile: float | None, data_spec: str, description: str, out: Path | None) -> None:
    """Compute a threshold from data and write the target file NAME."""
    from .data import data_hash, load_molecules, parse_spec
    from .io import check_writable
    from .oracles import get_oracle
    from .oracles import score as score_molecules
    from .targets import default_percentile, threshold_from_data, validate_target_name

    validate_target_name(name)
    get_oracle(oracle)
    percentile = default_percentile(direction) if percentile is None else percentile
    out = out or Path("guidance") / name / "target.toml"
    check_writable(out, (".toml",))
    molecules = load_molecules(data_spec)
    values = score_molecules(molecules.smiles, [oracle])[oracle].to_numpy()
    parsed = parse_spec(data_spec)
    record = {
        "data": data_spec,
        "data_sha256": data_hash(parsed[0]) if parsed else _file_sha256(Path(data_spec)),
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


# --- sampling ----------------------------------------------------------------------------
@cli.command("sample")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Model name (see `moldiff models`) or directory.")
@click.option("-n", "--num-samples", type=click.IntRange(min=1), default=256, show_default=True, help="Molecules to generate (with --keep/--where: molecules that pass).")
@click.option("--keep", default=None, help="Keep only molecules that are valid, unique (in this run), novel (not in --reference) and/or hits (of --target), e.g. valid,unique,novel.")
@click.option("--where", default=None, help='Keep only molecules whose oracle values pass, e.g. "qed>0.5,sa<4" (operators > >= < <= =).')
@click.option("--max-samples", type=int, default=None, help="Budget of generated molecules for --keep/--where [default: 10 x -n].")
@click.option("--all", "write_all", is_flag=True, help="Write every generated molecule, with a kept column.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Denoising steps T [default: the model's recommendation, else 128].")
@click.option("--sampler", default=None, help="mdlm, remdm-cap, remdm-rescale, remdm-conf, remdm-loop, fb, dfm (masked models), udlm, ar [default: the model's recommendation, else remdm-loop, udlm or ar].")
@click.option("--eta", type=float, default=None, help="Remasking strength [default: the model's recommendation, else cap 0.008, rescale 0.015, conf 1.0, loop 0.02].")
@click.option("--confidence/--no-confidence", default=None, help="Split sigma over positions by softmax(-confidence) on top of remdm-cap, remdm-rescale or remdm-loop.")
@click.option("--loop-window/--no-loop-window", default=None, help="remdm-cap/remdm-rescale: hold alpha at --alpha-on between --t-on and --t-off and remask only there.")
@click.option("--switch", "t_switch", type=float, default=None, help="remdm-cap/rescale/conf: plain MDLM steps while t > SWITCH, remasking below.")
@click.option("--t-on", type=float, default=None, help="Loop window start [default: recommended, else 0.55].")
@click.option("--t-off", type=float, default=None, help="Loop window end [default: recommended, else 0.05].")
@click.option("--alpha-on", type=float, default=None, help="Alpha held during the loop window [default: recommended, else 0.9].")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None, help="Nucleus filtering of the denoiser's predictions [default: recommended, else 1].")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=None, help="[default: recommended, else 1]")
@click.option("--schedule", default=None, help="Noise schedule: loglinear or linear [default: recommended, else loglinear].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same molecules.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Sequences per network batch.")
@click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
@click.option("--threads", default=None, help="CPU threads for torch: a count or auto [default: $MOLDIFF_THREADS, else 1].")
@click.option("--guidance", default=None, help="none, cfg, cbg, cbg-taylor or fudge (see the README's compatibility table) [default: none, or the preset's].")
@click.option("--gamma", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Guidance strength (>= 0; 0 is unguided, 1 the conditional); only with guidance.")
@click.option("--target", default=None, help="Guidance target(s), e.g. rings or rings,qed (several only with cfg); also what --keep hits means; without guidance, only their hit fractions are reported.")
@click.option("--classifier", default=None, help="Classifier directory for cbg/fudge [default: guidance/TARGET/PROCESS].")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="cbg (masked) and fudge: candidates the classifier scores per position [default: the whole vocabulary].")
@click.option("--preset", default=None, help=f"The ReMDM paper's QM9 settings (guidance, target, sampler; explicit sampler options override them): {presets_help()}.")
@click.option("--reference", default="qm9", show_default=True, help="Data set spec or molecule file that novelty is judged against.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("samples.csv"), show_default=True, help="Output: .csv, .jsonl, .sdf or .smi.")
def sample_command(model: str, num_samples: int, out: Path, keep: str | None, where: str | None, max_samples: int | None,
                   write_all: bool, threads: str | None, **options) -> None:
    """Generate molecules with a trained model and summarise their quality.

    Sampler settings not given take the model's recommended ones (the `sampling` record of its
    config.json, see `moldiff models`), else the defaults shown. Options that would have no effect
    (--gamma, --top-k or --classifier without the guidance that uses them, --eta with a sampler
    that does not remask) are refused.
    """
    from .generate import check_budget, generate, parse_keep, parse_where
    from .io import check_writable, write_table
    from .metrics import metrics_table
    from .presets import get_preset
    from .runtime import thread_count
    from .sampling import check_option_use

    guidance = options["guidance"] or (get_preset(options["preset"]).guidance if options["preset"] else "none")
    gamma_given = click.get_current_context().get_parameter_source("gamma") is not click.core.ParameterSource.DEFAULT
    check_option_use(guidance, gamma_given, None, options["classifier"], options["top_k"])
    thread_count(threads)  # checked before the model loads
    check_writable(out)
    keep_words, conditions = parse_keep(keep), parse_where(where)  # checked before the model loads
    check_budget(num_samples, max_samples, bool(keep_words or conditions))
    result = generate(model, num_samples, keep=keep, where=where, max_samples=max_samples, threads=threads, **options)
    table = result.to_dataframe(all=True)
    table.insert(0, "index", range(len(table)))  # each row's sample index, also in .smi and .sdf files
    if not write_all:
        table = table.loc[table["kept"]].drop(columns="kept")
    written = write_table(table, out)
    metrics = result.metrics()
    speed = metrics["speed"]
    console = _console()
    guided = f", {result.guidance} gamma {options['gamma']:g} toward {', '.join(t.name for t in result.targets)}" if result.guidance != "none" else ""
    steps = "" if result.options.sampler == "ar" else f", T = {result.options.steps}"  # AR takes one step per token
    console.print(metrics_table(metrics, title=f"{result.generated} samples, {result.options.sampler}{steps}{guided}"))
    console.print(
        f"{speed['molecules_per_second']:.1f} molecules/s, {speed['evaluations_per_molecule']:.1f} denoiser evaluations "
        f"per molecule, network {speed['network_time_fraction']:.0%} of the time"
    )
    if result.filtered:
        click.echo(result.message())
    what = "molecules" if write_all or not result.filtered else "kept molecules"
    click.echo(f"{written} {what} -> {out}")


@cli.command("frontier")
@click.option("--model", "models", default=DEFAULT_MODEL, show_default=True, help="Model name(s) or directories, comma-separated.")
@click.option("--guidance", default="none", show_default=True, help="Guidance methods, comma-separated: none, cfg, cbg, cbg-taylor, fudge.")
@click.option("--gamma", "gammas", default="1", show_default=True, help="Guidance strengths, comma-separated (unguided points have none).")
@click.option("--sampler", "samplers", default=None, help="Samplers, comma-separated [default: each model's recommended or default one]; pairs that do not fit a model are skipped.")
@click.option("--preset", "presets", default=None, help="Sampler presets, comma-separated (where this moldiff has them).")
@click.option("--steps", default=None, help="Step counts T, comma-separated [default: recommended, else 128].")
@click.option("-n", "--num-samples", type=int, default=1024, show_default=True, help="Molecules per point.")
@click.option("--target", default="rings", show_default=True, help="Target: guided toward, and whose property and hits are measured.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fcd", is_flag=True, help="Also compute the FCD of each point to the QM9 test split.")
@click.option("--reference", default="qm9", show_default=True, help="Data set that novelty is judged against.")
@click.option("--batch-size", type=int, default=None, help="Sequences per network batch [default: all of a point's molecules].")
@click.option("--papers-settings", is_flag=True, help="Ignore the models' recommended sampler settings (use the library defaults, as the papers).")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Cache of computed points [default: OUT with .cache.json].")
@click.option("--jobs", type=int, default=1, show_default=True, help="Processes computing points at once.")
@click.option("--out", "outputs", type=click.Path(path_type=Path), multiple=True, default=(Path("frontier.csv"),), show_default=True, help="Table of points: .csv or .json (repeatable).")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Plot: .png, .svg or .pdf.")
@click.option("--overlay", default=None, help="Reference points drawn on the plot: 'papers' (the papers' QM9 points) or a CSV with label, novel, mean.")
def frontier_command(models: str, guidance: str, gammas: str, samplers: str | None, presets: str | None, steps: str | None,
                     num_samples: int, target: str, seed: int, fcd: bool, reference: str, batch_size: int | None,
                     papers_settings: bool, cache: Path | None, jobs: int, outputs: tuple[Path, ...], plot: Path | None,
                     overlay: str | None) -> None:
    """Sweep a product of models, guidance, gammas, samplers and steps: novelty against a property.

    Each point's validity, uniqueness, novel count, mean property and hit fraction of the novel
    molecules, evaluations per molecule and seconds; Pareto-optimal points per model and method
    are marked. Points are cached by settings and weights, so a re-run computes only what is missing.
    """
    from .sweeps import check_outputs, frontier, read_reference_points

    check_outputs(outputs, plot)
    if overlay is not None:
        read_reference_points(overlay)
    try:
        gamma_values = [float(g) for g in gammas.split(",") if g.strip()]
        step_values = [int(t) for t in steps.split(",") if t.strip()] if steps else None
    except ValueError as exc:
        raise MoldiffError(f"--gamma takes numbers and --steps integers, comma-separated ({exc})") from None
    result = frontier(models, guidance=guidance, gammas=gamma_values, samplers=samplers, steps=step_values, presets=presets,
                      num_samples=num_samples, target=target, seed=seed, fcd=fcd, reference=reference, batch_size=batch_size,
                      recommended=not papers_settings, cache=cache or outputs[0].with_suffix(".cache.json"), jobs=jobs)
    for out in outputs:
        result.save(out)
    if plot is not None:
        result.plot(plot, reference=overlay)
    columns = ["model", "method", "steps", "gamma", "validity", "novel", result.property_column, "pareto", "cached"]
    click.echo(result.table[columns].to_string(index=False))
    cached = int(result.table["cached"].sum())
    click.echo(f"{len(result.table)} points ({cached} from the cache) -> {', '.join(map(str, outputs))}"
               + (f", {plot}" if plot is not None else ""))


# --- training ----------------------------------------------------------------------------
def _training_options(function):
    """Options shared by `train` and `train-classifier` (defaults from TrainConfig)."""
    from .trainconfig import TrainConfig

    defaults = {f.name: f.default for f in TrainConfig.__dataclass_fields__.values()}
    options = [
        click.option("--representation", default=defaults["representation"], show_default=True, help="smiles or selfies."),
        click.option("--preset", default=defaults["preset"], show_default=True, help="Network size: tiny, compact (0.3M), medium (1.2M), small (6M), base (92M, GPU)."),
        click.option("--data", default=defaults["data"], show_default=True, help="qm9 or a molecule file (split 90/5/5, test held out)."),
        click.option("--max-steps", type=click.IntRange(min=1), default=defaults["max_steps"], show_default=True, help="Optimiser steps (may be raised when resuming)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=defaults["batch_size"], show_default=True, help="Molecules per step per device; memory grows linearly with it (base preset: 256 fits 16 GB of GPU memory in bf16)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=defaults["lr"], show_default=True, help="Peak learning rate (AdamW)."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=defaults["weight_decay"], show_default=True),
        click.option("--warmup-steps", type=click.IntRange(min=0), default=defaults["warmup_steps"], show_default=True, help="Linear warm-up, then cosine decay to 10%."),
        click.option("--grad-clip", type=click.FloatRange(min=0), default=defaults["grad_clip"], show_default=True),
        click.option("--ema-decay", type=click.FloatRange(0, 1, max_open=True), default=defaults["ema_decay"], show_default=True),
        click.option("--label-dropout", type=click.FloatRange(0, 1, max_open=True), default=defaults["label_dropout"], show_default=True, help="Probability of the null label per target (classifier-free guidance)."),
        click.option("--label-dropout-all", type=click.FloatRange(0, 1, max_open=True), default=defaults["label_dropout_all"], show_default=True, help="Probability of nulling all of a molecule's labels together (trains the unconditional mode)."),
        click.option("--loss-weighting", type=click.Choice(["elbo", "ce"]), default=defaults["loss_weighting"], show_default=True, help="MDLM loss: the ELBO (1/t weight) or plain cross-entropy on masked tokens."),
        click.option("--randomized-smiles", type=click.IntRange(min=0), default=defaults["randomized_smiles"], show_default=True, help="Add K randomized (non-canonical) atom orders of each training molecule."),
        click.option("--init-from", default=None, help="Warm-start network and EMA from a model (directory or name) or a run directory; the record keeps every stage."),
        click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=defaults["dropout"], show_default=True),
        click.option("--schedule", default=defaults["schedule"], show_default=True, help="Noise schedule: loglinear or linear."),
        click.option("--max-length", type=int, default=defaults["max_length"], show_default=True, help="Tokens per sequence incl. <bos>/<eos>; longer molecules are skipped."),
        click.option("--seed", type=int, default=defaults["seed"], show_default=True),
        click.option("--val-every", type=click.IntRange(min=1), default=defaults["val_every"], show_default=True, help="Validate every N steps."),
        click.option("--checkpoint-every", type=click.IntRange(min=1), default=defaults["checkpoint_every"], show_default=True, help="Checkpoint every N steps."),
        click.option("--val-molecules", type=click.IntRange(min=1), default=defaults["val_molecules"], show_default=True, help="Validation molecules used."),
        click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory; the trained model is exported into it."),
        click.option("--resume", is_flag=True, help="Continue the interrupted run in --out exactly."),
        click.option("--accelerator", default="auto", show_default=True, help="Lightning accelerator: auto, cpu, gpu."),
        click.option("--devices", default="auto", show_default=True, help="Lightning devices: auto, a count, or a list like 0,1."),
        click.option("--num-nodes", type=int, default=1, show_default=True, help="Nodes for multi-node DDP."),
        click.option("--strategy", default="auto", show_default=True, help="Lightning strategy, e.g. ddp."),
        click.option("--precision", default=None, help="Lightning precision [default: bf16-mixed on GPU, 32-true on CPU]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _run_training(kind: str, process: str | None, targets: list[str], options: dict) -> None:
    from .trainconfig import TrainConfig
    from .training import train

    lightning = {k: options.pop(k) for k in ("resume", "accelerator", "devices", "num_nodes", "strategy", "precision")}
    devices = lightning["devices"]
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    config = TrainConfig(kind=kind, process=process, targets=targets, **{**options, "out": str(options["out"])})
    out = train(config, resume=lightning["resume"], accelerator=lightning["accelerator"], devices=devices,
                num_nodes=lightning["num_nodes"], strategy=lightning["strategy"], precision=lightning["precision"])
    if out is not None:  # the main process of a multi-process run
        click.echo(f"model -> {out} (load with moldiff.load('{out}'))")


@cli.command("train")
@click.option("--kind", required=True, type=click.Choice(["mdlm", "udlm", "ar"]), help="Masked diffusion, uniform diffusion or autoregressive.")
@click.option("--targets", default="", help="Guidance targets to condition on (classifier-free guidance), e.g. rings,qed.")
@click.option("--val-samples", type=click.IntRange(min=0), default=0, show_default=True,
              help="Unguided molecules sampled at each validation (the kind's default sampler, T = 128); logs val/validity and val/novelty.")
@_training_options
def train_command(kind: str, targets: str, **options) -> None:
    """Train a denoiser (MDLM, UDLM) or autoregressive model with PyTorch Lightning."""
    from .targets import parse_targets

    names = [t.name for t in parse_targets(targets)] if targets else []
    _run_training(kind, None, names, options)


@cli.command("train-classifier")
@click.option("--target", required=True, help="Guidance target the classifier predicts.")
@click.option("--process", required=True, type=click.Choice(["mask", "uniform", "prefix"]), help="Noisy inputs of the masking or uniform process (D-CBG), or clean prefixes (FUDGE).")
@click.option("--sampled", multiple=True, metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False),
              help="Also train on a sampler's molecules as it wrote them (`moldiff sample --out FILE.csv`, e.g. under "
                   "this classifier's guidance), labelled by the oracle; repeatable.")
@click.option("--sampled-repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Times each --sampled molecule is added to the training split.")
@click.option("--perturbed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Add K copies of each training molecule with 1-4 tokens redrawn at the data's token frequencies, "
                   "labelled by the oracle on what they decode to (copies that decode to no molecule are dropped).")
@click.option("--trunk-from", default=None, metavar="MODEL",
              help="Start the classifier's embedding and transformer blocks from a denoiser of the same preset and "
                   "representation (mdlm for --process mask, udlm for uniform); its class head starts fresh.")
@_training_options
def train_classifier_command(target: str, process: str, sampled: tuple[str, ...], **options) -> None:
    """Train a guidance classifier: p(y | z_t) for D-CBG or p(y | prefix) for FUDGE.

    Guided sampling chases the classifier's mistakes; --sampled teaches it the sequences that
    guidance wrote, and --perturbed near misses of the data, with their true labels
    (guidance/README.md: classifier exploitation).
    """
    from .targets import load_target

    _run_training("classifier", process, [load_target(target).name], {**options, "sampled": list(sampled)})


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per model) for scripts.")
def list_models(as_json: bool) -> None:
    """List available models and classifiers: kind, representation, targets, size, validation.

    On a terminal this is a table; piped, it is tab-separated lines with full names and paths.
    """
    import json

    from .assets import list_assets
    from .modelfile import CONFIG_FILE, read_config

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
    from .generate import parse_recommendation
    from .modelfile import WEIGHTS_FILE, export_model

    sampling = None if recommend is None else parse_recommendation(recommend)
    export_model(source, destination, dtype, force=force, sampling=sampling)
    click.echo(f"{source} -> {destination} ({(destination / WEIGHTS_FILE).stat().st_size / 1e6:.2f} MB, {dtype})")


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Console-script entry point: every error is one line on stderr; user errors exit with 2."""
    try:
        code = cli.main(prog_name="moldiff", standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
