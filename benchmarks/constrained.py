"""Constrained generation: scaffold decoration, two attachment points, linking, analogs.

``--set qm9`` (default) decorates QM9-sized scaffolds with the default model; ``--set drug-like``
decorates drug-like ones (a phenylpiperazine, a kinase hinge binder, an amide linker) with
``moses-selfies-mdlm``. For each scaffold (one attachment point), samples ``--num-samples`` molecules with the
model's recommended sampler and reports: validity (after the redraws of molecules that break the
scaffold or do not fit in ``max_length``) with the invalid molecules counted by reason, the share of valid
molecules that carry the scaffold correctly (re-checked here with RDKit, independently of the sampler's own
check: must be 100%), the share whose first draw already kept the scaffold and fitted, and the number of
distinct decorations (next to how many QM9 itself holds). Then:
D-CFG (toward ``rings``, or ``moses-qed``) on a decorated scaffold against unguided decoration (mean
ring count and QED), two attachment points and
fragment linking (validity, distinct decorations), and analogs (``start`` with ``remask 0.3``:
validity and median Tanimoto similarity to the start molecule). Writes a markdown table to
``--out`` (default ``reports/constrained.md``, ``reports/constrained_drug-like.md``). Usage::

    python benchmarks/constrained.py [--set qm9|drug-like] [--num-samples 256] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rdkit import Chem

from moldiff.chemistry.data import load_split
from moldiff.chemistry.molecules import canonical_smiles
from moldiff.chemistry.scaffolds import check_decorated, parse_scaffold
from moldiff.core.files import atomic_write
from moldiff.pipeline.model import load

#: Per scaffold set: the model it decorates with, one-attachment scaffolds, two-attachment ones, fragments to
#: link, analog start molecules, the target of the guided row and the scaffold it guides on.
SETS = {
    "qm9": dict(
        model="qm9-selfies-mdlm",
        scaffolds={"cyclopropyl": "*C1CC1", "oxetanyl": "*C1COC1", "tetrahydrofuranyl": "*C1CCOC1",
                   "phenyl": "*c1ccccc1", "4-pyridyl": "*c1ccncc1"},
        two_points={"cyclobutane-1,3-diyl": "*C1CC(*)C1", "1,4-phenylene": "*c1ccc(*)cc1"},
        fragments={"cyclopropyl + oxetanyl": "C1CC1*.*C1COC1"},
        analogs=("CC1=CC(O)CC1N", "OCC1=CC=CN1", "CC(C)(O)C#CC=O", "O=C1CCC2OC12"),
        guided=("oxetanyl", "rings")),
    "drug-like": dict(
        model="moses-selfies-mdlm",
        scaffolds={"4-phenylpiperazin-1-yl": "*N1CCN(c2ccccc2)CC1",
                   "2-anilinopyrimidin-4-yl (kinase hinge binder)": "*c1ccnc(Nc2ccccc2)n1",
                   "morpholin-4-yl": "*N1CCOCC1"},
        two_points={"amide linker": "*C(=O)N*", "1,4-phenylene": "*c1ccc(*)cc1"},
        fragments={"phenylpiperazine + pyridine": "c1ccc(cc1)N1CCN(CC1)*.*c1ccncc1"},
        analogs=("CC(=O)Nc1ccc(O)cc1", "O=C(Nc1ccccc1)c1ccncc1", "Cc1ccc(NC(=O)c2ccc(CN3CCNCC3)cc2)cc1"),
        guided=("4-phenylpiperazin-1-yl", "moses-qed")),
}


def qm9_decorations(text: str) -> int:
    """How many distinct decorations of a one-attachment scaffold QM9 itself holds: an upper reference for a QM9 model."""
    scaffold = parse_scaffold(text)
    found = set()
    for smiles in (s for split in ("train", "valid", "test") for s in load_split("qm9", split)):
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None and mol.HasSubstructMatch(scaffold.core) and (check := check_decorated(smiles, scaffold)).ok:
            found.add(check.decorations[0])
    return len(found)


def invalid_reasons(table) -> str:
    """Why molecules were invalid, counted by the reason's head (``breaks the scaffold``, ``no <eos> token``, ...)."""
    reasons = table.loc[~table["valid"], "invalid_reason"].astype(str).str.split(":").str[0]
    return ", ".join(f"{reason} {count}" for reason, count in reasons.value_counts().items()) or "none"


