#!/usr/bin/env bash
# Reproduces the shipped QM9 models (models/) and guidance classifiers (guidance/).
#
#   scripts/train_qm9.sh [NAME ...]     # default: everything, in the order below
#
# A NAME ending in -K (K = 2 ... 7) is training stage K: it warm-starts (--init-from) from the exported
# model or classifier of the stages before it and continues it with its own settings (STAGES below).
# rings-mask-selfies-trunk is the shipped SELFIES rings classifier, a run of its own (OWN below).
#
# Each run trains into $RUNS/NAME (checkpoints every 250 steps; an interrupted run resumes where it
# stopped when the script is run again; a finished one is not trained again) and is then exported in half precision into models/NAME or
# guidance/TARGET/PROCESS. The shipped files were trained on CPU (2 cores) with the defaults below;
# on a GPU raise the size, e.g. PRESET=small STEPS=25000 scripts/train_qm9.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-runs}
PRESET=${PRESET:-compact}                 # denoisers and AR model
STEPS=${STEPS:-6000}
CLASSIFIER_PRESET=${CLASSIFIER_PRESET:-tiny}
CLASSIFIER_STEPS=${CLASSIFIER_STEPS:-2000}
# The default model is the SELFIES MDLM: its D-CBG classifiers are larger and trained longer.
SELFIES_CLASSIFIER=(--preset compact --max-steps 4000)
MOLDIFF=${MOLDIFF:-moldiff}
COMMON=(--lr 2e-3 --batch-size 128 --checkpoint-every 250 --val-every 500 --seed 0)
# Rounds of D-CBG samples of the default model that later stages of its rings classifier also train on
# (--sampled): the sequences guidance pushes it to misjudge, labelled by the oracle (guidance/README.md).
# Round K is drawn with seed K (the report samples seed 0) into cbg_samples K.
CBG_GAMMAS=(1 3 5)
cbg_samples() { [[ $1 == 1 ]] && echo "$RUNS/cbg-samples" || echo "$RUNS/cbg-samples-$1"; }
sampled() {  # sampled ROUND...: the --sampled options of those rounds
    local round gamma
    for round in "$@"; do for gamma in "${CBG_GAMMAS[@]}"; do echo -n " --sampled $(cbg_samples "$round")/g$gamma.csv"; done; done
}
# Later stages, by run name: more steps from the exported weights of the stages before (--init-from).
declare -A STAGES=(
    [qm9-smiles-mdlm-2]="--max-steps 15000 --lr 2e-3 --warmup-steps 200 --seed 1 --val-samples 128"
    [qm9-smiles-udlm-2]="--max-steps 15000 --lr 2e-3 --warmup-steps 200 --seed 1 --val-samples 128"
    [qm9-smiles-mdlm-3]="--max-steps 10000 --lr 1e-3 --warmup-steps 200 --seed 2 --val-samples 128"
    [qm9-smiles-udlm-3]="--max-steps 10000 --lr 1e-3 --warmup-steps 200 --seed 2 --val-samples 128"
    [qm9-selfies-udlm-2]="--max-steps 20000 --lr 1e-3 --warmup-steps 200 --seed 1"
    [qm9-selfies-mdlm-2]="--max-steps 3600 --lr 1e-3 --warmup-steps 200 --seed 1"
    [qm9-selfies-mdlm-3]="--max-steps 24000 --lr 1e-3 --warmup-steps 200 --seed 2"
    [qm9-selfies-mdlm-4]="--max-steps 16000 --lr 1e-3 --warmup-steps 200 --seed 3"
    [qm9-selfies-mdlm-5]="--max-steps 6000 --lr 5e-4 --warmup-steps 200 --seed 5"
    [qm9-selfies-mdlm-6]="--max-steps 28000 --lr 1e-3 --warmup-steps 200 --seed 6"
    # the shipped stage 7 started with --max-steps 40000 and was cut to 30000 at step 13,435 (session time)
    [qm9-selfies-mdlm-7]="--max-steps 30000 --lr 1e-3 --warmup-steps 200 --seed 7"
    # the SELFIES rings classifier (D-CBG with the default model), continued like the denoiser
    [rings-mask-selfies-2]="--preset compact --max-steps 10000 --lr 1e-3 --warmup-steps 200 --seed 1"
    [rings-mask-selfies-3]="--preset compact --max-steps 6000 --lr 1e-3 --warmup-steps 200 --seed 2 --sampled-repeat 4$(sampled 1)"
)
# The shipped SELFIES rings classifier is a new run, not a stage: it starts from the default model's trunk
# (--trunk-from) and trains on QM9, both rounds of D-CBG samples and perturbed copies of the data.
# Rounds 1 and 2 were drawn with the classifier's second and third stages, which it replaced.
declare -A OWN=(
    # the SELFIES UDLM's classifiers (issue 31), started from its trunk; no sample rounds yet
    [rings-uniform-selfies-trunk]="--preset compact --max-steps 6000 --lr 5e-4 --warmup-steps 200 --seed 4 --val-every 1000 --trunk-from qm9-selfies-udlm --perturbed 1"
    [qed-uniform-selfies-trunk]="--preset compact --max-steps 6000 --lr 5e-4 --warmup-steps 200 --seed 4 --val-every 1000 --trunk-from qm9-selfies-udlm --perturbed 1"
    [rings-mask-selfies-trunk]="--preset compact --max-steps 8000 --lr 5e-4 --warmup-steps 200 --seed 4 --val-every 1000 --trunk-from qm9-selfies-mdlm --sampled-repeat 4$(sampled 1 2) --perturbed 1"
)
# the rounds of samples a run trains on, drawn first if missing
declare -A ROUNDS=([rings-mask-selfies-3]="1" [rings-mask-selfies-trunk]="1 2")

