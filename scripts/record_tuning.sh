#!/usr/bin/env bash
# Records the tuning sweep of "What makes it work?": every block of qpconv.replication.controls.TUNED_MODELS at
# each learning rate of TUNING_LRS (0.001, 0.003, 0.01), seed 0, trained on 45,000 CIFAR-10 training images and
# scored on the 5,000 held out from the training set (preset tune; the test set is never looked at). Then, for a
# block whose selected rate is not the paper's 0.01, its full runs (seeds 0 1 2) at that rate: pass them as
# BLOCK=LR arguments once the validation runs are in, e.g. scripts/record_tuning.sh linear=0.003.
# Start it once per core (the run locks share the list); interrupting is safe, rerunning resumes.
#   usage: scripts/record_tuning.sh [BLOCK=LR ...]
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} CI=${CI:-1}

models="linear classical normalised-quadratic quantum-L3"   # cheap first
for lr in 0.003 0.001 0.01; do
    for model in $models; do
        echo "== $(date '+%F %T') tune $model lr $lr"
        .venv/bin/qpconv run controls --preset tune --lr "$lr" --models "$model" --seeds 0 --device cpu || true
    done
done
for selected in "$@"; do
    model=${selected%%=*} lr=${selected#*=}
    echo "== $(date '+%F %T') full $model at the selected lr $lr"
    .venv/bin/qpconv run controls --preset full --lr "$lr" --models "$model" --seeds 0 1 2 --device cpu || true
done
echo "== $(date '+%F %T') done"
