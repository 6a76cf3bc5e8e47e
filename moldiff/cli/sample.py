"""Commands that sample: ``sample`` (candidates with filters) and ``frontier`` (settings sweeps)."""

from __future__ import annotations

from pathlib import Path

import click

from moldiff.cli.app import _console, cli
from moldiff.core.assets import DEFAULT_MODEL
from moldiff.core.errors import MoldiffError
from moldiff.guidance.presets import presets_help


# --- sampling ----------------------------------------------------------------------------
@cli.command("sample")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Model name (see `moldiff models`) or directory.")
@click.option("-n", "--num-samples", type=click.IntRange(min=1), default=256, show_default=True, help="Molecules to generate (with --keep/--where: molecules that pass).")
@click.option("--keep", default=None, help="Keep only molecules that are valid, unique (in this run), novel (not in --reference), hits (of --target) and/or alert-free (pass MOSES's filters: no MCF or PAINS alert, charge, ring of 8+ atoms or atom outside C N S O F Cl Br H), e.g. valid,unique,novel.")
@click.option("--where", default=None, help='Keep only molecules whose oracle values pass, e.g. "qed>0.5,sa<4" (operators > >= < <= =), or that contain or lack a substructure: has(SMARTS), lacks(SMARTS).')
@click.option("--scaffold", default=None, help='Decorate a scaffold: SMILES with one or two * attachment points, e.g. "*C1CC1"; new atoms bond only at the * (see docs/constrained.md).')
@click.option("--fragments", default=None, help='Link two fragments with a generated linker: "A*.*B", e.g. "c1ccccc1*.*C1CC1".')
@click.option("--from", "start", default=None, help="Make analogs of this molecule (SMILES): regenerate --remask of its tokens and/or its --remask-atoms.")
@click.option("--remask", type=float, default=None, help="With --from: the fraction of tokens masked and regenerated, in (0, 1], drawn per molecule.")
@click.option("--remask-atoms", default=None, help="With --from: regenerate the tokens of the atoms this SMARTS matches.")
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
@click.option("--nucleus", type=click.Choice(["model", "guided"]), default=None, help="Under guidance, what --top-p cuts: the guidance's own model, then guidance reweights within (model), or the guided distribution (guided, as earlier moldiff did) [default: model].")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=None, help="[default: recommended, else 1]")
@click.option("--schedule", default=None, help="Noise schedule: loglinear or linear [default: recommended, else loglinear].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same molecules.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Sequences per network batch.")
@click.option("--device", default=None, help="cpu or cuda [default: cuda when available].")
@click.option("--threads", default=None, help="CPU threads for torch: a count or auto [default: $MOLDIFF_THREADS, else 1].")
@click.option("--guidance", default=None, help="none, cfg, cbg, cbg-taylor or fudge (see the compatibility table in docs/guidance.md) [default: none, or the preset's].")
@click.option("--gamma", default="1", show_default=True, help="Guidance strength (>= 0; 0 is unguided, 1 the conditional): one for every target, or one per target, e.g. 3,1 with --target rings,qed; only with guidance.")
@click.option("--target", default=None, help="Guidance target(s), e.g. rings or rings,qed; also what --keep hits means; without guidance, only their hit fractions are reported.")
@click.option("--classifier", default=None, help="Classifier directory for cbg/fudge, comma-separated with several targets [default: guidance/TARGET/PROCESS].")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="cbg (masked) and fudge: candidates the classifier scores per position [default: the whole vocabulary].")
@click.option("--preset", default=None, help=f"The ReMDM paper's QM9 settings (guidance, target, sampler; explicit sampler options override them): {presets_help()}.")
@click.option("--reference", default=None, help="Data set spec or molecule file that novelty is judged against [default: the data set the model was trained on (qm9, moses), else qm9].")
@click.option("--out", type=click.Path(path_type=Path), default=Path("samples.csv"), show_default=True, help="Output: .csv, .jsonl, .sdf or .smi.")
def sample_command(model: str, num_samples: int, out: Path, keep: str | None, where: str | None, max_samples: int | None,
                   write_all: bool, threads: str | None, **options) -> None:
    """Generate molecules with a trained model and summarise their quality.

    Sampler settings not given take the model's recommended ones (the `sampling` record of its
    config.json, see `moldiff models`), else the defaults shown. Options that would have no effect
    (--gamma, --top-k or --classifier without the guidance that uses them, --eta with a sampler
    that does not remask) are refused.
    """
    from moldiff.chemistry.metrics import metrics_table
    from moldiff.chemistry.molfiles import check_writable, write_table
    from moldiff.core.files import check_output_paths
    from moldiff.core.runtime import thread_count
    from moldiff.guidance.multi import format_gamma, parse_gamma, target_gammas
    from moldiff.guidance.presets import get_preset
    from moldiff.pipeline.constraints import CONSTRAINT_FIELDS, constraint_summary, make_constraint
    from moldiff.pipeline.generate import (
        check_budget,
        generate,
        keep_conditions,
        parse_keep,
        parse_where,
    )
    from moldiff.pipeline.options import SampleOptions
    from moldiff.pipeline.sampling import check_option_use

    guidance = options["guidance"] or (get_preset(options["preset"]).guidance if options["preset"] else "none")
    gamma_given = click.get_current_context().get_parameter_source("gamma") is not click.core.ParameterSource.DEFAULT
    options["gamma"] = parse_gamma(options["gamma"])
    check_option_use(guidance, gamma_given, None, options["classifier"], options["top_k"])
    thread_count(threads)  # checked before the model loads
    check_writable(out)
    targets = [("--target", t.strip()) for t in (options["target"] or "").split(",") if t.strip()]
    guided_targets = [t for _, t in targets] or ([get_preset(options["preset"]).target] if options["preset"] else [])
    if guidance != "none" and guided_targets:
        target_gammas(options["gamma"], guided_targets)  # as many gammas as targets, checked before the model loads
    check_output_paths([("--out", out)], [("--reference", options["reference"]), *targets])
    keep_words, conditions = parse_keep(keep), parse_where(where) + keep_conditions(keep)  # checked before the model loads
    check_budget(num_samples, max_samples, bool(keep_words or conditions))
    make_constraint(SampleOptions(**{k: options[k] for k in CONSTRAINT_FIELDS}))
    result = generate(model, num_samples, keep=keep, where=where, max_samples=max_samples, threads=threads, **options)
    table = result.to_dataframe(all=True)
    table.insert(0, "index", range(len(table)))  # each row's sample index, also in .smi and .sdf files
    if not write_all:
        table = table.loc[table["kept"]].drop(columns="kept")
    written = write_table(table, out)
    metrics = result.metrics()
    speed = metrics["speed"]
    console = _console()
    guided = f", {result.guidance} gamma {format_gamma(options['gamma'])} toward {', '.join(t.name for t in result.targets)}" if result.guidance != "none" else ""
    steps = "" if result.options.sampler == "ar" else f", T = {result.options.steps}"  # AR takes one step per token
    console.print(metrics_table(metrics, title=f"{result.generated} samples, {result.options.sampler}{steps}{guided}"))
    console.print(
        f"{speed['molecules_per_second']:.1f} molecules/s on {result.device}, {speed['evaluations_per_molecule']:.1f} "
        f"denoiser evaluations per molecule, network {speed['network_time_fraction']:.0%} of the time"
    )
    if result.filtered:
        click.echo(result.message())
    if (line := constraint_summary(result.table)) is not None:
        click.echo(line)
    what = "molecules" if write_all or not result.filtered else "kept molecules"
    click.echo(f"{written} {what} -> {out}")


