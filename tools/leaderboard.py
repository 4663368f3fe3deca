"""Collect the test results of many work dirs into one table beside the paper's numbers.

Reads the ``WORK_DIR/*/metrics.json`` records that ``tools/test.py`` (and ``tools/cam.py``)
write and writes ``OUT_DIR/NAME.md`` (Markdown), ``.csv`` and ``.png`` (a bar chart). The
published numbers are the model zoo's metafiles'; which result stands beside which number:
:mod:`wider_mm.evaluation.leaderboard`.

Example:
    python tools/leaderboard.py work_dirs/voc_a1 work_dirs/voc_a1_tta work_dirs/cs_a2 \\
        --out-dir work_dirs/leaderboard
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from wider_mm.evaluation.leaderboard import write_leaderboard


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the leaderboard; 0 on success, 2 (one line on stderr) for bad input."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('paths', nargs='+', help='work dirs of tools/test.py (or metrics.json)')
    p.add_argument(
        '--out-dir',
        default='work_dirs/leaderboard',
        help='where leaderboard.{md,csv,png} go (default: work_dirs/leaderboard)',
    )
    p.add_argument('--name', default='leaderboard', help='file name stem')
    args = p.parse_args(argv)
    try:
        md, files = write_leaderboard(args.paths, args.out_dir, args.name)
    except (FileNotFoundError, ValueError) as e:
        print(f'leaderboard.py: error: {e}', file=sys.stderr)
        return 2
    print(md)
    print(f'leaderboard written to {", ".join(files[:-1])} and {files[-1]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
