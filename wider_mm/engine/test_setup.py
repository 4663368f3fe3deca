"""``tools/test.py`` around the runner: config edits before the test, the record after.

:func:`prepare_test` applies the flags to the config (visualization, TTA, server formats,
per-class IoU; pure functions over an mmengine ``Config``) and refuses outputs that would
overwrite files; :func:`finish_test` packs the server files and writes the metrics record.
A bad request ends with a one-line ``SystemExit`` naming the fix, as the tool's own
argument errors do.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.fileio import dump

from ..evaluation.record import build_record, describe_model, describe_protocol, write_record
from .outputs import OutputExistsError, check_test_outputs, submission_archive


def fail(msg: str) -> None:
    """End the test with a one-line error naming the problem and the fix."""
    raise SystemExit(f'test.py: {msg}')


def enable_visualization(cfg: Config, args: argparse.Namespace, scope: str) -> Optional[str]:
    """Turn on the visualization hook; return the folder the images go to (if any)."""
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        hook = 'SegVisualizationHook' if scope == 'mmseg' else 'VisualizationHook'
        fail(
            f"--show/--show-dir need default_hooks.visualization=dict(type='{hook}') in "
            "the config (the libraries' default runtimes have it)"
        )
    vis = hooks['visualization']
    vis['interval'] = args.show_interval
    show_dir = args.show_dir
    if show_dir and not osp.isabs(show_dir):
        show_dir = osp.join(cfg.work_dir, show_dir)
    if scope == 'mmseg':
        vis['draw'] = True
        if args.show:
            vis['show'], vis['wait_time'] = True, args.wait_time
        if show_dir:
            cfg.visualizer['save_dir'] = show_dir
            return osp.join(show_dir, 'vis_data', 'vis_image')
    else:
        vis['enable'] = True
        vis['show'], vis['wait_time'] = args.show, args.wait_time
        if show_dir:
            vis['out_dir'] = show_dir
            return show_dir
    return None


def enable_tta(cfg: Config) -> None:
    """Swap in the config's TTA model and pipeline (as mmseg's test.py does)."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if not cfg.get(k)]
    if missing:
        fail(
            f'--tta: the config defines no {" / ".join(missing)}. Add '
            "tta_model=dict(type='SegTTAModel') and a tta_pipeline (scales x flip; see "
            "mmseg's _base_/datasets/*.py), or drop --tta."
        )
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def drop_annotation_loading(pipeline: List[Any]) -> List[Any]:
    """The pipeline without ``LoadAnnotations`` and its ``CheckSegAnnotation`` (also inside
    ``TestTimeAug``)."""
    out = []
    for t in pipeline:
        if isinstance(t, dict) and t.get('type') in ('LoadAnnotations', 'CheckSegAnnotation'):
            continue
        if isinstance(t, dict) and t.get('type') == 'TestTimeAug':
            t = ConfigDict(t)
            t['transforms'] = [drop_annotation_loading(step) for step in t['transforms']]
            t['transforms'] = [step for step in t['transforms'] if step]
        out.append(t)
    return out


def setup_format_only(cfg: Config, out_dir: str) -> str:
    """Configure the server-format writer for the test data set; return its kind."""
    if osp.isdir(out_dir) and os.listdir(out_dir):
        fail(
            f'--format-only: {out_dir} is not empty; remove it or pass another --out DIR '
            "(the archive must hold this run's files only)"
        )
    dataset = cfg.test_dataloader.dataset
    if 'pipeline' in dataset:
        dataset.pipeline = drop_annotation_loading(dataset.pipeline)
    ds_type = str(dataset.get('type', ''))
    if 'Cityscapes' in ds_type:
        kind = 'cityscapes'
        evaluator = dict(
            type='CityscapesMetric', output_dir=out_dir, format_only=True, keep_results=True
        )
    elif ds_type == 'PascalVOCDataset':
        kind = 'voc'
        evaluator = dict(type='VOCSubmissionMetric', output_dir=out_dir)
    else:
        kind = 'generic'
        evaluator = dict(type='IoUMetric', output_dir=out_dir, format_only=True)
    cfg.test_evaluator = evaluator
    return kind


