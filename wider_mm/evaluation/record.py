"""The metrics record: ``WORK_DIR/TIMESTAMP/metrics.json``, written and read here only.

``tools/test.py`` writes one record per run (:func:`build_record`: what was tested, how,
and the numbers); the leaderboard and ``make demo`` read them back through
:func:`read_records`.
A summary of a demo work dir::

    python -m wider_mm.evaluation.record WORK_DIR [--train-s S --total-s S --procs N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.fileio import dump, load

RECORD_NAME = 'metrics.json'
BACKBONE_KEYS = ('type', 'depth', 'variant', 'widen_factor', 'output_stride')


def describe_protocol(cfg: Config, tta: bool) -> Dict[str, Any]:
    """How the numbers were obtained: inference mode, test resize or TTA scales and flip."""
    model = cfg.model.module if tta else cfg.model
    test_cfg = dict(model.get('test_cfg') or {})
    proto: Dict[str, Any] = dict(tta=tta, mode=test_cfg.get('mode', 'whole'))
    if proto['mode'] == 'slide':
        proto.update(crop_size=test_cfg.get('crop_size'), stride=test_cfg.get('stride'))
    if tta:
        scales, flip = [], False
        for t in cfg.tta_pipeline:
            for step in t['transforms'] if t.get('type') == 'TestTimeAug' else []:
                for s in step:
                    if s.get('type') == 'Resize':
                        scales.append(s.get('scale_factor', s.get('scale')))
                    flip |= s.get('type') == 'RandomFlip' and s.get('prob', 0) >= 1
        proto.update(scales=scales, flip=flip)
    else:
        for t in cfg.test_dataloader.dataset.get('pipeline', []):
            if t.get('type') in ('Resize', 'ResizeEdge', 'CenterCrop'):
                proto[t['type']] = {k: v for k, v in t.items() if k != 'type'}
    return proto


def describe_model(cfg: Config, tta: bool = False) -> Dict[str, Any]:
    """The backbone's defining arguments and the segmentor / decode head types."""
    model = cfg.model.module if tta else cfg.model
    backbone = dict(model.get('backbone') or {})
    out = {k: backbone[k] for k in BACKBONE_KEYS if k in backbone}
    out['segmentor'] = model.get('type')
    if model.get('decode_head'):
        out['decode_head'] = model.decode_head.get('type')
    return out


