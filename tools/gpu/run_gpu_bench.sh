#!/usr/bin/env bash
# GPU benchmark of WiderResNet-38 A1-D8 vs torchvision's deeplabv3_resnet101, in one go.
#
#   bash tools/gpu/run_gpu_bench.sh --fetch      # with network: fetch the pure-Python
#                                                # wheels into tools/gpu/wheels (~1.6 MB)
#   bash tools/gpu/run_gpu_bench.sh [ARGS...]    # on the GPU machine (torch + torchvision;
#                                                # no network needed): installs the wheels
#                                                # to a temp dir if mmengine/mmcv are
#                                                # missing, runs tools/gpu/bench_gpu.py ARGS
#                                                # (default: 512x1024, batch 2, bf16)
#
# Why wheels: the package's backbone and report writer import mmengine, mmcv.cnn and
# tabulate; mmcv-lite 2.1.0 (a py2.py3 pure-Python wheel) is enough for mmcv.cnn, mmengine
# 0.10.7 is pure Python, and the rest of their run-time needs that a plain torch image
# lacks are addict, termcolor, yapf (+ platformdirs). numpy, pyyaml, rich, opencv, matplotlib,
# packaging and pillow are expected there. tools/gpu/wheels/ is git-ignored: copy it with
# the repo.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WHEELS="$HERE/wheels"
PY="${PYTHON:-python3}"
PINS=(mmengine==0.10.7 mmcv-lite==2.1.0 addict==2.4.0 termcolor==3.3.0 yapf==0.43.0
      platformdirs==4.14.8 tabulate==0.10.0)

if [[ "${1:-}" == "--fetch" ]]; then
    mkdir -p "$WHEELS"
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform any -d "$WHEELS" "${PINS[@]}"
    ls -la "$WHEELS"
    exit 0
fi

if ! "$PY" -c "import mmengine, mmcv.cnn, tabulate" 2>/dev/null; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || {
        echo "run_gpu_bench: no mmengine/mmcv here and no wheels in $WHEELS;" \
             "run 'bash tools/gpu/run_gpu_bench.sh --fetch' on a machine with network" \
             "and copy tools/gpu/wheels along with the repo" >&2; exit 1; }
    SITE="$(mktemp -d)"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
cd "$ROOT"
exec "$PY" tools/gpu/bench_gpu.py "$@"
