#!/usr/bin/env bash
# Testing on a Slurm cluster (one task per GPU):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Variables as for tools/slurm_train.sh (GRES= on nodes without GPUs: gloo CPU processes).
# The srun call is in tools/slurm_launch.sh.
if [[ $# -lt 4 ]]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2
    exit 2
fi
exec "$(dirname "$0")/slurm_launch.sh" slurm_test.sh test.py "$1" "$2" "$3" "$4" \
    --launcher slurm "${@:5}"
