"""Parameters and FLOPs of the Wider ResNet family beside ResNet-101/152, in one table.

For every depth (16/20/38) x variant (Model A/A1/A2) of :class:`wider_mm.WiderResNet`:
  * at 224x224 with output stride 32 (classification), and
  * at 512x512 with output stride 8 (segmentation),
beside the backbones users compare against, measured in the same run:
  * mmseg's ``ResNetV1c-101`` at stride 8, as in ``deeplabv3_r101-d8``
    (``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``), at 512x512;
  * mmpretrain's ``ResNet-101`` and ``ResNet-152`` at 224x224.

Counting is mmengine's ``get_model_complexity_info`` (fvcore's counter): it counts ONE
FLOP PER MULTIPLY-ADD, so its "FLOPs" are multiply-adds ("MACs"). Only the backbone is
counted (no classifier, no decode head); the ``+FC-1000`` column adds the 1000-way linear
classifier's parameters (``C * 1000 + 1000``) to the 224 rows. Counts are properties of the
network, not of the machine that counts them.

Usage::

    python tools/analysis/model_complexity.py --out docs/complexity.md
    python tools/analysis/model_complexity.py --width 0.0625 --depths 16 --variants a1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

#: The paper's reference (WIDER_RESNET.md section 2): backbone parameters (conv + BN
#: affine) at full width, and multiply-adds of d38 Model A at 224x224.
REFERENCE_PARAMS = {38: 105_070_912, 20: 78_515_520, 16: 59_635_008}
REFERENCE_D38A_GMACS = 49.5

DEPTH_CHOICES = (16, 20, 38)
VARIANT_CHOICES = ('a', 'a1', 'a2')
BASELINE_CHOICES = ('r101-d8', 'r101', 'r152')


@dataclass
class Row:
    """One line of the table (one backbone at one input size)."""

    model: str
    source: str
    input_size: int
    output_stride: int
    params: int
    params_fc1000: Optional[int]
    gflops: float
    mactivations: float
    seconds: float


def _width(c: int, w: float) -> int:
    return max(1, int(round(c * w)))


def measure(
    name: str,
    source: str,
    build: Callable[[], nn.Module],
    size: int,
    output_stride: int,
    fc_in: Optional[int],
) -> Row:
    """Build a backbone and count its parameters, FLOPs and activations at ``size``.

    Args:
        name: Label of the row.
        source: Which library the model comes from.
        build: Returns the backbone.
        size: Square input size.
        output_stride: For the label only (the model is built with it).
        fc_in: Channels of the final feature (for the ``+FC-1000`` column), or None.

    Returns:
        Row: the counts.
    """
    from mmengine.analysis import get_model_complexity_info

    model = build()
    model.eval()  # not chained: mmseg's ResNet.train() returns None
    start = time.perf_counter()
    with torch.no_grad():
        info = get_model_complexity_info(
            model, inputs=(torch.randn(1, 3, size, size),), show_table=False, show_arch=False
        )
    params = sum(p.numel() for p in model.parameters())
    return Row(
        model=name,
        source=source,
        input_size=size,
        output_stride=output_stride,
        params=params,
        params_fc1000=None if fc_in is None else params + fc_in * 1000 + 1000,
        gflops=info['flops'] / 1e9,
        mactivations=info['activations'] / 1e6,
        seconds=time.perf_counter() - start,
    )


def builders(
    depths: Sequence[int],
    variants: Sequence[str],
    width: float,
    cls_size: int,
    seg_size: int,
    baselines: Sequence[str] = BASELINE_CHOICES,
) -> List[dict]:
    """The list of what to measure: keyword arguments of :func:`measure`."""
    from wider_mm.models.backbones.wider_resnet import WiderResNet

    jobs = []
    for size, stride in ((cls_size, 32), (seg_size, 8)):
        for depth in depths:
            for variant in variants:

                def build(depth=depth, variant=variant, stride=stride) -> nn.Module:
                    return WiderResNet(
                        depth=depth, variant=variant, output_stride=stride, widen_factor=width
                    )

                jobs.append(
                    dict(
                        name=f'WRN-{depth} {variant.upper()}' + (' d8' if stride == 8 else ''),
                        source='wider_mm',
                        build=build,
                        size=size,
                        output_stride=stride,
                        fc_in=_width(4096, width) if stride == 32 else None,
                    )
                )
    c = _width(64, width)

    def r101_d8() -> nn.Module:
        from mmseg.models.backbones import ResNetV1c

        return ResNetV1c(
            depth=101,
            stem_channels=c,
            base_channels=c,
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            contract_dilation=True,
            out_indices=(3,),
        )

    if 'r101-d8' in baselines:
        jobs.append(
            dict(
                name='ResNetV1c-101 d8 (deeplabv3_r101-d8)',
                source='mmseg',
                build=r101_d8,
                size=seg_size,
                output_stride=8,
                fc_in=None,
            )
        )
    for depth in (101, 152):
        if f'r{depth}' not in baselines:
            continue

        def resnet(depth=depth) -> nn.Module:
            from mmpretrain.models.backbones import ResNet

            return ResNet(depth=depth, stem_channels=c, base_channels=c, out_indices=(3,))

        jobs.append(
            dict(
                name=f'ResNet-{depth}',
                source='mmpretrain',
                build=resnet,
                size=cls_size,
                output_stride=32,
                fc_in=c * 32,
            )
        )
    return jobs


def _fmt_int(n: Optional[int]) -> str:
    return '-' if n is None else f'{n:,}'


def reference_checks(rows: Sequence[Row], width: float, cls_size: int) -> List[str]:
    """Compare the counts with the paper's numbers (only meaningful at full width)."""
    if width != 1.0:
        return [f'- Width {width}: the reference numbers are for full width; not compared.']
    lines = []
    for depth, ref in REFERENCE_PARAMS.items():
        got = {r.params for r in rows if r.model.startswith(f'WRN-{depth} ')}
        if got:
            ok = 'match' if got == {ref} else f'({sorted(got)}) DIFFER from'
            lines.append(
                f'- WRN-{depth} (every variant, every stride): backbone parameters '
                f'{ok} the reference {ref:,}.'
            )
    for row in rows:
        if row.model == 'WRN-38 A' and cls_size == 224:
            diff = 100 * (row.gflops - REFERENCE_D38A_GMACS) / REFERENCE_D38A_GMACS
            verdict = 'agrees' if abs(diff) < 1 else 'does NOT agree'
            lines.append(
                f'- WRN-38 Model A at 224x224: mmengine counts {row.gflops:.2f} G (one FLOP '
                f'per multiply-add), the reference says about {REFERENCE_D38A_GMACS} G '
                f'multiply-adds: {verdict} ({diff:+.1f}%). This is with max-pool padding 1 '
                '(the default, as MAP/NV).'
            )
    return lines


