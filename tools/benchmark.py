"""Benchmark a model and its memory-saving variants against mmseg's / mmpretrain's ResNets.

Time (interleaved rounds), images/s, FLOPs and training/inference memory (CPU: a fresh
process per row; CUDA: ``max_memory_allocated``) of a config, or of a ``WiderResNet`` spec
swapped into the baseline's model; see :mod:`wider_mm.analysis.bench` for what is measured.
Writes ``benchmark.json``, ``benchmark.md`` and ``benchmark.png`` into ``--out-dir``.

Examples::

    # WRN-38 A1 d8 (DeepLabV3 head) vs mmseg's deeplabv3_r101-d8, 128x128, batch 2:
    python tools/benchmark.py configs/_base_/models/deeplabv3_wrn38a1-d8.py \\
        --size 128 128 --variants base with_cp memory_efficient --out-dir work_dirs/bench
    # a backbone spec swapped into the baseline's model (same heads):
    python tools/benchmark.py --backbone depth=38,variant=a1,output_stride=8 --task seg ...
    # classification vs mmpretrain's ResNet-101 and ResNet-152:
    python tools/benchmark.py configs/classification/wrn38a1_8xb32_in1k.py --size 224 224 ...
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import torch

from wider_mm.analysis import bench, report
from wider_mm.engine.launch import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (checked)."""
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1],
    )
    p.add_argument('config', nargs='?', help='mmseg or mmpretrain config of the candidate')
    p.add_argument(
        '--backbone',
        help='WiderResNet kwargs swapped into the baseline model, '
        'e.g. depth=38,variant=a1,output_stride=8 (heads fitted)',
    )
    p.add_argument('--task', choices=('seg', 'cls'), help='default: from the config')
    p.add_argument('--name', help='label of the candidate (default: config name)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    p.add_argument('--baseline', nargs='+', help=f'baseline configs (default {bench.BASELINES})')
    p.add_argument('--baseline-cfg-options', nargs='+', action=DictAction, default={})
    p.add_argument('--no-baseline', action='store_true', help='measure the candidate only')
    p.add_argument('--size', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=2)
    p.add_argument(
        '--variants',
        nargs='+',
        default=['base', 'with_cp'],
        help=f'candidate variants: base, or +-joined {list(bench.OPTIONS)}',
    )
    p.add_argument('--baseline-variants', nargs='+', default=['base'])
    p.add_argument(
        '--infer-variants',
        nargs='+',
        default=['base'],
        help='variants whose inference is also timed and measured',
    )
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--mem-repeats', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, help="torch threads (default: torch's)")
    p.add_argument('--no-flops', action='store_true', help='skip the FLOP count')
    p.add_argument('--no-memory', action='store_true', help='skip the memory measurement')
    p.add_argument('--worker-timeout', type=float, default=3600.0)
    p.add_argument('--out-dir', required=True)
    p.add_argument('--force', action='store_true', help='overwrite outputs in --out-dir')
    args = p.parse_args(argv)
    if min(args.size) < 32 or args.batch < 1 or args.repeats < 1 or args.warmup < 0:
        p.error('need --size >= 32 32, --batch >= 1, --repeats >= 1, --warmup >= 0')
    if 'base' not in args.variants:
        p.error('--variants must include base (ratios are taken against it)')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error('--device cuda but torch sees no GPU; use --device cpu')
    if bool(args.config) == bool(args.backbone):
        p.error('give a CONFIG or --backbone SPEC (exactly one)')
    if args.backbone and not args.task:
        p.error('--backbone needs --task seg or --task cls (which baseline model to use)')
    existing = report.existing_outputs(args.out_dir, 'benchmark')
    if existing and not args.force:
        p.error(f'{args.out_dir} already has {existing}; pass --force to overwrite them')
    for v in args.variants + args.baseline_variants + args.infer_variants:
        bench.parse_variant(v)
    return args


def make_specs(args: argparse.Namespace) -> List[bench.ModelSpec]:
    """The candidate and the baselines named on the command line."""
    if args.config:
        task = args.task or bench.detect_task(bench.load_cfg(args.config))
        label = args.name or osp.splitext(osp.basename(args.config))[0]
        cand = bench.ModelSpec(label, 'candidate', task, args.config, None, args.cfg_options)
    else:
        task, backbone = args.task, bench.parse_backbone_spec(args.backbone)
        label = args.name or 'WRN ' + ','.join(f'{k}={v}' for k, v in backbone.items())
        cand = bench.ModelSpec(label, 'candidate', task, None, backbone, args.cfg_options)
    baselines = [] if args.no_baseline else args.baseline or bench.BASELINES[task]
    return [cand] + [
        bench.ModelSpec(
            osp.splitext(osp.basename(b))[0], 'baseline', task, b, None, args.baseline_cfg_options
        )
        for b in baselines
    ]


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Measure, write the three outputs, print the markdown report."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # random-data training must not hit slow denormals
    opts = bench.BenchOptions(
        size=tuple(args.size),
        batch=args.batch,
        device=args.device,
        variants=args.variants,
        baseline_variants=args.baseline_variants,
        infer_variants=args.infer_variants,
        warmup=args.warmup,
        repeats=args.repeats,
        mem_repeats=args.mem_repeats,
        flops=not args.no_flops,
        memory=not args.no_memory,
        worker_timeout=args.worker_timeout,
    )
    result = bench.run_benchmark(make_specs(args), opts)
    paths = report.write_report(
        result, args.out_dir, 'benchmark', **bench.report_args(result), with_plot=True
    )
    print(result['markdown'])
    print('[benchmark] wrote ' + ', '.join(paths), file=sys.stderr)
    return result


if __name__ == '__main__':
    run_tool(lambda: main(), 'benchmark')