run() {  # run NAME DEST COMMAND moldiff-arguments...: train (or resume) into $RUNS/NAME, export to DEST
    local name=$1 dest=$2 command=$3
    shift 3
    local resume=()
    [[ -f $RUNS/$name/checkpoints/last.ckpt ]] && resume=(--resume)
    # later options win, so a job's own settings override COMMON
    [[ -f $RUNS/$name/config.json ]] || "$MOLDIFF" "$command" "${COMMON[@]}" "$@" --out "$RUNS/$name" "${resume[@]}"
    local recommend=()  # the masked models' measured recommendation (README: recommended settings)
    [[ $dest == models/*-mdlm ]] && recommend=(--recommend sampler=remdm-loop,steps=128,top_p=0.9)
    "$MOLDIFF" export-model "$RUNS/$name" "$dest" --dtype float16 --force "${recommend[@]}"  # replaces the shipped model
}

guided_samples() {  # guided_samples ROUND: that round's --sampled files, 1,024 molecules per gamma
    local dir
    dir=$(cbg_samples "$1")
    mkdir -p "$dir"
    for gamma in "${CBG_GAMMAS[@]}"; do  # drawn with the default model and rings classifier shipped at the time
        [[ -f $dir/g$gamma.csv ]] || "$MOLDIFF" sample --model qm9-selfies-mdlm --guidance cbg --gamma "$gamma" \
            --target rings -n 1024 --seed "$1" --top-p 1 --sampler remdm-loop --steps 128 --out "$dir/g$gamma.csv"
    done
}

declare -A JOBS=(
    [qm9-smiles-mdlm]="models/qm9-smiles-mdlm train --kind mdlm --representation smiles"
    [qm9-smiles-udlm]="models/qm9-smiles-udlm train --kind udlm --representation smiles"
    [qm9-smiles-ar]="models/qm9-smiles-ar train --kind ar --representation smiles"
    [qm9-selfies-mdlm]="models/qm9-selfies-mdlm train --kind mdlm --representation selfies"
    [qm9-selfies-udlm]="models/qm9-selfies-udlm train --kind udlm --representation selfies"
    [qm9-selfies-ar]="models/qm9-selfies-ar train --kind ar --representation selfies"
)
ORDER=(qm9-smiles-mdlm qm9-smiles-mdlm-2 qm9-smiles-mdlm-3 qm9-smiles-udlm qm9-smiles-udlm-2 qm9-smiles-udlm-3 qm9-smiles-ar qm9-selfies-mdlm qm9-selfies-mdlm-2
       qm9-selfies-mdlm-3 qm9-selfies-mdlm-4 qm9-selfies-mdlm-5 qm9-selfies-mdlm-6 qm9-selfies-mdlm-7
       qm9-selfies-udlm qm9-selfies-udlm-2 qm9-selfies-ar)
for target in rings qed; do
    for process in mask uniform prefix; do
        JOBS[$target-$process]="guidance/$target/$process train-classifier --target $target --process $process"
        ORDER+=("$target-$process")
    done
    for process in mask prefix; do  # prefix-selfies: FUDGE with the SELFIES AR model (issue 31)
        JOBS[$target-$process-selfies]="guidance/$target/$process-selfies train-classifier --target $target --process $process --representation selfies"
        ORDER+=("$target-$process-selfies")
    done
done
ORDER+=(rings-mask-selfies-2 rings-mask-selfies-3 rings-mask-selfies-trunk rings-uniform-selfies-trunk qed-uniform-selfies-trunk)
for name in "${!STAGES[@]}"; do  # a stage trains its base run's job, warm-started from where that job exports
    base=${JOBS[${name%-*}]}
    JOBS[$name]="$base --init-from ${base%% *}"
done
JOBS[rings-mask-selfies-trunk]=${JOBS[rings-mask-selfies]}
for target in rings qed; do
    JOBS[$target-uniform-selfies-trunk]="guidance/$target/uniform-selfies train-classifier --target $target --process uniform --representation selfies"
done

for name in "${@:-${ORDER[@]}}"; do
    [[ -v JOBS[$name] ]] || { echo "unknown run '$name': choose from ${ORDER[*]}" >&2; exit 2; }
    read -r -a job <<<"${JOBS[$name]}"
    for round in ${ROUNDS[$name]:-}; do guided_samples "$round"; done
    if [[ -v OWN[$name] ]]; then
        read -r -a own <<<"${OWN[$name]}"
        run "$name" "${job[@]}" "${own[@]}"
    elif [[ -v STAGES[$name] ]]; then
        read -r -a stage <<<"${STAGES[$name]}"
        [[ ${job[1]} == train ]] && stage=(--targets rings,qed --preset "$PRESET" "${stage[@]}")
        run "$name" "${job[@]}" "${stage[@]}"
    elif [[ ${job[1]} == train ]]; then
        run "$name" "${job[@]}" --targets rings,qed --preset "$PRESET" --max-steps "$STEPS"
    else
        extra=()
        [[ $name == *-selfies ]] && extra=("${SELFIES_CLASSIFIER[@]}")
        run "$name" "${job[@]}" --preset "$CLASSIFIER_PRESET" --max-steps "$CLASSIFIER_STEPS" "${extra[@]}"
    fi
done