def markdown(rows: Sequence[Row], width: float, extra: Sequence[str]) -> str:
    """Render the rows as a markdown table, plus the reference checks and notes."""
    head = (
        '| backbone | from | input | output stride | params | params +FC-1000 | '
        'GFLOPs (= G multiply-adds) | activations (M) |'
    )
    lines = [head, '|' + '---|' * 8]
    for r in rows:
        lines.append(
            f'| {r.model} | {r.source} | {r.input_size}x{r.input_size} | '
            f'{r.output_stride} | {_fmt_int(r.params)} | '
            f'{_fmt_int(r.params_fc1000)} | {r.gflops:.2f} | {r.mactivations:.1f} |'
        )
    lines += ['', f'Width multiplier: {width} (WRN widths and ResNet stem/base channels).']
    lines += list(extra)
    return '\n'.join(lines) + '\n'


def _machine() -> str:
    cpu = platform.processor() or 'CPU'
    try:
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpu = ', no GPU' if not torch.cuda.is_available() else ''
    return f'a {os.cpu_count()}-core {platform.machine()} machine ({cpu}{gpu})'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('--out', help='also write the markdown table to this file')
    p.add_argument('--force', action='store_true', help='overwrite --out if it exists')
    p.add_argument(
        '--width',
        type=float,
        default=1.0,
        help='width multiplier for every model (default 1.0; small for tests)',
    )
    p.add_argument(
        '--depths', type=int, nargs='+', default=list(DEPTH_CHOICES), choices=DEPTH_CHOICES
    )
    p.add_argument('--variants', nargs='+', default=list(VARIANT_CHOICES), choices=VARIANT_CHOICES)
    p.add_argument('--cls-size', type=int, default=224, help='classification input size')
    p.add_argument('--seg-size', type=int, default=512, help='segmentation input size')
    p.add_argument(
        '--baselines',
        nargs='*',
        default=list(BASELINE_CHOICES),
        choices=BASELINE_CHOICES,
        help='reference backbones to count beside (default: all; none: no value)',
    )
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: all)')
    args = p.parse_args(argv)
    if args.width <= 0:
        p.error(f'--width must be > 0, got {args.width}')
    if min(args.cls_size, args.seg_size) < 32:
        p.error('--cls-size/--seg-size must be >= 32 (the networks down-sample 32x)')
    if args.out and os.path.exists(args.out) and not args.force:
        p.error(f'{args.out} exists; pass --force to overwrite it')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Run the counts, print the table, optionally write it; return rows and table."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import wider_mm  # noqa: F401  (registers the backbone; applies the stack fixes)

    rows = []
    for job in builders(
        args.depths, args.variants, args.width, args.cls_size, args.seg_size, args.baselines
    ):
        row = measure(**job)
        print(
            f'[complexity] {row.model} @{row.input_size}: {row.params:,} params, '
            f'{row.gflops:.2f} GFLOPs ({row.seconds:.1f} s)',
            file=sys.stderr,
        )
        rows.append(row)
    notes = reference_checks(rows, args.width, args.cls_size)
    if args.width == 1.0 and 'a' in args.variants and 38 in args.depths and args.cls_size == 224:
        from wider_mm.models.backbones.wider_resnet import WiderResNet

        pad0 = measure(
            'WRN-38 A (pool padding 0)',
            'wider_mm',
            lambda: WiderResNet(38, 'a', pool_padding=0),
            224,
            32,
            None,
        )
        notes.append(
            f"- Note: with max-pool padding 0 (ADE's released Model A weights) "
            f'the 224x224 count is {pad0.gflops:.2f} G (feature maps 111/55/27/13/6 '
            'instead of 112/56/28/14/7).'
        )
    notes.append(
        f'- Counted with mmengine.analysis.get_model_complexity_info on {_machine()} '
        f'(torch {torch.__version__}, Python {platform.python_version()}); counts are '
        'properties of the networks and do not depend on the machine.'
    )
    table = markdown(rows, args.width, ['', *notes])
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table)
    return dict(rows=[asdict(r) for r in rows], table=table)


if __name__ == '__main__':
    main()
