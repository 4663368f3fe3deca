#!/usr/bin/env bash
# Class activation maps with several processes (torchrun), as tools/dist_test.sh:
#   tools/dist_cam.sh CONFIG CHECKPOINT PROCS --out-dir DIR [cam.py args...]
# PROCS processes on this machine (one per GPU; without GPUs, CPU processes on gloo).
# NNODES, NODE_RANK, MASTER_ADDR and PORT as for tools/dist_train.sh.
if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG CHECKPOINT PROCS --out-dir DIR [cam.py args...]" >&2
    exit 2
fi
exec "$(dirname "$0")/dist_launch.sh" dist_cam.sh cam.py "$3" "$1" "$2" "${@:4}"
