#!/usr/bin/env bash
# torchrun launcher behind tools/dist_train.sh, dist_test.sh and dist_cam.sh:
#   tools/dist_launch.sh NAME SCRIPT NPROC [SCRIPT args...]
# NAME is the calling script's name (for messages), SCRIPT the tool in tools/ to run,
# NPROC the processes on this machine (one per GPU; on a machine without GPUs, that many CPU
# processes on the gloo backend). Several machines: run it on each with NNODES, NODE_RANK
# (0..NNODES-1), MASTER_ADDR (the rank-0 machine) and PORT (a free port there) set.
# Defaults: 1 machine, 127.0.0.1:29500.
set -uo pipefail
NAME=$1
SCRIPT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
    echo "$NAME: GPUS is '$NPROC'; it must be the number of processes to start on this" \
         "machine, 1 or more (e.g. 2)" >&2
    exit 2
fi
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "$NAME: PORT is '$PORT'; give a port number, e.g. PORT=29500" >&2
    exit 2
fi
# A port already in use on the rank-0 machine makes torchrun fail in a way that reads like
# a worker crash; say what it is instead.
if [[ "$NODE_RANK" == 0 ]] && (exec 3<>"/dev/tcp/$MASTER_ADDR/$PORT") 2>/dev/null; then
    echo "$NAME: port $PORT on $MASTER_ADDR is already in use (another run?); pick a free" \
         "one: PORT=$((PORT + 1)) $NAME ..." >&2
    exit 2
fi
PYTHON="$HERE/../.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$HERE/$SCRIPT" --launcher pytorch "${@:4}"
rc=$?
if [[ $rc -ne 0 ]]; then
    echo "$NAME: FAILED (torchrun exit code $rc): a worker process failed or was killed," \
         "and torchrun stopped the others. The first error is in the traceback above (see" \
         "'Root Cause'); a training run's log is in its work dir." >&2
fi
exit $rc
