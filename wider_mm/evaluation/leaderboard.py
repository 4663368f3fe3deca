"""Test results of many work dirs in one table beside the published numbers.

The results are the ``metrics.json`` records of ``tools/test.py`` and ``tools/cam.py``,
read through :mod:`wider_mm.evaluation.record`; the published numbers are the model zoo's
(the metafiles, through :mod:`wider_mm.evaluation.published`). Those of every data set
present are listed, and put beside a result when they are comparable: same data set with
its full class list (a class subset, as in the demo, gets no comparison). A result of a zoo
config is compared with that model's own published number (or, where none was published,
with its ``Compare With`` baseline, listed too); other results with the paper's number for
the same variant. The latest record per (run, checkpoint, protocol) is used.

``tools/leaderboard.py`` writes the table as Markdown, CSV and a bar chart
(:func:`write_leaderboard`).
"""

from __future__ import annotations

import csv
import json
import os
import os.path as osp
from fractions import Fraction
from typing import Any, Dict, List, Sequence, Tuple

from ..zoo import model_for_config
from .published import DATASET_KEYS, find_published
from .record import latest_per_protocol, read_records

#: Number of classes of the official benchmarks (published numbers are for these).
FULL_CLASSES = {
    'voc12': (21,),
    'cityscapes': (19,),
    'ade20k': (150,),
    'pascal_context': (59, 60),
    'imagenet': (1000,),
}
#: The row keys (and the CSV header), in table order.
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
#: Their Markdown headers.
HEADERS = COLUMNS[:-2] + ['Δ', 'published setting']


def load_records(paths: Sequence[str]) -> List[Dict[str, Any]]:
    """Records of ``paths`` (work dirs or metrics.json files), latest per protocol."""
    return latest_per_protocol(read_records(paths))


def model_name(model: Dict[str, Any]) -> str:
    """'WRN-38 A1 x1/2 OS8' for a record's ``model`` (the backbone type otherwise)."""
    if model.get('type') != 'WiderResNet':
        return str(model.get('type', '?'))
    name = f"WRN-{model.get('depth', 38)} {str(model.get('variant', 'a1')).upper()}"
    wf = model.get('widen_factor', 1)
    if wf != 1:
        name += f' x{Fraction(wf).limit_denominator(64)}'
    if model.get('output_stride') and model.get('output_stride') != 32:
        name += f" OS{model['output_stride']}"
    return name


def protocol_name(p: Dict[str, Any]) -> str:
    """'single scale' or 'multi-scale [scales] + flip', with the sliding window if any."""
    parts = []
    if p.get('tta'):
        scales = ','.join(str(s) for s in p.get('scales') or [])
        parts.append(f'multi-scale [{scales}]' + (' + flip' if p.get('flip') else ''))
    else:
        parts.append('single scale')
    if p.get('mode') == 'slide':
        parts.append(f"slide {p.get('crop_size')}/{p.get('stride')}")
    return ', '.join(parts)


def split_of(rec: Dict[str, Any]) -> str:
    """The split a record was scored on: its own ``split``, else 'test' or 'val' by name."""
    if rec.get('split'):  # tools/cam.py records it (CAMs are scored on train and val)
        return rec['split']
    ds = rec.get('dataset', {})
    text = f"{ds.get('ann_file') or ''} {json.dumps(ds.get('data_prefix') or {})}".lower()
    return 'test' if 'test' in text else 'val'


def our_metrics(rec: Dict[str, Any]) -> List[Tuple[str, float]]:
    """(metric, value) pairs of a record; classification accuracies as error rates."""
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


def _published_for(key: str, metric: str, split: str, variant: str, zoo: Any) -> list:
    """The published rows a result is compared with, best match first."""
    cands = []
    if zoo is not None:  # the zoo model's own number, else its baseline
        cands = find_published(key, metric, split=split, zoo_model=zoo.name) or find_published(
            key, metric, split=split, zoo_model=zoo.name, kind='baseline'
        )
    return (
        cands
        or find_published(key, metric, model=variant, split=split)
        or find_published(key, metric, split=split)
    )


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
        split = split_of(rec)
        variant = str(rec.get('model', {}).get('variant', '')).upper()
        zoo = model_for_config(rec.get('config') or '')
        if zoo is not None and zoo.name not in baselines:
            baselines.append(zoo.name)
        for metric, value in our_metrics(rec):
            row = dict.fromkeys(COLUMNS, '')
            row.update(
                source='ours',
                run=rec['_run'],
                dataset=key,
                split=split,
                classes=n_cls or '',
                model=model_name(rec.get('model', {})),
                protocol=protocol_name(rec.get('protocol', {})),
                metric=metric,
                value=round(value, 2),
            )
            cands = _published_for(key, metric, split, variant, zoo) if comparable else []
            if cands:
                p = cands[0]
                row.update(
                    published=p.value,
                    delta=round(value - p.value, 2),
                    published_setting=f'{p.model}, {p.training}, {p.protocol}',
                )
            elif not comparable and key in FULL_CLASSES:
                row['published_setting'] = (
                    f'not comparable: {n_cls} of {FULL_CLASSES[key][0]} classes'
                )
            rows.append(row)
    for key in datasets:
        shown = find_published(key) + [
            p for name in baselines for p in find_published(key, kind='baseline', zoo_model=name)
        ]
        for p in shown:
            row = dict.fromkeys(COLUMNS, '')
            row.update(
                source='paper' if p.kind == 'result' else 'baseline',
                dataset=p.dataset,
                split=p.split,
                classes=FULL_CLASSES.get(p.dataset, ('',))[0],
                model=p.model,
                protocol=p.protocol,
                metric=p.metric,
                value=p.value,
                published_setting=p.training,
            )
            rows.append(row)
    return rows


def to_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """The rows as a Markdown table (prettytable's, the table library mmseg uses)."""
    from prettytable import PrettyTable, TableStyle

    table = PrettyTable(HEADERS)
    table.add_rows([[r[c] for c in COLUMNS] for r in rows])
    table.set_style(TableStyle.MARKDOWN)
    table.align = 'l'
    return table.get_string() + '\n'


def write_csv(rows: Sequence[Dict[str, Any]], path: str) -> str:
    """The rows as CSV (header: :data:`COLUMNS`); return ``path``."""
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


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


def write_leaderboard(
    paths: Sequence[str], out_dir: str, name: str = 'leaderboard'
) -> Tuple[str, List[str]]:
    """The leaderboard of ``paths`` as ``out_dir/name.{md,csv,png}``.

    Returns:
        ``(markdown, files)``: the Markdown table and the three files written.

    Raises:
        FileNotFoundError: a path holds no record (the message says how to make one).
        ValueError: the records hold no metrics (only ``--format-only`` runs).
    """
    records = load_records(paths)
    if not records:
        raise ValueError('the metrics.json files hold no metrics (only --format-only runs?)')
    rows = build_rows(records)
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.join(out_dir, name)
    md = to_markdown(rows)
    with open(stem + '.md', 'w') as f:
        f.write(md)
    files = [stem + '.md', write_csv(rows, stem + '.csv'), draw_chart(rows, stem + '.png')]
    return md, files
