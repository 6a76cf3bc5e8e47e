"""Regenerate ``reports/qm9.md`` (and the sample-quality sections of the model cards) from the shipped models.

Every row samples 1,024 molecules with a fixed seed and scores them after canonicalisation:
validity, uniqueness, novelty against all of QM9 and FCD against the QM9 test split (unguided rows),
or the novel molecules' ring count (guided rows). Results are cached in ``reports/qm9.json`` by the
row and the sha256 of every weights file it used, so an interrupted run continues where it stopped
and only rows whose models changed are recomputed. Usage::

    python scripts/report_qm9.py [--rows unguided,guided] [--models NAMES] [--guidance cfg,...] [--render-only]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from moldiff.io import atomic_write, read_json
from moldiff.modelcard import write_card
from moldiff.sweeps import MIN_NOVEL, Point, frontier, make_point, read_reference_points, weights_used

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "qm9.md"
RESULTS = ROOT / "reports" / "qm9.json"
DEFAULT = "qm9-selfies-mdlm"
GAMMAS = (1.0, 2.0, 3.0, 4.0, 5.0)
#: D-CFG rows of the default model at a lower temperature (on top of its recommended top-p 0.9), which
#: trades novel molecules for ring-rich ones: chosen on 256 molecules (README, D-CFG).
SHARP = {"temperature": 0.5}
#: D-CBG rows of the default model at its recommended settings with gammas beyond the papers' 1..5: its small
#: classifier tilts less per unit of gamma than theirs, so more novel ring-rich molecules lie further out
#: (chosen on 256 molecules: README, D-CBG).
STRONG = (5.0, 10.0, 25.0, 50.0)
SUMMARIES = {
    "qm9-smiles-mdlm": "Masked diffusion on SMILES of QM9 with classifier-free guidance labels `rings` and `qed`. "
                       "Small (0.3M parameters), trained in three stages on CPU: about 63% of its SMILES are valid "
                       "unguided (see below); the default model is `qm9-selfies-mdlm`.",
    "qm9-smiles-udlm": "Uniform-noise diffusion on SMILES of QM9 with classifier-free guidance labels `rings` and `qed`. "
                       "Small (0.3M parameters), trained in three stages on CPU: about half of its SMILES are valid "
                       "unguided (see below).",
    "qm9-smiles-ar": "Autoregressive baseline on SMILES of QM9 with classifier-free guidance labels `rings` and `qed`; "
                     "FUDGE uses `guidance/<target>/prefix`.",
    "qm9-selfies-mdlm": "Masked diffusion on SELFIES of QM9 with classifier-free guidance labels `rings` and `qed`: "
                        "the default model of `moldiff sample`, chosen by the measured frontier (nearly every sample "
                        "decodes to a valid molecule, and D-CFG reaches more novel ring-rich molecules than with any "
                        "shipped SMILES model). Recommended settings (its config's `sampling`): `remdm-loop`, T = 128, "
                        "top-p 0.9; under D-CFG add `--temperature 0.5` for ring-rich molecules, under D-CBG pass a gamma of 10 "
                        "or more (rows below).",
}
#: Said on every shipped card: how the wall time in its facts table was measured.
TRAINED_ON = ("Trained with `scripts/train_qm9.sh` on the project's 2-core CPU machine, two runs at a time with one thread "
              "each (a run alone on both cores is about 1.5 times faster).")
#: The papers' points read off the ReMDM project page plot (ALGORITHMS.md section 5): ring count, T = 128.
PAPER = [(r.label.removeprefix("paper "), r.gamma, r.novel, r["mean"]) for _, r in read_reference_points("papers").iterrows()
         if "project page plot" in r.source]


def Row(model: str, sampler: str, steps: int, guidance: str = "none", gamma: float = 0.0, target: str | None = None,
        recommended: bool = False, **options: Any) -> Point:
    """One line of the report: a model, a sampler at T steps, and (optionally) guidance, at the papers'
    sampler settings (top-p 1), or with ``recommended`` at the model's recommended ones; ``options``
    (e.g. a temperature) on top."""
    return make_point(model, sampler, steps, guidance, gamma, target, recommended=recommended, **options)


def unguided_rows() -> list[Point]:
    rows = [Row(DEFAULT, "remdm-loop", 128, recommended=True)]
    rows += [Row(DEFAULT, sampler, steps) for sampler, steps in
             (("mdlm", 128), ("remdm-loop", 32), ("remdm-loop", 128), ("remdm-loop", 512))]
    rows += [Row("qm9-smiles-mdlm", "remdm-loop", 128, recommended=True)]
    rows += [Row("qm9-smiles-mdlm", sampler, steps) for sampler in ("mdlm", "remdm-loop") for steps in (32, 128, 512)]
    rows += [Row("qm9-smiles-mdlm", sampler, 128) for sampler in ("remdm-cap", "remdm-rescale", "remdm-conf")]
    rows += [Row("qm9-smiles-udlm", "udlm", steps) for steps in (32, 128, 512)]
    rows += [Row("qm9-smiles-ar", "ar", 32)]
    return rows


def guided_rows() -> list[Point]:
    rows = [Row(DEFAULT, "remdm-loop", 128, "cfg", gamma, "rings", recommended=True, **options)
            for options in ({}, SHARP) for gamma in GAMMAS]
    rows += [Row(DEFAULT, "remdm-loop", 128, "cbg", gamma, "rings", recommended=True) for gamma in STRONG]
    plan = [(DEFAULT, "remdm-loop", guidance) for guidance in ("cfg", "cbg")]
    plan += [("qm9-smiles-mdlm", sampler, guidance) for guidance in ("cfg", "cbg-taylor") for sampler in ("mdlm", "remdm-loop")]
    plan += [("qm9-smiles-udlm", "udlm", guidance) for guidance in ("cfg", "cbg-taylor")]
    plan += [("qm9-smiles-ar", "ar", guidance) for guidance in ("cfg", "fudge")]
    return rows + [Row(model, sampler, 32 if sampler == "ar" else 128, guidance, gamma, "rings")
                   for model, sampler, guidance in plan for gamma in GAMMAS]


def current(cache: dict[str, Any], rows: list[Point]) -> dict[str, dict[str, Any]]:
    """The cached results of ``rows`` (by key, in order) computed with today's weights (a retrained
    model's old rows are left out)."""
    by_key = cache["rows"]
    return {r.key: by_key[r.key] for r in rows if r.key in by_key and by_key[r.key]["weights"] == weights_used(r)}


