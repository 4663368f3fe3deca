#!/usr/bin/env bash
# PSA's weakly-supervised pipeline on the demo data, in one command (docs/cam.md):
#  1. the demo data set in data/demo (tools/make_demo_data.py; image labels in Annotations/)
#  2. train the multi-label CAM classifier (1/16-width Wider ResNet-38 A1, output stride 8) on
#     image labels only, with mmpretrain's VOC dataset, through tools/dist_train.sh
#  3. class activation maps of the train and val images (tools/dist_cam.sh: scales 1, 0.5,
#     1.5, 2 + flip) and their mIoU against the segmentation ground truth (threshold sweep)
#  4. the leaderboard beside PSA's published CAM mIoU
# Environment: DEMO_DATA (data/demo), DEMO_WORK_DIR (work_dirs/cam_demo_TIMESTAMP),
# DEMO_PROCS (2), PORT (a free port); extra train.py arguments after the command.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
CONFIG=configs/demo/wrn38a1-w16-d8-psa_2xb8-300i_demo-voc-128x96.py
DATA=${DEMO_DATA:-data/demo}
WORK=${DEMO_WORK_DIR:-work_dirs/cam_demo_$(date +%Y%m%d_%H%M%S)}
PROCS=${DEMO_PROCS:-$("$PY" -c 'import torch; n = torch.cuda.device_count(); print(min(n, 2) or 2)')}
export PORT=${PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
start=$(date +%s)
say() { echo -e "\n[cam demo $(( $(date +%s) - start ))s] $*"; }

VOC_ROOT="$DATA/VOCdevkit/VOC2012"
say "1/4 demo data in $DATA"
if [[ -d "$VOC_ROOT/Annotations" ]]; then
    echo "using the existing $DATA (delete it to regenerate)"
elif [[ -d "$VOC_ROOT" ]]; then
    # data from before image labels were written: the same seed rewrites the same images
    echo "$DATA has no VOC Annotations (image labels) yet: regenerating it"
    "$PY" tools/make_demo_data.py "$DATA" --force
else
    "$PY" tools/make_demo_data.py "$DATA"
fi
DATA_OPTS=(train_dataloader.dataset.data_root="$VOC_ROOT"
           val_dataloader.dataset.data_root="$VOC_ROOT"
           test_dataloader.dataset.data_root="$VOC_ROOT")

say "2/4 training on image labels with $PROCS processes (tools/dist_train.sh) -> $WORK"
tools/dist_train.sh "$CONFIG" "$PROCS" --work-dir "$WORK" --cfg-options "${DATA_OPTS[@]}" "$@"
CKPT="$(cat "$WORK/last_checkpoint")"
train_s=$(( $(date +%s) - start ))

say "3/4 CAMs and CAM mIoU of the train and val images (tools/dist_cam.sh)"
for split in train val; do
    tools/dist_cam.sh "$CONFIG" "$CKPT" "$PROCS" --split "$split" \
        --out-dir "$WORK/cam_$split" --cfg-options "${DATA_OPTS[@]}"
done

say "4/4 leaderboard"
"$PY" tools/leaderboard.py "$WORK/cam_train" "$WORK/cam_val" --out-dir "$WORK/leaderboard" \
    > "$WORK/leaderboard.log"
total_s=$(( $(date +%s) - start ))

"$PY" - "$WORK" "$train_s" "$total_s" "$PROCS" <<'PYEOF'
import glob, json, os.path as osp, sys
work, train_s, total_s, procs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
logs = sorted(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json')))
val = [json.loads(line) for line in open(logs[-1])] if logs else []
val = [v for v in val if 'multi-label/mAP' in v]
print('\n' + '=' * 72)
print(f'CAM demo done in {total_s} s (data + training: {train_s} s, {procs} processes)')
if val:
    print(f"classifier (val): mAP {val[-1]['multi-label/mAP']:.2f}, "
          f"CF1 {val[-1]['multi-label/f1-score']:.2f}")
for split in ('train', 'val'):
    rec = json.load(open(osp.join(work, f'cam_{split}', 'metrics.json')))
    m = rec['metrics']
    print(f"CAM mIoU ({split}): {m['CAM mIoU']:.2f} at background threshold "
          f"{m['threshold']:.2f}; per class: "
          + ', '.join(f'{c} {v}' for c, v in rec['per_class']['IoU'].items()))
print(f'work dir      : {work}')
print(f'CAMs          : {osp.join(work, "cam_train", "cams")} (+ overlays/, cam_miou.png)')
print(f"leaderboard   : {osp.join(work, 'leaderboard', 'leaderboard.md')} (.csv, .png)")
print('=' * 72)
PYEOF
