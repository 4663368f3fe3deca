#!/usr/bin/env bash
# Distributed testing on one or many machines with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes on this machine (one per GPU; on a machine without GPUs,
# that many CPU processes on the gloo backend). Several machines: NNODES, NODE_RANK,
# MASTER_ADDR and PORT as for tools/dist_train.sh.
set -uo pipefail
if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_test.sh: GPUS is '$GPUS'; it must be the number of processes to start on this" \
         "machine, 1 or more (e.g. dist_test.sh CONFIG CHECKPOINT 2)" >&2
    exit 2
fi
# A port already in use on the rank-0 machine makes torchrun fail in a way that reads like
# a worker crash; say what it is instead.
if [[ "$NODE_RANK" == 0 ]] && (exec 3<>"/dev/tcp/$MASTER_ADDR/$PORT") 2>/dev/null; then
    echo "dist_test.sh: port $PORT on $MASTER_ADDR is already in use (another run?); pick a free" \
         "one: PORT=$((PORT + 1)) dist_test.sh ..." >&2
    exit 2
fi
PYTHON="$HERE/../.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$HERE/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
rc=$?
if [[ $rc -ne 0 ]]; then
    echo "dist_test.sh: FAILED (torchrun exit code $rc): a worker process failed or was" \
         "killed, and torchrun stopped the others. The first error is in the traceback" \
         "above (see 'Root Cause')." >&2
fi
exit $rc
