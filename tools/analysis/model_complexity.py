"""Parameters and FLOPs of the Wider ResNet family beside ResNet-101/152, in one table.

Backbones only, counted by mmengine's ``get_model_complexity_info`` (one FLOP per
multiply-add); see :mod:`wider_mm.analysis.complexity`. With ``--out DIR/NAME.md`` the
report is written to ``NAME.md`` and ``NAME.json``.

Usage::

    python tools/analysis/model_complexity.py --out docs/complexity.md
    python tools/analysis/model_complexity.py --width 0.0625 --depths 16 --variants a1
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import torch

from wider_mm.analysis import complexity, report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (checked)."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('--out', help='also write the report to this .md file (and its .json)')
    p.add_argument('--force', action='store_true', help='overwrite --out if it exists')
    p.add_argument('--width', type=float, default=1.0, help='width multiplier (small: tests)')
    p.add_argument('--depths', type=int, nargs='+', default=list(complexity.DEPTH_CHOICES),
                   choices=complexity.DEPTH_CHOICES)  # fmt: skip
    p.add_argument('--variants', nargs='+', default=list(complexity.VARIANT_CHOICES),
                   choices=complexity.VARIANT_CHOICES)  # fmt: skip
    p.add_argument('--cls-size', type=int, default=224, help='classification input size')
    p.add_argument('--seg-size', type=int, default=512, help='segmentation input size')
    p.add_argument('--baselines', nargs='*', default=list(complexity.BASELINE_CHOICES),
                   choices=complexity.BASELINE_CHOICES, help='reference backbones')  # fmt: skip
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: all)')
    args = p.parse_args(argv)
    if args.width <= 0:
        p.error(f'--width must be > 0, got {args.width}')
    if min(args.cls_size, args.seg_size) < 32:
        p.error('--cls-size/--seg-size must be >= 32 (the networks down-sample 32x)')
    if args.out and not args.out.endswith('.md'):
        p.error(f'--out {args.out}: give a .md path (the .json goes beside it)')
    if args.out and osp.exists(args.out) and not args.force:
        p.error(f'{args.out} exists; pass --force to overwrite it')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Count, print the report, optionally write it; return rows and the markdown."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    def log(row: complexity.Row) -> None:
        print(f'[complexity] {row.model} @{row.input_size}: {row.params:,} params, '
              f'{row.gflops:.2f} GFLOPs ({row.seconds:.1f} s)', file=sys.stderr)  # fmt: skip

    rows, notes = complexity.count_all(
        args.depths, args.variants, args.width, args.cls_size, args.seg_size, args.baselines, log
    )
    result = dict(machine=report.machine('cpu'), settings=vars(args), rows=complexity.records(rows))
    intro = f'Width multiplier: {args.width} (WRN widths and ResNet stem/base channels).'
    if args.out:
        out_dir, name = osp.split(osp.abspath(args.out))
        report.write_report(result, out_dir, name[:-3], complexity.COLUMNS, intro, notes)
    else:
        result['markdown'] = report.render(result, complexity.COLUMNS, intro, notes)
    print(result['markdown'])
    return result


if __name__ == '__main__':
    main()