@cli.command("frontier")
@click.option("--model", "models", default=DEFAULT_MODEL, show_default=True, help="Model name(s) or directories, comma-separated.")
@click.option("--guidance", default="none", show_default=True, help="Guidance methods, comma-separated: none, cfg, cbg, cbg-taylor, fudge.")
@click.option("--gamma", "gammas", default="1", show_default=True, help="Guidance strengths, comma-separated (unguided points have none); with several targets a point may give one per target, colon-separated: 3:1,1:3.")
@click.option("--sampler", "samplers", default=None, help="Samplers, comma-separated [default: each model's recommended or default one]; pairs that do not fit a model are skipped.")
@click.option("--preset", "presets", default=None, help="Sampler presets, comma-separated (where this moldiff has them).")
@click.option("--steps", default=None, help="Step counts T, comma-separated [default: recommended, else 128].")
@click.option("-n", "--num-samples", type=int, default=1024, show_default=True, help="Molecules per point.")
@click.option("--target", default="rings", show_default=True, help="Target(s): guided toward, and whose property and hits are measured; several (rings,qed): a Pareto front over the novel count and every property, its hypervolume, and a plot of the first two properties.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fcd", is_flag=True, help="Also compute the FCD of each point to the QM9 test split.")
@click.option("--reference", default=None, help="Data set that novelty is judged against [default: the data set the models learned (qm9, moses)].")
@click.option("--batch-size", type=int, default=None, help="Sequences per network batch [default: all of a point's molecules]; each finished batch is saved beside the cache, so an interrupted point resumes from it.")
@click.option("--papers-settings", is_flag=True, help="Ignore the models' recommended sampler settings (use the library defaults, as the papers).")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Cache of computed points [default: OUT with .cache.json].")
@click.option("--shipped/--no-shipped", default=True, show_default=True, help="Take points that ship in the report (reports/qm9.json: the shipped models, 1,024 molecules, seed 0) instead of computing them.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Processes computing points at once.")
@click.option("--device", default=None, help="cpu or cuda (cuda:1, ...) [default: cuda when available]; never changes the molecules.")
@click.option("--out", "outputs", type=click.Path(path_type=Path), multiple=True, default=(Path("frontier.csv"),), show_default=True, help="Table of points: .csv or .json (repeatable).")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Plot: .png, .svg or .pdf.")
@click.option("--overlay", default=None, help="Reference points drawn on the plot: 'papers' (the papers' QM9 points) or a CSV with label, novel, mean.")
@click.option("--scaffold", default=None, help='A constrained frontier: every point decorates this scaffold, e.g. "*C1COC1".')
@click.option("--fragments", default=None, help='A constrained frontier: every point links these fragments, "A*.*B".')
def frontier_command(models: str, guidance: str, gammas: str, samplers: str | None, presets: str | None, steps: str | None,
                     num_samples: int, target: str, seed: int, fcd: bool, reference: str, batch_size: int | None,
                     papers_settings: bool, cache: Path | None, shipped: bool, jobs: int, device: str | None, outputs: tuple[Path, ...], plot: Path | None,
                     overlay: str | None, scaffold: str | None, fragments: str | None) -> None:
    """Sweep a product of models, guidance, gammas, samplers and steps: novelty against a property.

    Each point's validity, uniqueness, novel count, mean property and hit fraction of the novel
    molecules, evaluations per molecule and seconds; Pareto-optimal points per model and method
    are marked. Points are cached by settings and weights, so a re-run computes only what is missing.
    """
    from moldiff.pipeline.constraints import make_constraint
    from moldiff.pipeline.frontier import PAPER_POINTS, check_outputs, curve_label, frontier, read_reference_points
    from moldiff.pipeline.options import SampleOptions

    if overlay is not None and plot is None:
        raise MoldiffError(f"--overlay {overlay} is drawn on the plot: add --plot (.png, .svg or .pdf) or leave --overlay out")
    cache = cache or outputs[0].with_suffix(".cache.json")
    check_outputs(outputs, plot, [("--reference", reference), ("--target", target), ("--cache", cache),
                                  ("--overlay", PAPER_POINTS if overlay == "papers" else overlay)])
    if overlay is not None:
        read_reference_points(overlay)
    constrained = {k: v for k, v in (("scaffold", scaffold), ("fragments", fragments)) if v is not None}
    make_constraint(SampleOptions(**constrained))  # checked before any model loads
    try:
        gamma_values = [tuple(float(v) for v in g.split(":")) if ":" in g else float(g) for g in gammas.split(",") if g.strip()]
        step_values = [int(t) for t in steps.split(",") if t.strip()] if steps else None
    except ValueError as exc:
        raise MoldiffError(f"--gamma takes numbers (3:1 for one per target) and --steps integers, comma-separated ({exc})") from None
    result = frontier(models, guidance=guidance, gammas=gamma_values, samplers=samplers, steps=step_values, presets=presets,
                      num_samples=num_samples, target=target, seed=seed, fcd=fcd, reference=reference, batch_size=batch_size,
                      recommended=not papers_settings, cache=cache, shipped=shipped, jobs=jobs, device=device, **constrained)
    for out in outputs:
        result.save(out)
    if plot is not None:
        result.plot(plot, reference=overlay)
    columns = ["model", "method", "options", "steps", "gamma", "validity", "novel", *result.property_columns, "pareto", "source"]
    click.echo(result.table[columns].to_string(index=False))
    if len(result.settings.targets) == 2:  # the hypervolume is exact for 3 objectives
        objectives = " x ".join(["novel", *result.settings.targets])
        for _, row in result.hypervolume().iterrows():
            click.echo(f"hypervolume of {curve_label(row['model'], row['method'], row['options'])} ({row['points']} points, {objectives} "
                       f"from {row['reference']}): {row['hypervolume']:.4g}")
    sources = result.table["source"].value_counts()
    click.echo(f"{len(result.table)} points ({sources.get('cache', 0)} from the cache, {sources.get('shipped', 0)} shipped) "
               f"-> {', '.join(map(str, outputs))}"
               + (f", {plot}" if plot is not None else ""))
