#!/usr/bin/env bash
# Training on a Slurm cluster (one task per GPU):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args...]
# GPUS: tasks in all; GPUS_PER_NODE: tasks per node (default: min(GPUS, 8));
# GRES: the --gres request, default gpu:$GPUS_PER_NODE; set GRES= (empty) on nodes without
# GPUs: every task is then a CPU process and tools/train.py uses the gloo backend.
set -uo pipefail
if [[ $# -lt 3 ]]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [train.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
GRES=${GRES-gpu:$GPUS_PER_NODE}
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="$HERE/../.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

# shellcheck disable=SC2086  # SRUN_ARGS is a list of words on purpose
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$HERE/train.py" "$CONFIG" --launcher slurm "${@:4}"
rc=$?
if [[ $rc -ne 0 ]]; then
    echo "slurm_train.sh: FAILED (srun exit code $rc): a task failed or was killed and" \
         "srun (--kill-on-bad-exit) stopped the others; see the first traceback above." >&2
fi
exit $rc
