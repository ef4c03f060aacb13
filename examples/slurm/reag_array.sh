#!/bin/bash
# One Slurm array task per shard; merge when all are done:
#   sbatch --array=0-7 examples/slurm/reag_array.sh
#   reag-eval merge runs/infoseek__reag-7b__*__shard*of8 --output-dir runs/infoseek-reag-7b
# REAG_SHARDS is the number of shards (default 8, as --array=0-7): it stays fixed when one task
# is resubmitted. A task killed (time limit, preemption, node failure) is resubmitted as is,
#   sbatch --array=3 examples/slurm/reag_array.sh
# and recomputes at most the model batch it lost: stage records are stored per batch under
# --cache-dir (default ~/.cache/reag_harness/stages), which every node must share.
# REAG_ARGS replaces the run's arguments; REAG_EVAL the command (tests/test_slurm.py sets both).
#SBATCH --job-name=reag-eval
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
set -euo pipefail
N=${REAG_SHARDS:-8}
REAG_EVAL=${REAG_EVAL:-reag-eval}
REAG_ARGS=${REAG_ARGS:---task infoseek --generator reag-7b --task-args config=infoseek.yaml --batch-size auto}
# shellcheck disable=SC2086  # REAG_EVAL and REAG_ARGS are word lists
$REAG_EVAL $REAG_ARGS --shard "${SLURM_ARRAY_TASK_ID}/${N}" --no-leaderboard