def _read_cache() -> dict[str, Any]:
    return read_json(RESULTS, "report results") if RESULTS.exists() else {"rows": {}}


def compute(rows: list[Point], num_samples: int, seed: int, jobs: int = 1) -> dict[str, Any]:
    """Fill the cache for ``rows`` through :func:`moldiff.frontier` (FCD for the unguided rows);
    returns the whole cache. Points are cached by settings and weights, saved after each one."""
    unguided = [r for r in rows if r.guidance == "none"]
    guided = [r for r in rows if r.guidance != "none"]
    for points, fcd in ((unguided, True), (guided, False)):
        if points:
            frontier(points=points, num_samples=num_samples, seed=seed, target="rings", fcd=fcd, cache=RESULTS, jobs=jobs)
    return _read_cache()


def _common(cache: dict[str, Any], field: str) -> str:
    """A setting shared by every row (molecules, seed), or 'mixed'."""
    values = {r[field] for r in cache["rows"].values()}
    return f"{values.pop():,}" if len(values) == 1 else "mixed"


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _sampler(r: dict[str, Any]) -> str:
    """The sampler, with the settings that differ from the papers' (e.g. a recommended top-p)."""
    extra = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in sorted(r.get("options", {}).items()))
    return f"{r['sampler']} ({extra})" if extra else r["sampler"]


