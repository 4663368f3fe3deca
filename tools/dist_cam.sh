#!/usr/bin/env bash
# Class activation maps with several processes (torchrun), as tools/dist_test.sh:
#   tools/dist_cam.sh CONFIG CHECKPOINT PROCS --out-dir DIR [cam.py args...]
# PROCS processes on this machine (one per GPU; without GPUs, CPU processes on gloo).
# NNODES, NODE_RANK, MASTER_ADDR and PORT as for tools/dist_train.sh.
set -uo pipefail
if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG CHECKPOINT PROCS --out-dir DIR [cam.py args...]" >&2
    exit 2
fi
if ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_cam.sh: PROCS is '$3'; it must be the number of processes, 1 or more" >&2
    exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="$HERE/../.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$3" \
    --master_port="${PORT:-29500}" \
    "$HERE/cam.py" "$1" "$2" --launcher pytorch "${@:4}"
rc=$?
if [[ $rc -ne 0 ]]; then
    echo "dist_cam.sh: FAILED (torchrun exit code $rc): a worker process failed; the first" \
         "error is in the traceback above (see 'Root Cause')." >&2
fi
exit $rc
