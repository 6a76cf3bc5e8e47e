#!/usr/bin/env bash
# Worked example (docs/own-goals.md): from a CSV of a property that RDKit does not compute (the MMFF94
# dipole moment of examples/qm9_dipole.csv) to guided, novel, ranked candidates in an SD file.
#
#   examples/own_property.sh [WORKDIR]      # default ./own-property; 15-45 min on one CPU core
#
# Everything it writes (oracles/dipole, guidance/dipole_high, the classifier run, samples) goes under
# WORKDIR, which becomes an asset root for the commands run there (names resolve in the current directory).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DATA="$HERE/qm9_dipole.csv"
WORK=${1:-own-property}
N=${N:-256}
SEED=${SEED:-0}
STEPS=${STEPS:-2000}
mkdir -p "$WORK"
cd "$WORK"

# 1. a fitted oracle of the column: held-out R² and Spearman, 5-fold CV, applicability domain
moldiff oracle fit dipole --data "$DATA" --column dipole_debye
# 2. a target: the fitted dipole above the 90th percentile of the data's molecules
moldiff target create dipole_high --oracle dipole --data "$DATA" --percentile 90
# 3. a D-CBG classifier on noisy QM9 molecules labelled by the fitted oracle, from the shipped trunk
moldiff train-classifier --target dipole_high --process mask --representation selfies --preset compact \
    --trunk-from qm9-selfies-mdlm --max-steps "$STEPS" --lr 0.0005 --warmup-steps 100 \
    --val-every 1000 --checkpoint-every 1000 --seed 0 --out classifier
# 4. unguided and guided molecules, same seed and number
moldiff sample -n "$N" --seed "$SEED" --target dipole_high --out unguided.csv
moldiff sample -n "$N" --seed "$SEED" --guidance cbg --gamma 2 --target dipole_high --classifier classifier \
    --out guided.csv
moldiff evaluate unguided.csv --oracles dipole --targets dipole_high --out unguided.json
moldiff evaluate guided.csv --oracles dipole --targets dipole_high --out guided.json
# 5. filter (valid, unique, novel, in the oracle's domain), rank by the fitted dipole, write SDF
moldiff score guided.csv --oracles dipole,qed,sa --out guided_scored.csv
python - <<'EOF'
import pandas as pd
from moldiff.chemistry.molfiles import write_table

table = pd.read_csv("guided_scored.csv")
kept = table[table["valid"] & table["novel"] & (table["dipole_domain"] >= 0.3)].drop_duplicates("smiles")
ranked = kept.sort_values("dipole", ascending=False)[["smiles", "dipole", "dipole_domain", "qed", "sa"]]
print(f"{len(ranked)} valid, unique, novel in-domain candidates; top 5:\n{ranked.head().to_string(index=False)}")
write_table(ranked.reset_index(drop=True), "candidates.sdf")
EOF
