"""Config edits of ``tools/test.py``: visualization, TTA, server formats, per-class IoU.

Pure functions over an mmengine ``Config``; a bad request ends with a one-line
``SystemExit`` naming the fix, as the tool's own argument errors do.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Any, List, Optional

from mmengine.config import Config, ConfigDict


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
