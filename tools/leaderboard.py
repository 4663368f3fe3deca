"""Collect the test results of many work dirs into one table beside the paper's numbers.

Reads the ``WORK_DIR/*/metrics.json`` records that ``tools/test.py`` writes (one per test
run: metrics, protocol, model, data set) and writes a Markdown table, a CSV and a bar
chart (PNG). The published numbers come from the model zoo (``model-index.yml`` and the
configs' ``metafile.yaml``, through :data:`wider_mm.evaluation.PUBLISHED`): those of every
data set present are listed, and put beside a result when they are comparable: same data
set with its full class list (a class subset, as in the demo, gets no comparison). A result
of a zoo config is compared with that model's own published number (or, where none was
published, with its ``Compare With`` baseline, listed too); other results with the paper's
number for the same variant. The latest record per (checkpoint, protocol) is used.

Example:
    python tools/leaderboard.py work_dirs/voc_a1 work_dirs/voc_a1_tta work_dirs/cs_a2 \\
        --out-dir work_dirs/leaderboard
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import os.path as osp
import sys
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence

from wider_mm.evaluation.published import DATASET_KEYS, find_published
from wider_mm.evaluation.record import latest_per_protocol, read_records
from wider_mm.zoo import model_for_config

#: Number of classes of the official benchmarks (published numbers are for these).
FULL_CLASSES = {
    'voc12': (21,),
    'cityscapes': (19,),
    'ade20k': (150,),
    'pascal_context': (59, 60),
    'imagenet': (1000,),
}
COLUMNS = [
    'source',
    'run',
    'dataset',
    'split',
    'classes',
    'model',
    'protocol',
    'metric',
    'value',
    'published',
    'delta',
    'published_setting',
]


def load_records(paths: Sequence[str]) -> List[Dict[str, Any]]:
    """Records of ``paths`` (work dirs or metrics.json files), latest per protocol."""
    return latest_per_protocol(read_records(paths))


def _model_name(model: Dict[str, Any]) -> str:
    if model.get('type') != 'WiderResNet':
        return str(model.get('type', '?'))
    name = f"WRN-{model.get('depth', 38)} {str(model.get('variant', 'a1')).upper()}"
    wf = model.get('widen_factor', 1)
    if wf != 1:
        name += f' x{Fraction(wf).limit_denominator(64)}'
    if model.get('output_stride') and model.get('output_stride') != 32:
        name += f" OS{model['output_stride']}"
    return name


def _protocol_name(p: Dict[str, Any]) -> str:
    parts = []
    if p.get('tta'):
        scales = ','.join(str(s) for s in p.get('scales') or [])
        parts.append(f'multi-scale [{scales}]' + (' + flip' if p.get('flip') else ''))
    else:
        parts.append('single scale')
    if p.get('mode') == 'slide':
        parts.append(f"slide {p.get('crop_size')}/{p.get('stride')}")
    return ', '.join(parts)


def _split_of(rec: Dict[str, Any]) -> str:
    if rec.get('split'):  # tools/cam.py records it (CAMs are scored on train and val)
        return rec['split']
    ds = rec.get('dataset', {})
    text = f"{ds.get('ann_file') or ''} {json.dumps(ds.get('data_prefix') or {})}".lower()
    return 'test' if 'test' in text else 'val'


def _ours(rec: Dict[str, Any]) -> List[tuple]:
    """(metric, value) pairs of a record, errors for classification."""
    m = rec['metrics']
    if rec.get('task') == 'cam':  # tools/cam.py
        return [('CAM mIoU', float(m['CAM mIoU']))] if 'CAM mIoU' in m else []
    if rec.get('scope') == 'mmpretrain':
        out = []
        for k, name in (('accuracy/top1', 'top1_err'), ('accuracy/top5', 'top5_err')):
            if k in m:
                out.append((name, round(100 - float(m[k]), 2)))
        return out
    return [(k, float(m[k])) for k in ('mIoU', 'mAcc', 'aAcc') if k in m]


def build_rows(records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (result, metric), then the published rows of the data sets present."""
    rows: List[Dict[str, Any]] = []
    datasets, baselines = [], []
    for rec in records:
        ds = rec.get('dataset', {})
        key = DATASET_KEYS.get(ds.get('type'), ds.get('type'))
        if key not in datasets:
            datasets.append(key)
        n_cls = len(ds.get('classes') or [])
        comparable = n_cls in FULL_CLASSES.get(key, ())
        split = _split_of(rec)
        variant = str(rec.get('model', {}).get('variant', '')).upper()
        zoo = model_for_config(rec.get('config') or '')
        if zoo is not None and zoo.name not in baselines:
            baselines.append(zoo.name)
        for metric, value in _ours(rec):
            row = dict(
                source='ours',
                run=rec['_run'],
                dataset=key,
                split=split,
                classes=n_cls or '',
                model=_model_name(rec.get('model', {})),
                protocol=_protocol_name(rec.get('protocol', {})),
                metric=metric,
                value=round(value, 2),
                published='',
                delta='',
                published_setting='',
            )
            if comparable:
                cands = []
                if zoo is not None:  # the zoo model's own number, else its baseline
                    cands = find_published(
                        key, metric, split=split, zoo_model=zoo.name
                    ) or find_published(
                        key, metric, split=split, zoo_model=zoo.name, kind='baseline'
                    )
                cands = (
                    cands
                    or find_published(key, metric, model=variant, split=split)
                    or find_published(key, metric, split=split)
                )
                if cands:
                    p = cands[0]
                    row.update(
                        published=p.value,
                        delta=round(value - p.value, 2),
                        published_setting=f'{p.model}, {p.training}, {p.protocol}',
                    )
            elif key in FULL_CLASSES:
                row['published_setting'] = (
                    f'not comparable: {n_cls} of ' f'{FULL_CLASSES[key][0]} classes'
                )
            rows.append(row)
    for key in datasets:
        shown = find_published(key) + [
            p for name in baselines for p in find_published(key, kind='baseline', zoo_model=name)
        ]
        for p in shown:
            rows.append(
                dict(
                    source='paper' if p.kind == 'result' else 'baseline',
                    run='',
                    dataset=p.dataset,
                    split=p.split,
                    classes=FULL_CLASSES.get(p.dataset, ('',))[0],
                    model=p.model,
                    protocol=p.protocol,
                    metric=p.metric,
                    value=p.value,
                    published='',
                    delta='',
                    published_setting=p.training,
                )
            )
    return rows


