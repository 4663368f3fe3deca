"""Plot a run's training curves (losses, learning rate, validation metrics) as one PNG.

Reads mmengine's ``WORK_DIR/TIMESTAMP/vis_data/scalars.json`` (a resumed run's folders are
joined); the logic is in ``wider_mm/analysis/curves.py``.

Example:
    python tools/plot_curves.py work_dirs/demo            # -> work_dirs/demo/curves.png
    python tools/plot_curves.py work_dirs/demo --out c.png --keys loss lr mIoU
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from wider_mm.analysis.curves import plot_curves, read_scalars, summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Draw the curves and print where they went; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dir', help='work dir of a training run')
    p.add_argument('--out', help='PNG path (default: WORK_DIR/curves.png)')
    p.add_argument('--keys', nargs='+', help='scalars to plot (default: losses, lr, metrics)')
    args = p.parse_args(argv)
    try:
        out = plot_curves(args.work_dir, args.out, args.keys)
    except (FileNotFoundError, KeyError) as e:
        print(f'plot_curves.py: error: {e}', file=sys.stderr)
        return 2
    line = summary(*read_scalars(args.work_dir))
    print(f'curves written to {out}' + (f': {line}' if line else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