def unguided_table(results: list[dict[str, Any]]) -> str:
    lines = ["| model | sampler | T | validity | uniqueness | novelty | FCD | novel | mean rings (novel) | evals/mol | s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['model']} | {_sampler(r)} | {r['steps']} | {_f(r['validity'])} | {_f(r['uniqueness'])} | "
                     f"{_f(r['novelty'])} | {_f(r['fcd'], 2)} | {r['novel']} | {_f(r['rings_novel_mean'], 2)} | "
                     f"{_f(r['evaluations_per_molecule'], 1)} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def guided_table(results: list[dict[str, Any]]) -> str:
    lines = ["| model | sampler | guidance | gamma | validity | novel unique valid | mean rings (novel) | rings > 3 (novel) | s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['model']} | {_sampler(r)} | {r['guidance']} | {r['gamma']:g} | {_f(r['validity'])} | {r['novel']} | "
                     f"{_f(r['rings_novel_mean'], 2)} | {_f(r['rings_hit_novel'])} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def _rising(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The novel molecules' mean ring count per gamma, with counts, and whether it rises over the
    points of at least MIN_NOVEL novel molecules (the papers' rule for showing a frontier point)."""
    shown = " → ".join(f"{_f(r['rings_novel_mean'], 2)} ({r['novel']})" for r in rows)
    kept = [r["rings_novel_mean"] for r in rows if r["novel"] >= MIN_NOVEL]
    if len(kept) < 2:
        return shown, f"undecided: {len(kept)} point(s) with at least {MIN_NOVEL} novel molecules"
    return shown, f"{'met' if kept[-1] > kept[0] else 'not met'} over the points with at least {MIN_NOVEL} novel molecules"


def goals(fresh: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 10's goals for the default model, each with its numbers and whether it is met."""
    def get(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return fresh.get(Row(*args, **kwargs).key)

    out = []
    recommended, papers = get(DEFAULT, "remdm-loop", 128, recommended=True), get(DEFAULT, "remdm-loop", 128)
    for row, what, bar in ((recommended, "its recommended settings", 0.9), (papers, "the papers' settings (top-p 1)", 0.75)):
        if row:
            out.append(f"- Unguided validity ≥ {bar:.0%} for `{DEFAULT}` with `remdm-loop` at T = 128 and {what}: "
                       f"{row['validity']:.1%} ({'met' if row['validity'] >= bar else 'not met'}).")
    if recommended and papers:
        best = min(r["fcd"] for r in (recommended, papers))
        out.append(f"- FCD ≤ 1.0 for `{DEFAULT}` at T = 128: {_f(papers['fcd'], 2)} (papers' settings), "
                   f"{_f(recommended['fcd'], 2)} (recommended) ({'met' if best <= 1.0 else 'not met'}).")
    for model in (DEFAULT, "qm9-smiles-mdlm"):
        ends = [get(model, "remdm-loop", t) for t in (32, 128, 512)]
        if all(ends):
            validity = " → ".join(f"{r['validity']:.1%}" for r in ends)
            fcd = " → ".join(_f(r["fcd"], 2) for r in ends)
            better = ends[-1]["validity"] >= ends[0]["validity"] and ends[-1]["fcd"] < ends[0]["fcd"]
            out.append(f"- Inference-time scaling, `{model}` with `remdm-loop` at T = 32 → 128 → 512: validity {validity}, "
                       f"FCD {fcd} ({'met' if better else 'not met'}: both should improve from T = 32 to 512).")
    ours = {guidance: [r for r in fresh.values() if r["model"] == DEFAULT and r["guidance"] == guidance and r["steps"] == 128]
            for guidance in ("cfg", "cbg")}
    for label, gamma, novel, mean in PAPER:
        if not label.startswith("ReMDM"):
            continue
        guidance = "cfg" if "CFG" in label else "cbg"
        beating = [r for r in ours[guidance] if r["novel"] >= novel and r["rings_novel_mean"] >= mean]
        if ours[guidance]:
            best = max(ours[guidance], key=lambda r: (r["rings_novel_mean"] if r["novel"] >= novel else -1, r["novel"]))
            out.append(f"- Dominates the paper's {label} point at gamma {gamma:g} ({novel} novel, {mean:.2f} mean rings): "
                       + (f"met by {_sampler(beating[0])} gamma {beating[0]['gamma']:g} ({beating[0]['novel']} novel, "
                          f"{beating[0]['rings_novel_mean']:.2f} rings)." if beating else
                          f"not met (closest: {_sampler(best)} gamma {best['gamma']:g}, {best['novel']} novel at "
                          f"{best['rings_novel_mean']:.2f} rings)."))
    for recommended_settings, guidance, options, gammas in ((True, "cfg", {}, GAMMAS), (True, "cfg", SHARP, GAMMAS),
                                                            (False, "cfg", {}, GAMMAS), (False, "cbg", {}, GAMMAS),
                                                            (True, "cbg", {}, STRONG)):
        rows = [get(DEFAULT, "remdm-loop", 128, guidance, g, "rings", recommended=recommended_settings, **options)
                for g in gammas]
        if all(rows):
            shown, verdict = _rising(rows)
            out.append(f"- Mean ring count of novel molecules rising with gamma = {', '.join(f'{g:g}' for g in gammas)}, "
                       f"`{DEFAULT}`, {guidance} with `{_sampler(rows[0])}` (novel molecules in brackets): {shown} ({verdict}).")
    return out


def render(cache: dict[str, Any]) -> str:
    fresh = current(cache, unguided_rows() + guided_rows())
    unguided = [r for r in fresh.values() if r["guidance"] == "none"]
    guided = [r for r in fresh.values() if r["guidance"] != "none"]
    shas = sorted({f"`{name}` {sha[:12]}" for r in [*unguided, *guided] for name, sha in r["weights"].items()})
    paper = "\n".join(["| paper (approx.) | gamma | novel | mean rings |", "|---|---:|---:|---:|"]
                      + [f"| {what} | {g} | {n} | {m:.2f} |" for what, g, n, m in PAPER])
    return "\n".join([
        "# QM9 sample quality of the shipped models",
        "",
        f"Generated by `python scripts/report_qm9.py` from the models in `models/` and the classifiers in `guidance/`:",
        f"{_common(cache, 'n')} molecules per row, seed {_common(cache, 'seed')}, batch = all molecules (one sampler run). "
        "Validity counts RDKit-parsable, non-empty molecules; uniqueness and novelty are computed on canonical SMILES, "
        "novelty against all 133,798 QM9 molecules. FCD (Fréchet ChemNet distance, lower is better) compares the valid "
        "molecules with the 6,690 molecules of the QM9 test split. `evals/mol` counts denoiser evaluations per molecule "
        "(the `mdlm` sampler skips steps that change no token); `s` is the row's wall time, scoring included, "
        "on a 2-core CPU that was shared by up to four report and training processes (one thread each): "
        "a rough guide only; `benchmarks/` measures speed properly.",
        "",
        "The models are small networks trained briefly on CPU (see each model card), not the papers' 92M-parameter "
        "networks trained on 4 GPUs; read the absolute numbers with that in mind. Rows are cached by the weights "
        "they used, not by moldiff's version: the AR model's rows predate the `<bos>` constraint of the "
        "denoisers (README, D-CFG), which barely changes them (D-CFG gamma 4, 256 molecules: the AR model's "
        "samples identical).",
        "",
        "## Goals",
        "",
        *goals(fresh),
        "",
        "## Unguided",
        "",
        unguided_table(unguided),
        "",
        "## Ring-count guidance (target `rings`: ring count > 3), T = 128 (AR: one step per token)",
        "",
        "`cbg` is exact D-CBG (lazy: the classifier scores substitutions only where a token is unmasked, with a "
        "rejection draw; `benchmarks/guidance_cost.py`), `cbg-taylor` its first-order form. FUDGE reweights the whole "
        "vocabulary. Rows without settings in brackets use the papers' sampler settings (top-p 1); `top-p 0.9` rows "
        "use the default model's recommended settings, and `temperature 0.5` rows a lower temperature on top of them. "
        "Under top-p below 1 exact D-CBG scores every candidate instead of drawing by rejection (README, D-CBG), "
        "hence the longer times of its `top-p 0.9` rows. Molecule counts are novel, unique and valid.",
        "",
        guided_table(guided),
        "",
        "## The papers' points",
        "",
        "Approximate values read off the ReMDM project page plot (ring count, T = 128; ALGORITHMS.md section 5), from "
        "92M-parameter models. Their code did not canonicalise SMILES before the uniqueness and novelty checks, which "
        "inflates their novel counts; ours count novelty after canonicalisation.",
        "",
        paper,
        "",
        "Weights (sha256 prefixes): " + ", ".join(shas) + ".",
        "",
    ])


def card_quality(model: str, cache: dict[str, Any]) -> str:
    """The sample-quality section of one model's card."""
    rows = [r for r in current(cache, unguided_rows() + guided_rows()).values() if r["model"] == model]
    unguided = [r for r in rows if r["guidance"] == "none"]
    guided = [r for r in rows if r["guidance"] != "none"]
    parts = ["## Sample quality", "", f"{_common(cache, 'n')} molecules per row, seed {_common(cache, 'seed')}, from `reports/qm9.md` "
             "(regenerate with `python scripts/report_qm9.py`).", ""]
    if unguided:
        parts += [unguided_table(unguided), ""]
    if guided:
        parts += ["Ring-count guidance:", "", guided_table(guided), ""]
    return "\n".join(parts)


def write_cards(cache: dict[str, Any]) -> None:
    """Rewrite the card of every shipped model (with its rows of the report) and classifier."""
    for model, summary in SUMMARIES.items():
        if (ROOT / "models" / model / "config.json").exists():
            write_card(ROOT / "models" / model, model, f"{summary} {TRAINED_ON}", card_quality(model, cache))
    for target in ("rings", "qed"):
        for process in ("mask", "uniform", "prefix", "mask-selfies", "prefix-selfies"):
            name = f"{target}/{process}"
            if (ROOT / "guidance" / name / "config.json").exists():
                write_card(ROOT / "guidance" / name, name, f"Guidance classifier for the `{target}` target. {TRAINED_ON}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="unguided,guided", help="unguided, guided or both")
    parser.add_argument("--num-samples", type=int, default=1024)
    parser.add_argument("--models", default=None, help="only rows of these models (comma-separated)")
    parser.add_argument("--guidance", default=None, help="only rows with these guidance methods (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="rows computed in parallel processes")
    parser.add_argument("--render-only", action="store_true", help="rewrite the report and cards from the cache")
    args = parser.parse_args()
    rows = [r for part in args.rows.split(",") for r in {"unguided": unguided_rows, "guided": guided_rows}[part]()]
    rows = [r for r in rows if (not args.models or r.model in args.models.split(","))
            and (not args.guidance or r.guidance in args.guidance.split(","))]
    cache = _read_cache() if args.render_only else compute(rows, args.num_samples, args.seed, args.jobs)
    with atomic_write(REPORT) as handle:
        handle.write(render(cache))
    write_cards(cache)
    print(f"report -> {REPORT}")


if __name__ == "__main__":
    main()