def build_record(
    cfg: Config,
    runner: Any,
    metrics: Optional[Dict[str, Any]],
    *,
    config: str,
    checkpoint: str,
    scope: str,
    model: Dict[str, Any],
    protocol: Dict[str, Any],
    format_only: Optional[Dict[str, Any]] = None,
    show_dir: Optional[str] = None,
) -> Dict[str, Any]:
    """The record of one ``tools/test.py`` run, JSON-ready (plain numbers and lists).

    Args:
        cfg: The config the run tested with (its test data set is described).
        runner: The runner after ``test()`` (``world_size``, ``timestamp`` and the test
            evaluator: the data set's classes, a metric's ``per_class`` table).
        metrics: What ``runner.test()`` returned (rounded to 4 decimals).
        config: The config file.
        checkpoint: The checkpoint tested.
        scope: 'mmseg' or 'mmpretrain'.
        model: :func:`describe_model` of the config before any TTA wrapper.
        protocol: :func:`describe_protocol` of the config as tested.
        format_only: ``--format-only``: ``dict(kind=..., output_dir=..., archive=...)``.
        show_dir: Where the prediction overlays went.
    """
    dataset = cfg.test_dataloader.dataset
    record: Dict[str, Any] = dict(
        config=osp.abspath(config),
        checkpoint=checkpoint,
        scope=scope,
        dataset=dict(
            type=dataset.get('type'),
            data_root=dataset.get('data_root'),
            ann_file=dataset.get('ann_file'),
            data_prefix=dict(dataset.get('data_prefix') or {}),
        ),
        model=model,
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
    if format_only:
        record['format_only'] = dict(format_only)
    if show_dir:
        record['show_dir'] = show_dir
    return jsonable(record)


def jsonable(x: Any) -> Any:
    """``x`` with tensors / numpy values as plain numbers and lists (for JSON)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, 'item') and getattr(x, 'ndim', 1) == 0:
        return x.item()
    if hasattr(x, 'tolist'):
        return x.tolist()
    return x


def rounded(metrics: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Numbers rounded to 4 decimals, as mmseg logs them; other values as they are."""
    return {
        k: round(float(v), 4) if isinstance(v, (int, float)) or hasattr(v, 'item') else v
        for k, v in (metrics or {}).items()
    }


def write_record(record: Dict[str, Any], run_dir: str) -> str:
    """Write ``record`` as ``run_dir/metrics.json`` (indented JSON); return the path."""
    path = osp.join(run_dir, RECORD_NAME)
    dump(jsonable(record), path, indent=2)  # mmengine's dump creates run_dir
    return path


def record_files(path: str) -> List[str]:
    """The record files of a work dir (``*/metrics.json`` and its own), or ``[path]``."""
    if osp.isfile(path):
        return [path]
    return sorted(
        glob.glob(osp.join(path, '*', RECORD_NAME)) + glob.glob(osp.join(path, RECORD_NAME))
    )


def read_records(paths: Sequence[str], scored_only: bool = True) -> List[Dict[str, Any]]:
    """The records under ``paths`` (work dirs or metrics.json files), oldest first.

    Each record gets ``_run`` (the work dir's name) and ``_path``. Records without metrics
    (``--format-only`` runs) are skipped when ``scored_only``.

    Raises:
        FileNotFoundError: a path holds no record (the message says how to make one).
    """
    found = []
    for path in paths:
        files = record_files(path)
        if not files:
            raise FileNotFoundError(
                f'{path}: no {RECORD_NAME}; run tools/test.py CONFIG CHECKPOINT --work-dir '
                f'{path} first'
            )
        for f in files:
            rec = load(f, file_format='json')
            if scored_only and not rec.get('metrics'):
                continue
            run_dir = path if osp.isdir(path) else osp.dirname(osp.dirname(f))
            rec.update(_run=osp.basename(osp.normpath(run_dir)), _path=f)
            found.append(rec)
    return sorted(found, key=lambda r: r.get('timestamp', ''))


def latest_per_protocol(records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The latest record per (run, checkpoint, protocol) of time-ordered ``records``."""
    latest: Dict[str, Dict[str, Any]] = {}
    for rec in records:
        key = json.dumps([rec['_run'], rec.get('checkpoint'), rec.get('protocol')], sort_keys=True)
        latest[key] = rec
    return list(latest.values())


def demo_summary(work: str, train_s: int, total_s: int, procs: str) -> str:
    """The closing summary of ``make demo``: the latest single-scale and TTA results."""
    recs = read_records([work])
    single = [r for r in recs if not r['protocol']['tta']][-1]
    tta = [r for r in recs if r['protocol']['tta']][-1]
    m = single['metrics']
    per_class = ', '.join(f'{c} {v}' for c, v in single['per_class']['IoU'].items())
    lines = [
        f'demo done in {total_s} s (data + training: {train_s} s, {procs} processes)',
        f"validation mIoU {m['mIoU']:.2f} (single scale), "
        f"{tta['metrics']['mIoU']:.2f} (multi-scale + flip); aAcc {m['aAcc']:.2f}",
        f'per-class IoU: {per_class}',
        f'work dir      : {work}',
        f"checkpoint    : {single['checkpoint']}",
        f"metrics (JSON): {single['_path']}",
        f"predictions   : {single.get('show_dir')}",
        f"curves        : {osp.join(work, 'curves.png')}",
        f"leaderboard   : {osp.join(work, 'leaderboard', 'leaderboard.md')} (.csv, .png)",
    ]
    return '\n'.join(['', '=' * 72, *lines, '=' * 72])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m wider_mm.evaluation.record WORK_DIR``: print the demo summary."""
    p = argparse.ArgumentParser(prog='python -m wider_mm.evaluation.record')
    p.add_argument('work_dir')
    p.add_argument('--train-s', type=int, default=0)
    p.add_argument('--total-s', type=int, default=0)
    p.add_argument('--procs', default='1')
    args = p.parse_args(argv)
    try:
        print(demo_summary(args.work_dir, args.train_s, args.total_s, args.procs))
    except (FileNotFoundError, IndexError, KeyError) as e:
        msg = f'record: {args.work_dir} holds no single-scale and TTA record ({e})'
        raise SystemExit(msg) from None
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
