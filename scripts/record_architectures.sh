#!/usr/bin/env bash
# Records the full-preset runs of "Beyond the paper's CNN" (experiment architectures: MobileNetV2 and a bottleneck
# ResNet, each classical and quantum-swapped) on a CPU, one run per call of `qpconv run`, every model's seed 0
# before anyone's seed 1, cheaper models first (about 1 to 2 hours per run on one core). Start it once per core:
# the runs' locks make two workers share the list. Interrupting it is safe: running it again resumes every run
# from its last finished epoch. A run that diverges is recorded as such and skipped.
#   usage: scripts/record_architectures.sh [SEED...]      (default: 0 1 2; one torch thread per worker)
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} CI=${CI:-1}

.venv/bin/qpconv run architectures --preset full --dry-run | tail -n 1 | sed "s/^/architectures: /"   # what is left

for seed in ${@:-0 1 2}; do
    for model in resnet-classical mobilenetv2-classical resnet-quantum-L3 mobilenetv2-quantum-L3; do
        echo "== $(date '+%F %T') architectures $model seed $seed"
        .venv/bin/qpconv run architectures --preset full --models "$model" --seeds "$seed" --device cpu || true
    done
done
echo "== $(date '+%F %T') done"
