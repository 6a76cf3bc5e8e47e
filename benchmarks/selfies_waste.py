"""Where D-CFG on a SELFIES model writes tokens the SELFIES decoder ignores, and which ones (issue 27).

For each gamma and top-p mode (``--nucleus``), samples ``--num-samples`` molecules from the default
model toward ``rings`` at its recommended settings and splits each raw SELFIES string into

- the *effective prefix*: the shortest prefix that decodes to the same molecule as the whole string;
- the *ignored tail*: the tokens after it, which change nothing (the derivation had ended, or they
  were consumed without effect);

and compares the prefix with the molecule's own canonical SELFIES (``excess`` = prefix tokens minus
canonical tokens: ring and branch tokens collapsed inside the molecule). Prints per gamma: validity,
raw / prefix / canonical tokens per molecule, heavy atoms, rings, and the commonest ignored tokens.
Usage::

    python benchmarks/selfies_waste.py [--num-samples 256] [--gamma 1,2,3,4,5] [--nucleus model,guided]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import selfies as sf
from rdkit import Chem, RDLogger

from moldiff.core.assets import DEFAULT_MODEL
from moldiff.pipeline.model import load


def effective_prefix(tokens: list[str]) -> int:
    """Length of the shortest prefix of ``tokens`` that decodes to the same SMILES as all of them."""
    whole = sf.decoder("".join(tokens))
    for n in range(len(tokens) + 1):
        if sf.decoder("".join(tokens[:n])) == whole:
            return n
    return len(tokens)


def kind(token: str) -> str:
    return "ring" if "Ring" in token else "branch" if "Branch" in token else "atom"


def main() -> None:
    RDLogger.DisableLog("rdApp.*")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--gamma", default="1,2,3,4,5")
    parser.add_argument("--nucleus", default="model,guided")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    model = load(DEFAULT_MODEL)
    print(f"{DEFAULT_MODEL}, recommended settings, D-CFG toward rings, {args.num_samples} molecules, seed {args.seed}")
    print(f"{'nucleus':8s} {'gamma':>5s} {'valid':>6s} {'raw':>5s} {'prefix':>6s} {'canon':>5s} {'tail':>5s} "
          f"{'atoms':>5s} {'rings':>5s}  ignored tail tokens (share ring / branch / atom; commonest)")
    for mode in args.nucleus.split(","):
        for gamma in (float(g) for g in args.gamma.split(",")):
            result = model.sample(args.num_samples, guidance="cfg", gamma=gamma, target="rings", seed=args.seed,
                                  nucleus=mode, progress=False)
            table = result.to_dataframe()
            raw, prefix, canon, atoms, rings, tail = [], [], [], [], [], Counter()
            for text, smiles in zip(table["raw"], table["smiles"]):
                if not isinstance(smiles, str) or not smiles:
                    continue
                tokens = list(sf.split_selfies(text))
                n = effective_prefix(tokens)
                mol = Chem.MolFromSmiles(smiles)
                raw.append(len(tokens))
                prefix.append(n)
                canon.append(sf.len_selfies(sf.encoder(smiles)))
                atoms.append(mol.GetNumHeavyAtoms())
                rings.append(mol.GetRingInfo().NumRings())
                tail.update(tokens[n:])
            kinds = Counter()
            for token, count in tail.items():
                kinds[kind(token)] += count
            total = max(1, sum(kinds.values()))
            common = ", ".join(f"{t} {c}" for t, c in tail.most_common(3))
            print(f"{mode:8s} {gamma:5g} {len(raw) / len(table):6.3f} {np.mean(raw):5.1f} {np.mean(prefix):6.1f} {np.mean(canon):5.1f} "
                  f"{np.mean(raw) - np.mean(prefix):5.1f} {np.mean(atoms):5.1f} {np.mean(rings):5.2f}  "
                  f"{kinds['ring'] / total:.2f} / {kinds['branch'] / total:.2f} / {kinds['atom'] / total:.2f}; {common}", flush=True)


if __name__ == "__main__":
    main()
