#!/usr/bin/env bash
# Records the full-preset runs of "What makes it work?" (experiments controls and controls_fmnist) on a
# CPU, one run per call of `qpconv run`, cheap blocks first and every block's first three seeds before
# anyone's fourth. Start it once per core: the runs' locks make two workers share the list (a run that
# the other worker is training is skipped, not trained twice). Interrupting it is safe: running it again
# resumes every run from its last finished epoch. A run that diverges is recorded as such and skipped.
#   usage: scripts/record_controls.sh            (one torch thread per worker)
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} CI=${CI:-1}

.venv/bin/qpconv run controls --preset full --dry-run | tail -n 1 | sed "s/^/controls: /"   # what is left
.venv/bin/qpconv run controls_fmnist --preset full --dry-run | tail -n 1 | sed "s/^/controls_fmnist: /"   # what is left

cheap="none linear classical-nobn classical-matched normalised-linear normalised-quadratic"
costly="frozen-L3 product-L3 unitary-relaxation"
runs=()
for seed in 0 1 2; do for model in $cheap; do runs+=("controls $model $seed"); done; done
for seed in 3 4; do for model in classical linear normalised-quadratic; do runs+=("controls $model $seed"); done; done
for seed in 0 1 2; do for model in linear normalised-quadratic frozen-L3; do runs+=("controls_fmnist $model $seed"); done; done
for seed in 0 1 2; do for model in $costly; do runs+=("controls $model $seed"); done; done
for seed in 3 4; do runs+=("controls quantum-L3 $seed"); done

for run in "${runs[@]}"; do
    read -r experiment model seed <<< "$run"
    echo "== $(date '+%F %T') $experiment $model seed $seed"
    .venv/bin/qpconv run "$experiment" --preset full --models "$model" --seeds "$seed" --device cpu || true
done
echo "== $(date '+%F %T') done"
