"""Generate the embedded demo data set: synthetic scenes in the real VOC and Cityscapes layouts.

::

    python tools/make_demo_data.py OUT_DIR [--num-train N] [--num-val N] [--num-test N]
        [--size W H] [--seed S] [--layouts voc cityscapes] [--force]

The same arguments always write the same bytes. An existing non-empty OUT_DIR is refused
unless --force. The scenes and the layouts are described in wider_mm/datasets/demo.py.

Example:
    python tools/make_demo_data.py data/demo --num-train 60 --num-val 20 --size 128 96
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from wider_mm.datasets import demo
from wider_mm.datasets.demo import make_demo_data


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('out_dir', help='output folder (e.g. data/demo)')
    p.add_argument('--num-train', type=int, default=demo.NUM_TRAIN)
    p.add_argument('--num-val', type=int, default=demo.NUM_VAL)
    p.add_argument(
        '--num-test', type=int, default=demo.NUM_TEST, help='images without ground truth'
    )
    p.add_argument('--size', type=int, nargs=2, default=demo.SIZE, metavar=('W', 'H'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--layouts', nargs='+', default=list(demo.LAYOUTS), choices=demo.LAYOUTS)
    p.add_argument(
        '--force', action='store_true', help='delete and rewrite OUT_DIR if it is not empty'
    )
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the data set; return the exit code (2: bad arguments or a non-empty OUT_DIR)."""
    a = parse_args(argv)
    try:
        make_demo_data(
            a.out_dir, a.num_train, a.num_val, a.num_test, tuple(a.size), a.seed, a.force, a.layouts
        )
    except (FileExistsError, ValueError) as e:
        print(f'make_demo_data.py: error: {e}', file=sys.stderr)
        return 2
    print(
        f'demo data written to {a.out_dir} ({", ".join(a.layouts)}; {a.num_train} train / '
        f'{a.num_val} val / {a.num_test} test images, {a.size[0]}x{a.size[1]})'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
