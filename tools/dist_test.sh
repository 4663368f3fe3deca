#!/usr/bin/env bash
# Distributed testing on one or many machines with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes on this machine (one per GPU; on a machine without GPUs,
# that many CPU processes on the gloo backend). Several machines: NNODES, NODE_RANK,
# MASTER_ADDR and PORT (see tools/dist_launch.sh).
if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2
    exit 2
fi
exec "$(dirname "$0")/dist_launch.sh" dist_test.sh test.py "$3" "$1" "$2" "${@:4}"
