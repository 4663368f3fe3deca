"""The one report writer and machine description of every tool that reports numbers.

``tools/benchmark.py``, ``tools/analysis/model_complexity.py`` and ``tools/gpu/bench_gpu.py``
write their results through :func:`write_report`: ``NAME.json`` (everything, with the
machine), ``NAME.md`` (machine line, one table, notes) and, for benchmarks, ``NAME.png``.
Tables are rendered by ``tabulate`` (GitHub markdown). Imports only the standard library,
mmengine and (lazily) tabulate / matplotlib, so the GPU script can use it with mmengine and
mmcv-lite alone.

Example::

    >>> from wider_mm.analysis.report import Column, markdown_table
    >>> print(markdown_table([dict(model='WRN-38', gflops=49.55)],
    ...                      [Column('model', 'model'), Column('GFLOPs', 'gflops', '.1f')]))
    | model   |   GFLOPs |
    |---------|----------|
    | WRN-38  |     49.6 |
"""

from __future__ import annotations

import datetime
import os
import os.path as osp
import platform
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

#: collect_env keys left out of the machine description (not about the machine).
_ENV_SKIP = ('numpy_random_seed', 'PyTorch compiling details')


@dataclass(frozen=True)
class Column:
    """One table column: header, row key and format (``'-'`` for a missing value)."""

    header: str
    key: str
    fmt: str = ''


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str = 'cpu') -> Dict[str, Any]:
    """What the numbers were measured on: mmengine's ``collect_env`` plus the CPU.

    Args:
        device: The torch device the tool measured on (``'cpu'``, ``'cuda'``, ...).

    Returns:
        dict: collect_env's entries (PyTorch, CUDA, GPU names, GCC, ...) and ``cpu``,
        ``arch``, ``cores``, ``threads`` (torch's), ``ram_gib``, ``device``, ``date``.
    """
    import torch
    from mmengine.utils.dl_utils import collect_env

    info = {k: str(v) for k, v in collect_env().items() if k not in _ENV_SKIP}
    info.update(
        cpu=cpu_model(),
        arch=platform.machine(),
        cores=os.cpu_count(),
        threads=torch.get_num_threads(),
        device=device,
        date=datetime.datetime.now().isoformat(timespec='seconds'),
    )
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(device)
    try:
        with open('/proc/meminfo') as f:
            info['ram_gib'] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def machine_line(info: Dict[str, Any]) -> str:
    """One sentence naming the machine, e.g. ``a 2-core x86_64 CPU (AMD EPYC), 1 torch
    thread(s), torch 2.14.1``."""
    where = f'a {info["cores"]}-core {info["arch"]} CPU ({info["cpu"]})'
    if info.get('gpu'):
        where = f'{info["gpu"]} ({where})'
    return (
        f'{where}, {info["threads"]} torch thread(s), torch {info.get("PyTorch", "?")}, '
        f'{info["date"]}'
    )


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return '-'
    return format(value, fmt) if fmt else str(value)


def markdown_table(rows: Sequence[Dict[str, Any]], columns: Sequence[Column]) -> str:
    """``rows`` as a GitHub markdown table of ``columns``."""
    from tabulate import tabulate

    cells = [[_cell(r.get(c.key), c.fmt) for c in columns] for r in rows]
    return tabulate(
        cells, headers=[c.header for c in columns], tablefmt='github', disable_numparse=True
    )


def plot(rows: Sequence[Dict[str, Any]], title: str, path: str) -> None:
    """Bar charts of benchmark rows: training step time, images/s, peak memory.

    Bars are labelled by variant and coloured by model; the part of the peak held before
    the step (weights, gradients, optimizer state) is hatched.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    models = list(dict.fromkeys(r['model'] for r in rows))
    colors = [f'C{models.index(r["model"])}' for r in rows]
    x = list(range(len(rows)))
    height = 4.2 + 0.22 * (len(models) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(max(9.0, 1.0 + 1.2 * len(rows)), height))
    peak = [r.get('train_peak_mb') or 0 for r in rows]
    panels = [
        ('train step (s)', [r['train_step_s'] for r in rows]),
        ('train images/s', [r['train_img_s'] for r in rows]),
        ('train peak memory (MiB)', peak),
    ]
    for ax, (name, values) in zip(axes, panels):
        ax.bar(x, values, color=colors)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels([r['variant'] for r in rows], rotation=45, ha='right', fontsize=8)
    held = [p - (r.get('train_step_mb') or 0) for p, r in zip(peak, rows)]
    axes[2].bar(x, held, color='none', edgecolor='k', hatch='//', linewidth=0.5)
    handles = [Patch(color=f'C{i}', label=m) for i, m in enumerate(models)]
    handles.append(Patch(facecolor='none', edgecolor='k', hatch='//', label='held before the step'))
    fig.legend(handles=handles, loc='lower center', ncol=1, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.22 * len(handles) / height + 0.02, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render(
    result: Dict[str, Any], columns: Sequence[Column], intro: str = '', notes: Sequence[str] = ()
) -> str:
    """The markdown report: machine line and ``intro``, the table of ``result['rows']``,
    ``notes``."""
    text = f'Measured on {machine_line(result["machine"])}. {intro}'.rstrip()
    text += '\n\n' + markdown_table(result['rows'], columns) + '\n'
    return text + ('\n' + '\n'.join(notes) + '\n' if notes else '')


def write_report(
    result: Dict[str, Any],
    out_dir: str,
    name: str,
    columns: Sequence[Column],
    intro: str = '',
    notes: Sequence[str] = (),
    with_plot: bool = False,
) -> List[str]:
    """Write ``NAME.json``, ``NAME.md`` (and ``NAME.png``) into ``out_dir``.

    Args:
        result: Everything measured; needs ``rows`` (a list of dicts) and ``machine``
            (from :func:`machine`). Saved whole as JSON; the rendered markdown is then
            added to it under ``markdown`` (for the caller to print).
        out_dir: Folder (created).
        name: File stem.
        columns: The markdown table's columns.
        intro: Text after the machine line (settings of the run).
        notes: Lines after the table.
        with_plot: Also draw :func:`plot` of the rows (benchmark rows).

    Returns:
        list: The paths written.
    """
    from mmengine.fileio import dump

    os.makedirs(out_dir, exist_ok=True)
    text = render(result, columns, intro, notes)
    paths = [osp.join(out_dir, f'{name}.{ext}') for ext in ('json', 'md')]
    dump(result, paths[0], indent=1)
    with open(paths[1], 'w') as f:
        f.write(text)
    if with_plot:
        paths.append(osp.join(out_dir, f'{name}.png'))
        info = result['machine']
        plot(result['rows'], f'{info.get("gpu") or info["cpu"]}: {intro.split(".")[0]}', paths[2])
    result['markdown'] = text
    return paths


def existing_outputs(out_dir: str, name: str, exts: Optional[Sequence[str]] = None) -> List[str]:
    """Which of ``NAME.json/.md/.png`` already exist in ``out_dir`` (to refuse overwriting)."""
    exts = exts or ('json', 'md', 'png')
    return [f'{name}.{e}' for e in exts if osp.exists(osp.join(out_dir, f'{name}.{e}'))]
