#!/usr/bin/env bash
# Trains the drug-like SELFIES MDLM on MOSES (issue 30) into models/moses-selfies-mdlm, in stages.
#
#   scripts/train_moses.sh [NAME ...]     # default: every stage, in order
#
# Needs the fetched MOSES data (`make moses`). Stage 1 (moses-selfies-mdlm) trains from scratch; stage K
# (moses-selfies-mdlm-K) warm-starts (--init-from) from the exported model of the stages before it. Each
# run trains into $RUNS/NAME (checkpoints every 250 steps; run the script again to resume an interrupted
# run, and a finished one is not trained again) and is exported in half precision to models/. Training
# validates on 10,000 molecules held out of MOSES train (MOSES has no validation split). The targets
# moses-qed and moses-rings (guidance/) are the top deciles of MOSES Test, labels for D-CFG.
# The shipped stages ran on CPU (2 cores; the medium preset, ~1 s a step on one thread); on a GPU,
# PRESET=small STEPS=50000 scripts/train_moses.sh trains a larger model from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-runs}
PRESET=${PRESET:-medium}
STEPS=${STEPS:-2000}                   # stage 1 on CPU: what one session could train beside other work
MOLDIFF=${MOLDIFF:-moldiff}
COMMON=(--kind mdlm --representation selfies --data moses --max-length 64 --targets moses-qed,moses-rings
        --preset "$PRESET" --batch-size 128 --checkpoint-every 250 --val-every 1000 --val-molecules 2048)
declare -A STAGES=(
    [moses-selfies-mdlm]="--max-steps $STEPS --lr 2e-3 --warmup-steps 200 --seed 0"
)
ORDER=(moses-selfies-mdlm)

for name in "${@:-${ORDER[@]}}"; do
    [[ -v STAGES[$name] ]] || { echo "unknown run '$name': choose from ${ORDER[*]}" >&2; exit 2; }
    read -r -a stage <<<"${STAGES[$name]}"
    warm=()
    [[ $name == *-[0-9] ]] && warm=(--init-from models/moses-selfies-mdlm)
    resume=()
    [[ -f $RUNS/$name/checkpoints/last.ckpt ]] && resume=(--resume)
    [[ -f $RUNS/$name/config.json ]] ||
        "$MOLDIFF" train "${COMMON[@]}" "${stage[@]}" "${warm[@]}" --out "$RUNS/$name" "${resume[@]}"
    "$MOLDIFF" export-model "$RUNS/$name" models/moses-selfies-mdlm --dtype float16 --force \
        --recommend sampler=remdm-loop,steps=128,top_p=0.9
done
