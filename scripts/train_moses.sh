#!/usr/bin/env bash
# Trains the drug-like SELFIES MDLM on MOSES (issue 30) into models/moses-selfies-mdlm, in stages, and its
# D-CBG classifier into guidance/moses-qed/mask-selfies.
#
#   scripts/train_moses.sh [NAME ...]     # default: every run, in order
#
# Needs the fetched MOSES data (`make moses`). Stage 1 (moses-selfies-mdlm) trains from scratch; stage K
# (moses-selfies-mdlm-K) warm-starts (--init-from) from the exported model of the stages before it. Each
# run trains into $RUNS/NAME (checkpoints every 250 steps; run the script again to resume an interrupted
# run, and a finished one is not trained again) and is exported in half precision. Training validates on
# 10,000 molecules held out of MOSES train (MOSES has no validation split). A CPU stage trains on a seeded
# sample of $SAMPLE training molecules (a later stage takes another seed, so another sample). The targets
# moses-qed and moses-rings (guidance/) are the top deciles of MOSES Test, labels for D-CFG. The classifier
# moses-qed-mask-selfies predicts moses-qed from noisy input for D-CBG, started from the model's trunk.
# The shipped stages ran on CPU (2 cores; the medium preset, ~0.6 s a step on two threads); on a GPU,
# PRESET=small STEPS=50000 scripts/train_moses.sh trains a larger model from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-runs}
PRESET=${PRESET:-medium}
STEPS=${STEPS:-6000}                   # stage 1 on CPU: what one session could train beside other work
SAMPLE=${SAMPLE:-300000}               # molecules of MOSES train a CPU stage sees (tokenized and labelled: ~1.6M take hours)
MOLDIFF=${MOLDIFF:-moldiff}
COMMON=(--representation selfies --data moses --max-length 64 --preset "$PRESET" --batch-size 128
        --checkpoint-every 250 --val-every 500 --val-molecules 2048)
DENOISER=(train --kind mdlm --targets moses-qed,moses-rings)
declare -A STAGES=(
    [moses-selfies-mdlm]="${DENOISER[*]} --max-steps $STEPS --train-molecules $SAMPLE --lr 2e-3 --warmup-steps 200 --seed 0"
    # stage 2 (a later session): another 300k sample, a lower rate, validated every 300 steps for the learning curve;
    # the shipped stage 2 started with --max-steps 2400 and was cut to 1500 at step 770 (session time)
    [moses-selfies-mdlm-2]="${DENOISER[*]} --max-steps 1500 --train-molecules $SAMPLE --lr 1e-3 --warmup-steps 200 --seed 1 --val-every 300"
    # stage 3 (a later session): a third 300k sample, same rate, validated every 400 steps
    [moses-selfies-mdlm-3]="${DENOISER[*]} --max-steps 3600 --train-molecules $SAMPLE --lr 1e-3 --warmup-steps 200 --seed 2 --val-every 400"
    # stage 4 (a later session): a fourth 300k sample, same rate, 3,000 steps
    [moses-selfies-mdlm-4]="${DENOISER[*]} --max-steps 3000 --train-molecules $SAMPLE --lr 1e-3 --warmup-steps 200 --seed 3 --val-every 400"
    # stage 5 (a later session): a fifth 300k sample, same rate, 2,400 steps
    [moses-selfies-mdlm-5]="${DENOISER[*]} --max-steps 2400 --train-molecules $SAMPLE --lr 1e-3 --warmup-steps 200 --seed 4 --val-every 400"
    [moses-qed-mask-selfies]="train-classifier --target moses-qed --process mask --trunk-from models/moses-selfies-mdlm --max-steps 1500 --train-molecules 100000 --lr 5e-4 --warmup-steps 100 --seed 1"
)
declare -A EXPORT=([moses-selfies-mdlm]=models/moses-selfies-mdlm [moses-selfies-mdlm-2]=models/moses-selfies-mdlm
                   [moses-selfies-mdlm-3]=models/moses-selfies-mdlm [moses-selfies-mdlm-4]=models/moses-selfies-mdlm
                   [moses-selfies-mdlm-5]=models/moses-selfies-mdlm
                   [moses-qed-mask-selfies]=guidance/moses-qed/mask-selfies)
# the shipped classifier was trained from stage 2's trunk, so it runs between stages 2 and 3
ORDER=(moses-selfies-mdlm moses-selfies-mdlm-2 moses-qed-mask-selfies moses-selfies-mdlm-3 moses-selfies-mdlm-4
       moses-selfies-mdlm-5)

for name in "${@:-${ORDER[@]}}"; do
    [[ -v STAGES[$name] ]] || { echo "unknown run '$name': choose from ${!STAGES[*]}" >&2; exit 2; }
    read -r -a stage <<<"${STAGES[$name]}"
    warm=()
    [[ $name == moses-selfies-mdlm-[0-9] ]] && warm=(--init-from models/moses-selfies-mdlm)
    resume=()
    [[ -f $RUNS/$name/checkpoints/last.ckpt ]] && resume=(--resume)
    [[ -f $RUNS/$name/config.json ]] ||
        "$MOLDIFF" "${stage[0]}" "${COMMON[@]}" "${stage[@]:1}" "${warm[@]}" --out "$RUNS/$name" "${resume[@]}"
    recommend=()
    [[ ${stage[0]} == train ]] && recommend=(--recommend sampler=remdm-loop,steps=128,top_p=0.9)
    "$MOLDIFF" export-model "$RUNS/$name" "${EXPORT[$name]}" --dtype float16 --force "${recommend[@]}"
done
