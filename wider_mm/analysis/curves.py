"""Training curves of a run: mmengine's logged scalars, read back and drawn as one PNG.

mmengine's ``LocalVisBackend`` writes ``WORK_DIR/TIMESTAMP/vis_data/scalars.json`` (one
JSON object per logged step). A resumed run writes a new TIMESTAMP folder: the folders are
read in order and a later one takes over from its first step on. ``tools/plot_curves.py``
is the command line. mmengine only writes these files; mmseg's and mmpretrain's
``tools/analysis_tools/analyze_logs.py`` (scripts, not importable) draw one curve per JSON
file given and do not join the folders of a resumed run.

Example::

    >>> from wider_mm.analysis.curves import plot_curves, read_scalars, summary
    >>> plot_curves('work_dirs/demo')  # writes work_dirs/demo/curves.png
    >>> summary(*read_scalars('work_dirs/demo'))  # the final loss, the best mIoU
"""

from __future__ import annotations

import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

#: Validation metrics plotted by default (the first ones the run has).
METRIC_KEYS = ('mIoU', 'mAcc', 'aAcc', 'accuracy/top1', 'accuracy/top5')
Series = Dict[str, List[Tuple[int, float]]]


def read_scalars(work_dir: str) -> Tuple[Series, Series]:
    """Return (train, val) series ``{key: [(step, value), ...]}`` of a work dir.

    Raises:
        FileNotFoundError: ``work_dir`` holds no ``*/vis_data/scalars.json``.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'{work_dir}: no */vis_data/scalars.json; is it the work dir of a training run '
            "with mmengine's LocalVisBackend (the default runtimes' vis_backends)?"
        )
    train: Series = {}
    val: Series = {}
    for path in files:
        rows = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
        rows = [r for r in rows if 'step' in r]
        if not rows:
            continue
        train_rows = [r for r in rows if 'lr' in r or any('loss' in k for k in r)]
        val_rows = [r for r in rows if r not in train_rows]
        for series, part in ((train, train_rows), (val, val_rows)):
            if not part:
                continue
            first = min(int(r['step']) for r in part)
            for key in list(series):  # a resumed run replaces what follows its start
                series[key] = [(s, v) for s, v in series[key] if s < first]
            for r in part:
                for k, v in r.items():
                    if k != 'step' and isinstance(v, (int, float)):
                        series.setdefault(k, []).append((int(r['step']), float(v)))
    return train, val


def plot_curves(
    work_dir: str, out: Optional[str] = None, keys: Optional[Sequence[str]] = None
) -> str:
    """Draw the curves of ``work_dir`` into ``out`` (default ``WORK_DIR/curves.png``).

    Args:
        work_dir: A training run's work dir.
        out: PNG path.
        keys: Scalars to plot (train or val keys). Default: every loss, ``lr`` and the
            validation metrics of :data:`METRIC_KEYS` the run has.

    Returns:
        str: The PNG path.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    train, val = read_scalars(work_dir)
    if keys is None:
        keys = [k for k in train if k == 'loss' or k.endswith('loss') or '.loss' in k]
        keys += [k for k in ('lr',) if k in train]
        keys += [k for k in METRIC_KEYS if k in val]
    unknown = [k for k in keys if k not in train and k not in val]
    if unknown:
        raise KeyError(
            f'{work_dir} has no scalars {unknown}; it has train {sorted(train)} '
            f'and val {sorted(val)}'
        )
    groups = [
        ('loss', [k for k in keys if 'loss' in k]),
        ('learning rate', [k for k in keys if k == 'lr' or k.endswith('lr')]),
        ('validation', [k for k in keys if k in val]),
    ]
    groups = [(t, ks) for t, ks in groups if ks]
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), squeeze=False)
    for ax, (title, ks) in zip(axes[0], groups):
        for k in ks:
            pts = (train if k in train else val)[k]
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker='o' if k in val else None, markersize=3, label=k)
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if title == 'learning rate':
            ax.ticklabel_format(axis='y', style='sci', scilimits=(-2, 2))
    fig.suptitle(osp.basename(osp.normpath(work_dir)), fontsize=10)
    fig.tight_layout()
    out = out or osp.join(work_dir, 'curves.png')
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def summary(train: Series, val: Series) -> str:
    """The final training loss and the best of the first :data:`METRIC_KEYS` metric the run
    logged, as ``'final loss L (iter I), best mIoU M (iter J)'`` (``''`` when neither is)."""
    parts = []
    if 'loss' in train:
        parts.append(f"final loss {train['loss'][-1][1]:.4f} (iter {train['loss'][-1][0]})")
    for k in METRIC_KEYS:
        if k in val:
            step, best = max(val[k], key=lambda sv: sv[1])
            parts.append(f'best {k} {best:.2f} (iter {step})')
            break
    return ', '.join(parts)
