#!/usr/bin/env bash
# Records the full-preset runs behind Figs. 4-8 on a CPU, one seed at a time, so
# that every model has one seed before any model has three. Interrupting it is safe:
# running it again resumes each run from its last finished epoch.
#   usage: scripts/record_full_runs.sh [SEED...]      (default: 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
for seed in ${@:-0 1 2}; do
    for experiment in fig4_5 fig6_7 fig8; do
        .venv/bin/qpconv run "$experiment" --preset full --seeds $seed --device cpu
    done
done
