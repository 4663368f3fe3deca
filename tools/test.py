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
import glob
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
from wider_mm.engine.outputs import OutputExistsError, check_test_outputs
from wider_mm.engine.test_setup import (
    enable_tta,
    enable_visualization,
    fail,
    setup_format_only,
    use_classwise_iou,
)
from wider_mm.evaluation.record import (
    describe_model,
    describe_protocol,
    jsonable,
    rounded,
    write_record,
)


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


# ----------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> Optional[Dict[str, Any]]:
    """Run the test; return the record written to metrics.json (rank 0; None elsewhere)."""
    args = parse_args(argv)
    if not (osp.isfile(args.checkpoint) or '://' in args.checkpoint):
        fail(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    scope = scope_of(cfg)
    register_scope(scope)
    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if args.out_item == 'metrics' and (not args.out or args.format_only):
        fail('--out-item metrics needs --out FILE (.json, .yaml or .pkl) and no --format-only')
    if args.format_only and scope != 'mmseg':
        fail('--format-only is for segmentation configs (VOC / Cityscapes servers)')
    show_dir = None
    if args.show or args.show_dir:
        show_dir = enable_visualization(cfg, args, scope)
    protocol = describe_protocol(cfg, tta=False)
    model_info = describe_model(cfg, tta=False)
    if args.tta:
        enable_tta(cfg)
        protocol = describe_protocol(cfg, tta=True)
    fmt_kind = fmt_dir = None
    if args.format_only:
        fmt_dir = osp.abspath(args.out or osp.join(cfg.work_dir, 'format_results'))
        fmt_kind = setup_format_only(cfg, fmt_dir)
    elif scope == 'mmseg':
        use_classwise_iou(cfg)
        if args.out and args.out_item == 'pred':
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True

    try:  # never overwrite files this run did not write
        out_is_file = scope != 'mmseg' or args.out_item == 'metrics'
        check_test_outputs(cfg.work_dir, args.out, out_is_file, args.show_dir, args.format_only)
    except OutputExistsError as e:
        fail(str(e))
    runner = build_runner(cfg, prepare_runtime(cfg))
    try:  # strictly, whatever load_from_strict says: a misfit would score a random model
        runner.load_checkpoint(args.checkpoint, strict=True)
    except CheckpointError as e:
        fail(str(e))
    check_data_roots(cfg, ('test_dataloader',))
    if scope == 'mmpretrain' and args.out:
        from mmengine.evaluator import DumpResults

        if args.out_item == 'pred':
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()

    from mmengine.dist import is_main_process

    if not is_main_process():
        del runner  # see close_distributed
        close_distributed()
        return None
    dataset = cfg.test_dataloader.dataset
    record: Dict[str, Any] = dict(
        config=osp.abspath(args.config),
        checkpoint=args.checkpoint,
        scope=scope,
        dataset=dict(
            type=dataset.get('type'),
            data_root=dataset.get('data_root'),
            ann_file=dataset.get('ann_file'),
            data_prefix=dict(dataset.get('data_prefix') or {}),
        ),
        model=model_info,
        protocol=protocol,
        world_size=runner.world_size,
        timestamp=runner.timestamp,
        metrics=rounded(metrics),
    )
    meta = runner.test_evaluator.dataset_meta or {}
    if meta.get('classes'):
        record['dataset']['classes'] = list(meta['classes'])
    for m in runner.test_evaluator.metrics:
        if getattr(m, 'per_class', None):
            record['per_class'] = m.per_class
    if fmt_kind:
        record['format_only'] = dict(kind=fmt_kind, output_dir=fmt_dir)
        if fmt_kind == 'voc':
            archive = glob.glob(osp.join(fmt_dir, '*.tar.gz'))
            record['format_only']['archive'] = archive[0] if archive else None
        else:
            from wider_mm.evaluation import pack_folder

            pngs = sorted(
                osp.relpath(p, fmt_dir)
                for p in glob.glob(osp.join(fmt_dir, '**', '*.png'), recursive=True)
            )
            name = 'cityscapes_results.zip' if fmt_kind == 'cityscapes' else 'results.zip'
            record['format_only']['archive'] = pack_folder(
                fmt_dir, osp.join(fmt_dir, name), members=pngs
            )
        runner.logger.info(f"wider_mm: submission archive: {record['format_only']['archive']}")
    if show_dir:
        record['show_dir'] = show_dir
        runner.logger.info(f'wider_mm: prediction overlays in {show_dir}')
        if runner.world_size > 1:
            runner.logger.warning(
                f'wider_mm: with {runner.world_size} processes only the images of rank 0 are '
                "drawn (mmengine's visualizer saves on the main process); test with one "
                'process for all overlays'
            )
    record = jsonable(record)
    if args.out_item == 'metrics':
        from mmengine.fileio import dump

        dump(record['metrics'], args.out)  # the format follows the suffix, as mmpretrain's
        runner.logger.info(f'wider_mm: metrics written to {args.out}')
    out_json = write_record(record, osp.join(cfg.work_dir, runner.timestamp))
    runner.logger.info(f'wider_mm: metrics saved to {out_json}')
    if is_distributed():
        del runner  # see close_distributed
        close_distributed()
    return record


if __name__ == '__main__':
    run_tool(main, 'test.py')
