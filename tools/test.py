"""Evaluate a checkpoint the way leaderboards do, for mmseg and mmpretrain configs alike.

::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--tta] [--out OUT]
        [--show-dir DIR] [--format-only] [--cfg-options K=V ...] [--launcher ...]

* ``--tta``: the config's ``tta_model`` + ``tta_pipeline`` (multi-scale + flip).
  Sliding-window inference is the config's ``model.test_cfg=dict(mode='slide', ...)``.
* Metrics (and, for segmentation, the per-class IoU/Acc table that is also logged) are
  saved as JSON in ``WORK_DIR/TIMESTAMP/metrics.json``, with the protocol used;
  ``tools/leaderboard.py`` collects them.
* ``--show-dir DIR``: prediction overlays (mmseg's ``SegVisualizationHook``) in
  ``DIR/vis_data/vis_image/`` (a relative DIR is inside the work dir; with several
  processes only rank 0's share of the images is drawn).
* ``--out``, ``--show-dir`` and ``--format-only`` refuse a folder that exists and is not
  empty (and a classification ``--out`` file that exists), naming it: a run never
  overwrites or mixes in earlier files (``wider_mm/engine/outputs.py``).
* ``--format-only``: files for the evaluation servers, no ground truth needed (annotation
  loading is dropped from the test pipeline): PASCAL VOC: palette PNGs in
  ``OUT/results/VOC2012/Segmentation/comp6_test_cls/`` + ``OUT/VOC2012_comp6_results.tar.gz``;
  Cityscapes: labelIds PNGs (mmseg's ``CityscapesMetric``) + ``OUT/cityscapes_results.zip``;
  other data sets: index PNGs + ``OUT/results.zip``. ``OUT`` is ``--out`` or
  ``WORK_DIR/format_results``; it must be empty or absent.
* ``--out``: segmentation: a folder for the raw prediction PNGs (as mmseg's test.py);
  classification: a .pkl file of the predictions (as mmpretrain's test.py). With
  ``--out-item metrics``: a .json/.yaml/.pkl file of the metrics instead (either scope).

Distributed: ``tools/dist_test.sh CONFIG CHECKPOINT GPUS`` gives the same numbers as one
process (mmengine collects all results on rank 0 before computing the metrics).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from mmengine.config import DictAction

from wider_mm.engine.checkpoint import CheckpointError
from wider_mm.engine.launch import (
    build_runner,
    check_data_roots,
    close_distributed,
    is_distributed,
    load_config,
    prepare_runtime,
    register_scope,
    run_tool,
    scope_of,
    set_work_dir,
)
from wider_mm.engine.test_setup import fail, finish_test, prepare_test


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (mmseg's / mmpretrain's ``tools/test.py`` flags)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a wider_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where metrics.json and logs go')
    parser.add_argument(
        '--out',
        help='segmentation: folder for prediction PNGs (and the '
        '--format-only output); classification: a .pkl file of predictions',
    )
    parser.add_argument(
        '--out-item',
        choices=['pred', 'metrics'],
        default='pred',
        help='what --out saves: pred (the predictions, as above) or metrics (the metrics '
        'as a .json/.yaml/.pkl file)',
    )
    parser.add_argument(
        '--format-only',
        action='store_true',
        help='write evaluation-server files (VOC, Cityscapes, ...) only',
    )
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument(
        '--show-dir', help='save prediction overlays here (relative: ' 'inside the work dir)'
    )
    parser.add_argument('--show-interval', type=int, default=1, help='draw every N-th test image')
    parser.add_argument('--wait-time', type=float, default=2, help='--show interval (s)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation: the config's tta_model/tta_pipeline",
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.test_cfg.mode=slide',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Optional[Dict[str, Any]]:
    """Run the test; return the record written to metrics.json (rank 0; None elsewhere)."""
    args = parse_args(argv)
    if not (osp.isfile(args.checkpoint) or '://' in args.checkpoint):
        fail(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    scope = scope_of(cfg)
    register_scope(scope)
    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from, cfg.resume = args.checkpoint, False
    prepared = prepare_test(cfg, args, scope)
    runner = build_runner(cfg, prepare_runtime(cfg))
    try:  # strictly, whatever load_from_strict says: a misfit would score a random model
        runner.load_checkpoint(args.checkpoint, strict=True)
    except CheckpointError as e:
        fail(str(e))
    check_data_roots(cfg, ('test_dataloader',))
    if scope == 'mmpretrain' and args.out and args.out_item == 'pred':
        from mmengine.evaluator import DumpResults

        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()

    from mmengine.dist import is_main_process

    if not is_main_process():
        del runner  # see close_distributed
        close_distributed()
        return None
    record = finish_test(cfg, args, scope, prepared, runner, metrics)
    if is_distributed():
        del runner  # see close_distributed
        close_distributed()
    return record


if __name__ == '__main__':
    run_tool(main, 'test.py')
