#!/usr/bin/env bash
# Training on a Slurm cluster (one task per GPU):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args...]
# GPUS: tasks in all; GPUS_PER_NODE: tasks per node (default: min(GPUS, 8));
# GRES: the --gres request, default gpu:$GPUS_PER_NODE; set GRES= (empty) on nodes without
# GPUs: every task is then a CPU process and tools/train.py uses the gloo backend.
# The srun call is in tools/slurm_launch.sh.
if [[ $# -lt 3 ]]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [train.py args...]" >&2
    exit 2
fi
exec "$(dirname "$0")/slurm_launch.sh" slurm_train.sh train.py "$1" "$2" "$3" \
    --launcher slurm "${@:4}"
