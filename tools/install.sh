#!/usr/bin/env bash
# Install the pinned OpenMMLab stack and this package into .venv/ at the repo root.
#
# Idempotent: when .venv/ already holds what requirements.txt asks for (a stamp file
# records the hash of this script and requirements.txt), it returns in about a second.
#
# Why this is more than `pip install -r requirements.txt`:
#  * mmseg's models import mmcv's compiled ops, so the FULL mmcv 2.1.0 is needed. PyPI has
#    only its source archive, and it does not compile against torch 2.14 as shipped: torch
#    2.14's headers `#error` unless C++20, while mmcv 2.1.0's setup.py appends
#    '-std=c++17' after any CXXFLAGS (so the flag cannot be overridden from outside). We
#    unpack the sdist, change that one flag to '-std=c++20' (mmcv's C++ is valid C++20),
#    and build a wheel once with --no-build-isolation against the torch in .venv/. The
#    wheel is kept in ~/.cache/wider_mm/wheels so later installs on this machine take
#    seconds instead of ~10 minutes.
#  * torch/torchvision must be a pair that imports together here (2.14.1 / 0.29.1).
#  * mmcv's setup.py imports pkg_resources (gone from setuptools >= 81) and torch 2.14
#    wants setuptools >= 77: hence setuptools>=77,<81, installed before mmcv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${WIDER_MM_CACHE:-$HOME/.cache/wider_mm}"
STAMP="$VENV/.wider_mm_installed"
want="$(cat "$ROOT/tools/install.sh" "$ROOT/requirements.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$PY" -c "import wider_mm" 2>/dev/null; then
    exit 0
fi

log() { echo "[install] $*" >&2; }
[[ -x "$PY" ]] || { log "creating $VENV"; python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"; }
pip() { "$PY" -m pip --disable-pip-version-check "$@"; }

log "step 1/4: build tools and torch (first time: a few minutes, ~5.5 GB)"
pip install -q "setuptools>=77,<81" wheel ninja
pip install -q -r "$ROOT/requirements/torch.txt"

log "step 2/4: full mmcv 2.1.0 with compiled ops"
if ! "$PY" -c "import mmcv, mmcv._ext; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    mkdir -p "$CACHE/wheels"
    tv="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
    whl_dir="$CACHE/wheels/torch-$tv"
    if ! ls "$whl_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
        log "compiling mmcv 2.1.0 against torch $tv (about 10 minutes on 2 cores, once per machine)"
        src="$(mktemp -d)"
        pip download -q --no-deps --no-binary :all: "mmcv==2.1.0" -d "$src"
        tar -xzf "$src"/mmcv-2.1.0.tar.gz -C "$src"
        # torch >= 2.10 headers require C++20; see the comment at the top of this file.
        sed -i "s/'-std=c++17'/'-std=c++20'/g" "$src/mmcv-2.1.0/setup.py"
        grep -q "c++20" "$src/mmcv-2.1.0/setup.py" || { log "could not patch mmcv's setup.py"; exit 1; }
        mkdir -p "$whl_dir"
        (cd "$src/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
            "$PY" -m pip wheel --no-deps --no-build-isolation -w "$whl_dir" . )
        rm -rf "$src"
    fi
    pip install -q --no-deps "$whl_dir"/mmcv-2.1.0-*.whl
fi

log "step 3/4: mmengine, mmsegmentation, mmpretrain and their run-time needs"
pip install -q -r "$ROOT/requirements.txt"
# mim: without its dependencies (opendatalab -> openxlab pins setuptools~=60.2, below what
# torch needs); requirements.txt lists what mim imports at run time.
pip install -q --no-deps "openmim==0.3.9"

log "step 4/4: wider_mm (editable)"
pip install -q --no-deps --no-build-isolation -e "$ROOT"
"$PY" -c "import mmcv.ops, mmseg.models, mmpretrain.models, wider_mm" \
    || { log "the stack does not import; see the errors above"; exit 1; }
echo "$want" > "$STAMP"
log "done: $VENV"
