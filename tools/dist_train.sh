#!/usr/bin/env bash
# Distributed training on one or many machines with torchrun:
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# GPUS is the number of processes on this machine (one per GPU; on a machine without GPUs,
# that many CPU processes, which tools/train.py runs on the gloo backend).
# Several machines: NNODES, NODE_RANK, MASTER_ADDR and PORT (see tools/dist_launch.sh).
if [[ $# -lt 2 ]]; then
    echo "usage: $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
exec "$(dirname "$0")/dist_launch.sh" dist_train.sh train.py "$2" "$1" "${@:3}"