def to_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    head = [
        'source',
        'run',
        'dataset',
        'split',
        'classes',
        'model',
        'protocol',
        'metric',
        'value',
        'published',
        'Δ',
        'published setting',
    ]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r[c] for c in COLUMNS]
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(lines) + '\n'


def draw_chart(rows: Sequence[Dict[str, Any]], out: str) -> str:
    """Horizontal bars: our results (blue) and the published numbers (orange), per metric."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    metrics = []
    for r in rows:
        if r['metric'] not in metrics and r['metric'] in ('mIoU', 'top1_err'):
            metrics.append(r['metric'])
    metrics = metrics or [rows[0]['metric']]
    panels = [[r for r in rows if r['metric'] == m] for m in metrics]
    height = max(2.5, 0.35 * max(len(p) for p in panels) + 1.2)
    fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), height), squeeze=False)
    for ax, metric, panel in zip(axes[0], metrics, panels):
        labels = [
            (
                f"{r['run']}: {r['model']}, {r['protocol']}"
                + (
                    f" ({r['published_setting'][16:]})"
                    if r['published_setting'].startswith('not comparable')
                    else ''
                )
                if r['source'] == 'ours'
                else f"paper: {r['dataset']} {r['split']}, {r['model']}, "
                f"{r['published_setting']}, {r['protocol']}"
            )
            for r in panel
        ]
        colours = ['tab:blue' if r['source'] == 'ours' else 'tab:orange' for r in panel]
        ys = range(len(panel))[::-1]
        ax.barh(list(ys), [r['value'] for r in panel], color=colours)
        for y, r in zip(ys, panel):
            ax.text(r['value'], y, f" {r['value']:.2f}", va='center', fontsize=7)
        ax.set_yticks(list(ys))
        ax.set_yticklabels([lab[:90] for lab in labels], fontsize=7)
        ax.set_xlabel(metric + (' (%, lower is better)' if metric.endswith('_err') else ' (%)'))
        ax.set_xlim(0, 105)
        ax.grid(axis='x', alpha=0.3)
    fig.suptitle('ours (blue) vs published (orange)', fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
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
        records = load_records(args.paths)
    except FileNotFoundError as e:
        print(f'leaderboard.py: error: {e}', file=sys.stderr)
        return 2
    if not records:
        print(
            'leaderboard.py: error: the metrics.json files hold no metrics (only '
            '--format-only runs?)',
            file=sys.stderr,
        )
        return 2
    rows = build_rows(records)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, args.name)
    md = to_markdown(rows)
    with open(stem + '.md', 'w') as f:
        f.write(md)
    with open(stem + '.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    draw_chart(rows, stem + '.png')
    print(md)
    print(f'leaderboard written to {stem}.md, {stem}.csv and {stem}.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
