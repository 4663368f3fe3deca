"""Check every annotation of a segmentation config's splits before training on them.

::

    python tools/check_dataset.py CONFIG [--split train val test] [--cfg-options K=V ...]

Each sample is loaded with the config's own ``LoadImageFromFile`` / ``LoadAnnotations``
(so class subsets and ``reduce_zero_label`` apply as in training) and checked by
``CheckSegAnnotation``: the map must be the image's size and hold only class ids or the
ignore index. Every bad file is listed (not only the first), then one summary line.
Exit code 0: all good; 1: some file is bad; 2: the config or a dataset folder is wrong.
The logic is in ``wider_mm/datasets/checks.py``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from wider_mm.engine.launch import check_data_roots, load_config, register_scope, scope_of

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='segmentation (mmseg) config file')
    p.add_argument(
        '--split', nargs='+', choices=SPLITS, default=list(SPLITS), help='splits to check'
    )
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Scan the splits; return the exit code."""
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, 'none')
        if scope_of(cfg) != 'mmseg':
            raise ValueError(f'{args.config} is not a segmentation (mmseg) config')
        register_scope('mmseg')
        check_data_roots(cfg, [f'{s}_dataloader' for s in args.split])
    except (ValueError, FileNotFoundError) as e:
        print(f'check_dataset.py: error: {e}', file=sys.stderr)
        return 2
    from wider_mm.datasets.checks import check_dataset

    reports = check_dataset(cfg, args.split, progress=not args.no_progress)
    bad = sum(len(r.bad) for r in reports)
    scanned = sum(r.num_samples for r in reports)
    print('; '.join(r.summary() for r in reports))
    print(
        f'check_dataset.py: {bad} bad of {scanned} samples'
        + ('' if bad else ': all annotations fit their images and classes')
    )
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
