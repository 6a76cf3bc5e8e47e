#!/usr/bin/env bash
# Training recipes for the default model (SELFIES MDLM, targets rings,qed) compared at equal wall time.
#
#   scripts/compare_recipes.sh [NAME ...]    # default: every recipe below, one after another
#
# Each recipe trains from scratch into $RUNS/recipe-NAME for about $MINUTES minutes of training on one
# core: its step count is its measured throughput (steps/s on one core of the 2-core CPU, batch time
# only) times the budget, so every cosine schedule ends at the same wall time. Every validation also
# samples $SAMPLES molecules unguided (ReMDM, T = 128) and logs their validity and novelty. Then
# scripts/learning_curves.py writes reports/recipes.{csv,png}. Run it on a quiet core, e.g.
#   OMP_NUM_THREADS=1 taskset -c 1 nice scripts/compare_recipes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-runs}
MINUTES=${MINUTES:-12}
SAMPLES=${SAMPLES:-128}
MOLDIFF=${MOLDIFF:-moldiff}
PYTHON=${PYTHON:-python}                  # with pandas and matplotlib (the .venv)
COMMON=(--kind mdlm --representation selfies --targets rings,qed --warmup-steps 200 --seed 0
        --val-samples "$SAMPLES" --checkpoint-every 250)

# name: measured steps/s (one core, the other core busy with one other training), then the recipe's options
declare -A RATE=([compact-lr2e-3]=5.0 [compact-lr1e-3]=5.0 [medium-lr2e-3]=2.39 [compact-batch256]=2.69 [compact-randomized2]=5.0)
declare -A RECIPE=(
    [compact-lr2e-3]="--preset compact --lr 2e-3 --batch-size 128"
    [compact-lr1e-3]="--preset compact --lr 1e-3 --batch-size 128"
    [medium-lr2e-3]="--preset medium --lr 2e-3 --batch-size 128"
    [compact-batch256]="--preset compact --lr 2e-3 --batch-size 256"
    [compact-randomized2]="--preset compact --lr 2e-3 --batch-size 128 --randomized-smiles 2"
)
ORDER=(compact-lr2e-3 compact-lr1e-3 medium-lr2e-3 compact-batch256 compact-randomized2)

for name in "${@:-${ORDER[@]}}"; do
    [[ -v RECIPE[$name] ]] || { echo "unknown recipe '$name': choose from ${ORDER[*]}" >&2; exit 2; }
    steps=$(python3 -c "print(round(${RATE[$name]} * 60 * $MINUTES))")
    read -r -a options <<<"${RECIPE[$name]}"
    out=$RUNS/recipe-$name
    resume=()
    [[ -f $out/checkpoints/last.ckpt ]] && resume=(--resume)
    [[ -f $out/config.json ]] || "$MOLDIFF" train "${COMMON[@]}" "${options[@]}" --max-steps "$steps" \
        --val-every $((steps / 6)) --out "$out" "${resume[@]}"
done
runs=()
for name in "${ORDER[@]}"; do [[ -d $RUNS/recipe-$name ]] && runs+=("$RUNS/recipe-$name"); done
"$PYTHON" scripts/learning_curves.py "${runs[@]}" --out reports/recipes.csv --plot reports/recipes.png