def use_classwise_iou(cfg: Config) -> None:
    """mmseg's IoUMetric -> wider_mm's ClasswiseIoUMetric (same numbers + per-class JSON)."""
    ev = cfg.get('test_evaluator')
    for m in ev if isinstance(ev, (list, tuple)) else [ev]:
        if isinstance(m, dict) and m.get('type') in ('IoUMetric', 'mmseg.IoUMetric'):
            m['type'] = 'ClasswiseIoUMetric'


@dataclass
class PreparedTest:
    """What :func:`prepare_test` set up, for the record of the run.

    Attributes:
        model: The backbone's arguments and the model types (before any TTA wrapper).
        protocol: How the numbers are obtained (inference mode, resize or TTA scales).
        show_dir: Where the prediction overlays go (None: not saved).
        format_kind: ``--format-only``: 'voc', 'cityscapes' or 'generic' (else None).
        format_dir: ``--format-only``: the folder of the server files.
    """

    model: Dict[str, Any]
    protocol: Dict[str, Any]
    show_dir: Optional[str] = None
    format_kind: Optional[str] = None
    format_dir: Optional[str] = None


def prepare_test(cfg: Config, args: argparse.Namespace, scope: str) -> PreparedTest:
    """Apply ``tools/test.py``'s flags to ``cfg`` (work dir set) before the runner is built.

    Checks the flags, turns on visualization, TTA, the server-format writer or the
    per-class IoU table, and refuses outputs that would overwrite files (nothing is built
    or written before).
    """
    if args.out_item == 'metrics' and (not args.out or args.format_only):
        fail('--out-item metrics needs --out FILE (.json, .yaml or .pkl) and no --format-only')
    if args.format_only and scope != 'mmseg':
        fail('--format-only is for segmentation configs (VOC / Cityscapes servers)')
    show_dir = enable_visualization(cfg, args, scope) if args.show or args.show_dir else None
    prepared = PreparedTest(describe_model(cfg, tta=False), {}, show_dir)
    if args.tta:
        enable_tta(cfg)
    prepared.protocol = describe_protocol(cfg, tta=args.tta)
    if args.format_only:
        prepared.format_dir = osp.abspath(args.out or osp.join(cfg.work_dir, 'format_results'))
        prepared.format_kind = setup_format_only(cfg, prepared.format_dir)
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
    return prepared


def finish_test(
    cfg: Config,
    args: argparse.Namespace,
    scope: str,
    prepared: PreparedTest,
    runner: Any,
    metrics: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """After the test (main process): pack the ``--format-only`` files, write the metrics
    record (``WORK_DIR/TIMESTAMP/metrics.json``; ``--out-item metrics``: also ``--out``),
    log where every output is; return the record."""
    log = runner.logger
    fmt = None
    if prepared.format_kind:
        archive = submission_archive(prepared.format_dir, prepared.format_kind)
        fmt = dict(kind=prepared.format_kind, output_dir=prepared.format_dir, archive=archive)
        log.info(f'wider_mm: submission archive: {archive}')
    if prepared.show_dir:
        log.info(f'wider_mm: prediction overlays in {prepared.show_dir}')
        if runner.world_size > 1:
            log.warning(
                f'wider_mm: with {runner.world_size} processes only the images of rank 0 are '
                "drawn (mmengine's visualizer saves on the main process); test with one "
                'process for all overlays'
            )
    record = build_record(
        cfg,
        runner,
        metrics,
        config=args.config,
        checkpoint=args.checkpoint,
        scope=scope,
        model=prepared.model,
        protocol=prepared.protocol,
        format_only=fmt,
        show_dir=prepared.show_dir,
    )
    if args.out_item == 'metrics':
        dump(record['metrics'], args.out)  # the format follows the suffix, as mmpretrain's
        log.info(f'wider_mm: metrics written to {args.out}')
    out_json = write_record(record, osp.join(cfg.work_dir, runner.timestamp))
    log.info(f'wider_mm: metrics saved to {out_json}')
    return record
