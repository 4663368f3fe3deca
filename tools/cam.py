"""Class activation maps of a multi-label classifier (PSA's way) and their mIoU.

::

    python tools/cam.py CONFIG CHECKPOINT --out-dir DIR [--split train] [--scales 1 0.5 1.5 2]
        [--flip | --no-flip] [--thresholds T ...] [--num-overlays N] [--cfg-options K=V ...]
    bash tools/dist_cam.sh CONFIG CHECKPOINT PROCS --out-dir DIR [...]     # torchrun

Writes ``DIR/cams/IMAGE.npy`` (float16, one map per class of the image's labels, at image
resolution; ``DIR/cams.json`` lists the classes of each file), ``DIR/overlays/`` for the first
images, and where ``SegmentationClass`` exists the threshold sweep (``cam_miou.json``,
``cam_miou.md``, ``cam_miou.png``) and ``metrics.json`` for ``tools/leaderboard.py``.
Defaults come from the config's ``cam_cfg`` (PSA: scales 1, 0.5, 1.5, 2 with flips). The logic
is :func:`wider_mm.engine.cam.run_cams`.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional, Sequence

from mmengine.config import DictAction

from wider_mm.engine.cam import CAMSettings, init_processes, run_cams
from wider_mm.engine.launch import close_distributed, load_config, register_scope


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='classification config (mmpretrain, multi-label VOC)')
    p.add_argument('checkpoint', help='checkpoint of that config')
    p.add_argument('--out-dir', required=True, help='where CAMs, overlays and scores go')
    p.add_argument('--split', default='train', help='image list name (default: train)')
    p.add_argument('--scales', type=float, nargs='+', help="image scales (cam_cfg's by default)")
    p.add_argument(
        '--flip', action=argparse.BooleanOptionalAction, default=None, help='add mirrored views'
    )
    p.add_argument('--thresholds', type=float, nargs='+', help='background thresholds to sweep')
    p.add_argument('--num-overlays', type=int, help='overlays for the first N images')
    p.add_argument('--device', default=None, help='cpu or cuda (default: cuda if available)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    p.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='launcher'
    )
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[Sequence[str]] = None) -> Optional[dict]:
    """Run; return the metrics record (rank 0) or None."""
    import torch

    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'cam.py: checkpoint {args.checkpoint} does not exist')
    # every process checks before the process group starts (a rendezvous of all of them),
    # so no process can see files another one has just written
    if os.path.isdir(args.out_dir) and os.listdir(args.out_dir):
        raise SystemExit(
            f'cam.py: --out-dir {args.out_dir} is not empty; remove it or pass another folder '
            "(the CAMs and scores must be this run's only)"
        )
    try:
        cfg = load_config(args.config, args.cfg_options, args.launcher)
        settings = CAMSettings.from_config(
            cfg,
            scales=args.scales,
            flip=args.flip,
            thresholds=args.thresholds,
            num_overlays=args.num_overlays,
        )
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f'cam.py: {e}') from None
    register_scope('mmpretrain')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.launcher != 'none':
        init_processes(cfg)
        if device == 'cuda':
            device = f'cuda:{torch.cuda.current_device()}'
    try:
        record = run_cams(
            cfg, args.checkpoint, args.split, args.out_dir, settings, device, args.config
        )
    except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
        raise SystemExit(f'cam.py: {e}') from None
    close_distributed()
    if record is not None:
        m = record['metrics']
        print(
            f"cam.py: {record['num_images']} images -> {args.out_dir}/cams; "
            + (
                f"CAM mIoU {m['CAM mIoU']:.2f} at threshold {m['threshold']:.2f} "
                f"({record['evaluated_images']} images with ground truth)"
                if m
                else 'no ground truth: not scored'
            )
        )
    return record


if __name__ == '__main__':
    main()
