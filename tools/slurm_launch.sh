#!/usr/bin/env bash
# srun launcher behind tools/slurm_train.sh and slurm_test.sh (one task per GPU):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_launch.sh NAME SCRIPT PARTITION JOB_NAME [SCRIPT args...]
# NAME is the calling script's name (for messages), SCRIPT the tool in tools/ to run with
# the given arguments (the callers put `--launcher slurm` among them). The variables are
# described in tools/slurm_train.sh.
set -uo pipefail
NAME=$1
SCRIPT=$2
PARTITION=$3
JOB_NAME=$4
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
    "$PYTHON" -u "$HERE/$SCRIPT" "${@:5}"
rc=$?
if [[ $rc -ne 0 ]]; then
    echo "$NAME: FAILED (srun exit code $rc): a task failed or was killed and" \
         "srun (--kill-on-bad-exit) stopped the others; see the first traceback above." >&2
fi
exit $rc
