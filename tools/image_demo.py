"""Segment or classify your own images with a Wider ResNet checkpoint.

::

    python tools/image_demo.py INPUT CONFIG_OR_CHECKPOINT [CHECKPOINT] --out-dir DIR
        [--device cpu|cuda] [--opacity A] [--topk K] [--batch-size N]

INPUT is an image, a folder of images or a glob ("photos/*.jpg"). A checkpoint alone is
enough when its meta names its config (converted by tools/model_converters/wrn2mm.py from a
released file, or written by tools/train.py); otherwise give CONFIG (a file or a zoo name
of model-index.yml) and CHECKPOINT. Segmentation writes DIR/vis/NAME (overlays) and
DIR/labels/STEM.png (class indices, with the palette); classification writes
DIR/predictions.json (top-k classes) and DIR/vis/STEM.png (the top-k on the image). Built
on mmseg's MMSegInferencer and mmpretrain's ImageClassificationInferencer
(wider_mm/inference.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

import wider_mm  # noqa: F401  (registers the models)
from wider_mm.inference import build_inferencer, list_images, predict_images


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        prog='image_demo.py',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('input', help='an image, a folder of images or a glob pattern')
    p.add_argument('model', help='a checkpoint (its meta names the config), a config or a zoo name')
    p.add_argument('checkpoint', nargs='?', help='the checkpoint, when MODEL is a config')
    p.add_argument('--out-dir', required=True, help='where the results go')
    p.add_argument('--device', default=None, help="'cpu', 'cuda', 'cuda:1' (default: GPU if any)")
    p.add_argument(
        '--opacity', type=float, default=0.5, help='segmentation overlay opacity, 0..1 (0.5)'
    )
    p.add_argument('--topk', type=int, default=5, help='classification: classes listed (5)')
    p.add_argument('--batch-size', type=int, default=1, help='images per forward pass (1)')
    args = p.parse_args(argv)
    if not 0 <= args.opacity <= 1:
        p.error(f'--opacity {args.opacity}: must be between 0 and 1')
    if args.topk < 1 or args.batch_size < 1:
        p.error('--topk and --batch-size must be at least 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; return the exit status (0 ok, 1 bad input)."""
    args = parse_args(argv)
    try:
        images: List[str] = list_images(args.input)
        inferencer = build_inferencer(args.model, args.checkpoint, device=args.device)
    except ValueError as e:
        print(f'image_demo.py: error: {e}', file=sys.stderr)
        return 1
    task, records = predict_images(
        inferencer, images, args.out_dir, args.opacity, args.topk, args.batch_size
    )
    if task == 'segmentation':
        print(
            f'\n{len(records)} images segmented: overlays in {args.out_dir}/vis, label PNGs '
            f'in {args.out_dir}/labels'
        )
    else:
        for r in records[:10]:
            top = r['topk'][0]
            print(f"{r['image']}: {top['class']} ({top['score']:.3f})")
        print(
            f'\n{len(records)} images classified: top-{args.topk} in '
            f'{args.out_dir}/predictions.json, images in {args.out_dir}/vis'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
