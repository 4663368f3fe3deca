"""GPU benchmark: WiderResNet-38 A1-D8 vs torchvision's deeplabv3_resnet101, same heads.

The baseline is torchvision's ``deeplabv3_resnet101`` (ResNet-101, output stride 8,
``DeepLabHead`` ASPP on layer4, ``FCNHead`` auxiliary on layer3). The candidate is this
package's ``WiderResNet`` (depth 38, Model A1, output stride 8, as
``configs/_base_/models/wrn38a1_backbone.py``) under the same torchvision ``DeepLabHead``
(on B7) and ``FCNHead`` (on B5). It needs torch, torchvision, mmengine and mmcv's
pure-Python part (mmcv-lite): ``tools/gpu/run_gpu_bench.sh`` installs those from wheels.

Training step = forward + cross-entropy (main + 0.4 auxiliary) + backward + SGD step under
autocast (bf16 by default), measured by :mod:`wider_mm.analysis.bench`: interleaved rounds
for time, ``torch.cuda.max_memory_allocated`` with one model resident at a time for memory
(CUDA only). Variants (``+``-joined): ``with_cp``, ``memory_efficient`` (WiderResNet only),
``channels_last``, ``compile``. Writes ``gpu_bench.json``, ``gpu_bench.md`` and
``gpu_bench.png`` into ``--out-dir``.

Examples::

    bash tools/gpu/run_gpu_bench.sh --out-dir $OUT                       # 512x1024, batch 2
    python tools/gpu/bench_gpu.py --device cpu --size 64 64 --width 0.0625 --out-dir /tmp/g
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import warnings
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
warnings.filterwarnings('ignore', message='wider_mm: mm')  # no mmseg/mmpretrain: not needed
from wider_mm.analysis import bench, report  # noqa: E402
from wider_mm.models.backbones.wider_resnet import WiderResNet  # noqa: E402

MODELS = ('wrn38a1-d8', 'deeplabv3_resnet101')


class Features(nn.Module):
    """WiderResNet's B5 and B7 outputs as the ``{'aux', 'out'}`` dict torchvision reads."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        aux, out = self.body(x)
        return {'aux': aux, 'out': out}


def build(name: str, width: float = 1.0, num_classes: int = 19) -> nn.Module:
    """torchvision's ``deeplabv3_resnet101``, or its ``DeepLabV3`` on WRN-38 A1-D8 (width
    ``width``; torchvision's ResNet has no width option)."""
    from torchvision.models.segmentation import deeplabv3_resnet101
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
    from torchvision.models.segmentation.fcn import FCNHead

    if name == 'deeplabv3_resnet101':
        return deeplabv3_resnet101(
            weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=True
        )
    norm_cfg = dict(type='BN', eps=1.001e-5, requires_grad=True)
    body = WiderResNet(38, 'a1', output_stride=8, out_indices=(4, 6), widen_factor=width,
                       norm_cfg=norm_cfg)  # fmt: skip
    body.init_weights()
    aux_c, out_c = body.out_channels
    return DeepLabV3(Features(body), DeepLabHead(out_c, num_classes), FCNHead(aux_c, num_classes))


class SegSubject(bench.Subject):
    """A torchvision segmentation model with SGD and random data, for the bench API."""

    def __init__(self, name: str, role: str, args: argparse.Namespace):
        self.label, self.role, self.device = name, role, args.device
        self.model = build(name, args.width).to(args.device).train()
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4
        )
        g = torch.Generator().manual_seed(0)
        h, w = args.size
        self.x = torch.randn(args.batch, 3, h, w, generator=g).to(args.device)
        self.y = torch.randint(0, 19, (args.batch, h, w), generator=g).to(args.device)
        self.dtype = torch.bfloat16 if args.amp == 'bf16' else None

    def _forward(self) -> Dict[str, torch.Tensor]:
        kind = self.device.split(':')[0]
        with torch.autocast(kind, dtype=self.dtype, enabled=self.dtype is not None):
            return self.model(self.x.contiguous(memory_format=self.memory_format))

    def train_step(self, autocast) -> None:
        """Forward, main + 0.4 auxiliary cross-entropy, backward, SGD step."""
        out = self._forward()
        loss = sum(
            w * F.cross_entropy(out[k].float(), self.y) for k, w in (('out', 1), ('aux', 0.4))
        )
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def infer_step(self, autocast) -> None:
        """Not used: the GPU benchmark times training."""
        raise NotImplementedError


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (checked)."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('--device', default='cuda')
    p.add_argument('--size', type=int, nargs=2, default=[512, 1024], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--width', type=float, default=1.0, help='WiderResNet width (smoke runs)')
    p.add_argument('--amp', choices=('bf16', 'none'), default='bf16')
    p.add_argument(
        '--variants',
        nargs='+',
        help='WRN variants (base, or +-joined options)',
        default=['base', 'memory_efficient', 'with_cp', 'with_cp+memory_efficient'],
    )
    p.add_argument('--baseline-variants', nargs='+', default=['base'])
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--out-dir', default=os.environ.get('OUT', 'work_dirs/gpu_bench'))
    args = p.parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error('--device cuda but torch sees no GPU (use --device cpu for a smoke run)')
    if 'base' not in args.variants or 'base' not in args.baseline_variants:
        p.error('--variants and --baseline-variants must include base')
    if args.batch < 2:
        p.error('--batch must be >= 2: BatchNorm on the ASPP pooling branch needs 2 samples')
    for v in args.variants + args.baseline_variants:
        if 'bf16' in bench.parse_variant(v):
            p.error(f'{v}: autocast is --amp, not a variant')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Memory (CUDA, one model at a time), then interleaved timing; write the report."""
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = args.device.startswith('cuda')
    roles = {
        MODELS[0]: ('candidate', args.variants),
        MODELS[1]: ('baseline', args.baseline_variants),
    }
    plan_names = [(n, bench.parse_variant(v)) for n, (_, vs) in roles.items() for v in vs]
    memory = []
    for name, variant in plan_names:
        if args.device.startswith('cuda'):
            memory.append(bench.measure_memory(
                lambda n=name: SegSubject(n, roles[n][0], args), args.device, variant,
                ['train'], 1))  # fmt: skip
            torch.cuda.empty_cache()
        else:
            memory.append({})
    subjects = {n: SegSubject(n, role, args) for n, (role, _) in roles.items()}
    plan = [(subjects[n], v) for n, v in plan_names]
    train = bench.interleaved_times(plan, 'train', args.warmup, args.repeats)
    cx = {id(s): s.complexity() for s in subjects.values()}
    result = dict(
        machine=report.machine(args.device),
        settings=dict(vars(args), memory_method='torch.cuda.max_memory_allocated (CUDA only)'),
        rows=bench.records(plan, cx, train, {}, memory, args.batch),
    )
    columns = [
        c
        for c in bench.table_columns(result['rows'])
        if 'infer' not in c.key and 'gflops' not in c.key
    ]
    intro = bench.describe(result['settings']) + f' Autocast: {args.amp}; WRN width {args.width}.'
    report.write_report(result, args.out_dir, 'gpu_bench', columns, intro, with_plot=True)
    print(result['markdown'])
    return result


if __name__ == '__main__':
    main()
