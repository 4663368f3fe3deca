"""Parameters and FLOPs of the Wider ResNet family beside ResNet-101/152 (backbones only).

For every depth (16/20/38) x variant (Model A/A1/A2) of :class:`wider_mm.WiderResNet`, at
the classification size with output stride 32 and the segmentation size with stride 8,
beside mmseg's ``ResNetV1c-101`` at stride 8 (as ``deeplabv3_r101-d8``) and mmpretrain's
``ResNet-101``/``ResNet-152``. Counting is mmengine's ``get_model_complexity_info``: ONE
FLOP PER MULTIPLY-ADD. The ``+FC-1000`` column adds a 1000-way linear classifier
(``C * 1000 + 1000``) to the stride-32 rows. :func:`count_all` returns the rows and the notes
that compare the counts with the paper's; ``tools/analysis/model_complexity.py`` writes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn as nn

from .report import Column

#: The paper's reference (WIDER_RESNET.md section 2): backbone parameters (conv + BN
#: affine) at full width, and multiply-adds of d38 Model A at 224x224.
REFERENCE_PARAMS = {38: 105_070_912, 20: 78_515_520, 16: 59_635_008}
REFERENCE_D38A_GMACS = 49.5

DEPTH_CHOICES = (16, 20, 38)
VARIANT_CHOICES = ('a', 'a1', 'a2')
BASELINE_CHOICES = ('r101-d8', 'r101', 'r152')
#: The report's table.
COLUMNS = [
    Column('backbone', 'model'),
    Column('from', 'source'),
    Column('input', 'input'),
    Column('output stride', 'output_stride'),
    Column('params', 'params', ','),
    Column('params +FC-1000', 'params_fc1000', ','),
    Column('GFLOPs (= G multiply-adds)', 'gflops', '.2f'),
    Column('activations (M)', 'mactivations', '.1f'),
]


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


def count_all(
    depths: Sequence[int] = DEPTH_CHOICES,
    variants: Sequence[str] = VARIANT_CHOICES,
    width: float = 1.0,
    cls_size: int = 224,
    seg_size: int = 512,
    baselines: Sequence[str] = BASELINE_CHOICES,
    log: Optional[Callable[[Row], None]] = None,
) -> tuple:
    """Count every backbone of :func:`builders`; return (rows, notes on the reference)."""
    rows = []
    for job in builders(depths, variants, width, cls_size, seg_size, baselines):
        rows.append(measure(**job))
        if log:
            log(rows[-1])
    notes = reference_checks(rows, width, cls_size)
    if width == 1.0 and 'a' in variants and 38 in depths and cls_size == 224:
        from wider_mm.models.backbones.wider_resnet import WiderResNet

        pad0 = measure(
            'WRN-38 A (pool padding 0)', 'wider_mm', lambda: WiderResNet(38, 'a', pool_padding=0),
            224, 32, None,
        )  # fmt: skip
        notes.append(
            f"- Note: with max-pool padding 0 (ADE's released Model A weights) the 224x224 "
            f'count is {pad0.gflops:.2f} G (feature maps 111/55/27/13/6 instead of '
            '112/56/28/14/7).'
        )
    notes.append(
        '- Counted with mmengine.analysis.get_model_complexity_info; counts are properties '
        'of the networks and do not depend on the machine.'
    )
    return rows, notes


def records(rows: Sequence[Row]) -> List[dict]:
    """The rows as report records (with an ``input`` column, e.g. ``'224x224'``)."""
    from dataclasses import asdict

    return [dict(asdict(r), input=f'{r.input_size}x{r.input_size}') for r in rows]
