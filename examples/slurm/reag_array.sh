#!/bin/bash
# One Slurm array task per shard; merge when all are done:
#   sbatch --array=0-7 examples/slurm/reag_array.sh
#   reag-eval merge runs/infoseek__reag-7b__*__shard*of8 --output-dir runs/infoseek-reag-7b
#SBATCH --job-name=reag-eval
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
set -euo pipefail
N=${SLURM_ARRAY_TASK_COUNT:-8}
reag-eval --task infoseek --generator reag-7b \
    --task-args config=infoseek.yaml \
    --shard "${SLURM_ARRAY_TASK_ID}/${N}" --batch-size auto --no-leaderboard
