#!/usr/bin/env bash
# The main job (`make demo`): see the whole pipeline work in minutes on a laptop CPU.
#  1. generate the demo data set into data/demo (if absent): VOC and Cityscapes layouts
#  2. train a 1/8-width Wider ResNet-38 A1 (output stride 8) + the paper's head with mmseg's
#     PascalVOCDataset, through tools/dist_train.sh with 2 processes (gloo on CPU)
#  3. evaluate on the validation split with 2 processes (tools/dist_test.sh): mIoU, the
#     per-class table, prediction overlays; then multi-scale + flip (--tta)
#  4. draw the training curves and the leaderboard beside the paper's numbers
# Environment: DEMO_DATA (data/demo), DEMO_WORK_DIR (work_dirs/demo_TIMESTAMP),
# DEMO_PROCS (2), PORT (a free port), extra train.py arguments after the command.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
CONFIG=configs/demo/wider_wrn38a1-w8-d8_2xb8-400i_demo-voc-128x96.py
DATA=${DEMO_DATA:-data/demo}
WORK=${DEMO_WORK_DIR:-work_dirs/demo_$(date +%Y%m%d_%H%M%S)}
# 2 CPU processes without GPUs; with GPUs one process per GPU, at most 2
PROCS=${DEMO_PROCS:-$("$PY" -c 'import torch; n = torch.cuda.device_count(); print(min(n, 2) or 2)')}
export PORT=${PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
start=$(date +%s)
say() { echo -e "\n[demo $(( $(date +%s) - start ))s] $*"; }

say "1/4 demo data in $DATA"
if [[ -d "$DATA/VOCdevkit/VOC2012" ]]; then
    echo "using the existing $DATA (delete it to regenerate)"
else
    "$PY" tools/make_demo_data.py "$DATA"
fi
VOC_ROOT="$DATA/VOCdevkit/VOC2012"
DATA_OPTS=(train_dataloader.dataset.data_root="$VOC_ROOT"
           val_dataloader.dataset.data_root="$VOC_ROOT"
           test_dataloader.dataset.data_root="$VOC_ROOT")

say "2/4 training with $PROCS processes (tools/dist_train.sh) -> $WORK"
tools/dist_train.sh "$CONFIG" "$PROCS" --work-dir "$WORK" --cfg-options "${DATA_OPTS[@]}" "$@"
CKPT="$(cat "$WORK/last_checkpoint")"
train_s=$(( $(date +%s) - start ))

say "3/4 evaluation on the validation split: single scale with prediction overlays" \
    "(tools/test.py), then multi-scale + flip with $PROCS processes (tools/dist_test.sh --tta)"
# One process here because mmengine's visualizer saves the images of rank 0 only.
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK" --show-dir predictions \
    --cfg-options "${DATA_OPTS[@]}"
tools/dist_test.sh "$CONFIG" "$CKPT" "$PROCS" --work-dir "$WORK" --tta \
    --cfg-options "${DATA_OPTS[@]}"

say "4/4 curves and leaderboard"
"$PY" tools/plot_curves.py "$WORK"
"$PY" tools/leaderboard.py "$WORK" --out-dir "$WORK/leaderboard" > "$WORK/leaderboard.log"
total_s=$(( $(date +%s) - start ))

"$PY" -m wider_mm.evaluation.record "$WORK" --train-s "$train_s" --total-s "$total_s" --procs "$PROCS"