def scaffold_row(model, name: str, text: str, n: int, seed: int, fragments: bool = False, **settings) -> dict:
    start = time.perf_counter()
    key = "fragments" if fragments else "scaffold"
    result = model.sample(n, seed=seed, progress=False, **{key: text}, **settings)
    table = result.to_dataframe()
    scaffold = parse_scaffold(text, fragments=fragments)
    valid = table.loc[table["valid"]]
    kept = [check_decorated(s, scaffold).ok for s in valid["smiles"]]
    columns = ["linker"] if fragments else [c for c in table.columns if c.startswith("decoration_")]
    decorations = valid[columns].astype(str).agg(" | ".join, axis=1)
    row = {
        "constraint": f"{name} `{text}`", "n": n, "validity": table["valid"].mean(),
        "scaffold kept (of valid)": float(np.mean(kept)) if kept else float("nan"),
        "first draw passed": float((table["redraws"] == 0).mean()),
        "distinct decorations": int(decorations.nunique()),
        "mean rings (valid)": float(valid["rings"].mean()), "mean QED (valid)": float(valid["qed"].mean()),
        "invalid (why)": invalid_reasons(table), "seconds": round(time.perf_counter() - start, 1),
    }
    print(row, flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gamma", type=float, default=2.0, help="D-CFG strength of the guided row")
    parser.add_argument("--set", choices=sorted(SETS), default="qm9", help="scaffolds (and the model that decorates them)")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/constrained.md (qm9), reports/constrained_<set>.md")
    args = parser.parse_args()
    chosen = SETS[args.set]
    out = args.out or Path("reports/constrained.md" if args.set == "qm9" else f"reports/constrained_{args.set}.md")
    model = load(chosen["model"])
    n, seed = args.num_samples, args.seed
    sections = []

    rows = [scaffold_row(model, name, text, n, seed) for name, text in chosen["scaffolds"].items()]
    if args.set == "qm9":  # how many decorations QM9 itself holds: an upper reference for a QM9 model
        rows = [{**row, "distinct decorations in QM9": qm9_decorations(text)} for row, text in zip(rows, chosen["scaffolds"].values())]
    sections.append("## One attachment point\n\n" + markdown(rows))

    name, target = chosen["guided"]
    text = chosen["scaffolds"][name]
    guided = [scaffold_row(model, f"{name}, unguided", text, n, seed),
              scaffold_row(model, f"{name}, cfg gamma {args.gamma:g} toward {target}", text, n, seed,
                           guidance="cfg", target=target, gamma=args.gamma)]
    sections.append(f"## D-CFG toward {target} on a decorated scaffold\n\n" + markdown(guided))

    multi = [scaffold_row(model, name, text, n, seed) for name, text in chosen["two_points"].items()]
    multi += [scaffold_row(model, name, text, n, seed, fragments=True) for name, text in chosen["fragments"].items()]
    sections.append("## Two attachment points and linking (span length uniform in 1..6 tokens)\n\n" + markdown(multi))

    analogs = []
    for smiles in chosen["analogs"]:
        start = time.perf_counter()
        table = model.sample(n, seed=seed, progress=False, start=smiles, remask=0.3).to_dataframe()
        valid, same = table.loc[table["valid"]], canonical_smiles(smiles)
        analogs.append({"start": f"`{smiles}`", "n": n, "validity": table["valid"].mean(),
                        "median Tanimoto": float(valid["similarity"].median()),
                        "median Tanimoto, start excluded": float(valid.loc[valid["smiles"] != same, "similarity"].median()),
                        "identical to start": float((valid["smiles"] == same).mean()),
                        "distinct analogs": int(valid["smiles"].nunique()), "invalid (why)": invalid_reasons(table), "seconds": round(time.perf_counter() - start, 1)})
        print(analogs[-1], flush=True)
    sections.append("## Analogs (`--from SMILES --remask 0.3`)\n\n" + markdown(analogs))

    text = (f"# Constrained generation ({chosen['model']}, recommended sampler, seed {seed})\n\n"
            f"Generated by `python benchmarks/constrained.py --set {args.set} --num-samples {n} --seed {seed}`.\n\n"
            + "\n\n".join(sections) + "\n")
    with atomic_write(out) as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
