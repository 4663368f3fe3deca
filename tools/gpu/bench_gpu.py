"""GPU benchmark: Wider ResNet-38 A1 (stride 8) vs ResNet-101-D8, DeepLabV3, with plain torch.

For a GPU machine that has torch but none of the OpenMMLab packages and no
network. The Wider ResNet is the project's own module
(``wider_mm/models/backbones/wider_resnet.py``, loaded by file path: it needs only torch,
``mmengine`` and ``mmcv``'s pure-Python part, carried as wheels, see run_gpu_bench.sh).
Everything mmseg would provide is re-written here in plain torch, because mmseg (and
mmcv's compiled ops that it imports) cannot be installed there:

* ``ResNetV1c`` -101 with ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
  contract_dilation=True`` (mmseg's ``deeplabv3_r101-d8``), with mmseg's ``with_cp``;
* mmseg's ``ASPPHead`` (dilations 1/12/24/36, 512 channels, image pooling) and
  ``FCNHead`` auxiliary head (1 conv, 256 channels, loss weight 0.4), cross-entropy
  with ignore index 255 on logits resized to the label size.

The module and parameter NAMES mirror mmseg's, so mmseg's state dict loads into these
models strictly; tests/tools/test_benchmark.py checks that the outputs then agree with
mmseg's own models (``deeplabv3_r101-d8`` and ``configs/_base_/models/deeplabv3_wrn38a1-d8``).

Both models get the same heads (DeepLabV3 + FCN auxiliary) so only the backbone differs.
Per model and variant (``base``, ``with_cp``, ``channels_last``, ``compile`` joined with
``+``): training step = forward + backward + SGD step under autocast (bf16 by default),
median step time over interleaved rounds, images/s; peak memory =
``torch.cuda.max_memory_allocated`` during a step, each model measured alone. Writes
``gpu_bench.json`` and ``gpu_bench.md`` into ``--out-dir``.

Examples::

    python tools/gpu/bench_gpu.py --out-dir $OUT                      # 512x1024, batch 2
    python tools/gpu/bench_gpu.py --device cpu --size 64 128 --width 0.125 --out-dir /tmp/g
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BACKBONE_DIR = osp.join(ROOT, 'wider_mm', 'models', 'backbones')
BACKBONE_FILE = osp.join(BACKBONE_DIR, 'wider_resnet.py')
VARIANT_OPTIONS = ('with_cp', 'channels_last', 'compile')


def load_wider_resnet():
    """Import ``wider_resnet.py`` by path, without the ``wider_mm`` package (and its mm*
    registrations): needs only torch, mmengine and mmcv (lite). Its folder is loaded as a
    package, so that its relative import of ``memory_efficient.py`` works."""
    spec = importlib.util.spec_from_file_location(
        'wider_resnet_standalone',
        osp.join(BACKBONE_DIR, '__init__.py'),
        submodule_search_locations=[BACKBONE_DIR],
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its submodules' relative imports look it up there
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        raise SystemExit(
            f'bench_gpu: cannot import {BACKBONE_FILE}: {e}. It needs mmengine and mmcv '
            '(mmcv-lite is enough): run tools/gpu/run_gpu_bench.sh, which installs the '
            'wheels fetched by `bash tools/gpu/run_gpu_bench.sh --fetch`.'
        ) from e
    return module.WiderResNet


class ConvModule(nn.Sequential):
    """conv (no bias) -> BN -> ReLU, named like mmcv's ConvModule (conv, bn, activate)."""

    def __init__(self, cin: int, cout: int, k: int, *, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU(inplace=True)


class Bottleneck(nn.Module):
    """mmseg's ResNet bottleneck (style 'pytorch': stride on the 3x3), with ``with_cp``."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        dilation: int,
        downsample: Optional[nn.Module],
    ):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = False

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return y + (x if self.downsample is None else self.downsample(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            y = cp.checkpoint(self._inner, x, use_reentrant=False)
        else:
            y = self._inner(x)
        return self.relu(y)


class ResNetV1c(nn.Module):
    """mmseg's ``ResNetV1c`` (deep stem) for depth 50/101, ``style='pytorch'``."""

    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

    def __init__(
        self,
        depth: int = 101,
        width: float = 1.0,
        strides: Sequence[int] = (1, 2, 1, 1),
        dilations: Sequence[int] = (1, 1, 2, 4),
        out_indices=(0, 1, 2, 3),
    ):
        super().__init__()
        stem = max(2, int(round(64 * width)))
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem // 2, stem // 2, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem // 2, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.out_indices = tuple(out_indices)
        inplanes, self.out_channels = stem, []
        for i, (n, s, d) in enumerate(zip(self.blocks[depth], strides, dilations)):
            planes = stem * 2**i
            down = None
            if s != 1 or inplanes != planes * 4:
                down = nn.Sequential(
                    nn.Conv2d(inplanes, planes * 4, 1, stride=s, bias=False),
                    nn.BatchNorm2d(planes * 4),
                )
            first_dilation = d // 2 if d > 1 else d  # contract_dilation=True
            layer = [Bottleneck(inplanes, planes, s, first_dilation, down)]
            inplanes = planes * 4
            layer += [Bottleneck(inplanes, planes, 1, d, None) for _ in range(1, n)]
            self.add_module(f'layer{i + 1}', nn.Sequential(*layer))
            self.out_channels.append(inplanes)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.maxpool(self.stem(x))
        outs = []
        for i in range(4):
            x = getattr(self, f'layer{i + 1}')(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


class ASPPHead(nn.Module):
    """mmseg's ``ASPPHead`` (DeepLabV3), input ``inputs[in_index]``."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        num_classes: int,
        in_index: int,
        dilations: Sequence[int] = (1, 12, 24, 36),
        dropout: float = 0.1,
    ):
        super().__init__()
        self.in_index = in_index
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), ConvModule(in_channels, channels, 1)
        )
        self.aspp_modules = nn.ModuleList(
            ConvModule(
                in_channels, channels, 1 if d == 1 else 3, padding=0 if d == 1 else d, dilation=d
            )
            for d in dilations
        )
        self.bottleneck = ConvModule((len(dilations) + 1) * channels, channels, 3, padding=1)
        self.dropout = nn.Dropout2d(dropout)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = inputs[self.in_index]
        pooled = F.interpolate(
            self.image_pool(x), size=x.shape[2:], mode='bilinear', align_corners=False
        )
        x = torch.cat([pooled] + [m(x) for m in self.aspp_modules], dim=1)
        return self.conv_seg(self.dropout(self.bottleneck(x)))


class FCNHead(nn.Module):
    """mmseg's ``FCNHead`` with ``num_convs=1, concat_input=False`` (the auxiliary head)."""

    def __init__(
        self, in_channels: int, channels: int, num_classes: int, in_index: int, dropout: float = 0.1
    ):
        super().__init__()
        self.in_index = in_index
        self.convs = nn.Sequential(ConvModule(in_channels, channels, 3, padding=1))
        self.dropout = nn.Dropout2d(dropout)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.conv_seg(self.dropout(self.convs(inputs[self.in_index])))


class DeepLabV3(nn.Module):
    """Backbone + ASPP decode head + FCN auxiliary head, mmseg's loss (weights 1 and 0.4)."""

    def __init__(
        self,
        backbone: nn.Module,
        channels: Sequence[int],
        width: float,
        num_classes: int = 19,
        decode_index: int = 3,
        aux_index: int = 2,
    ):
        super().__init__()
        self.backbone = backbone
        self.decode_head = ASPPHead(
            channels[decode_index], max(1, int(round(512 * width))), num_classes, decode_index
        )
        self.auxiliary_head = FCNHead(
            channels[aux_index], max(1, int(round(256 * width))), num_classes, aux_index
        )

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits of both heads at the backbone's stride."""
        feats = self.backbone(x)
        return self.decode_head(feats), self.auxiliary_head(feats)

    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """mmseg's training loss: CE on logits resized (bilinear) to the labels."""
        total = 0.0
        for logits, weight in zip(self(x), (1.0, 0.4)):
            logits = F.interpolate(
                logits, size=labels.shape[1:], mode='bilinear', align_corners=False
            )
            total = total + weight * F.cross_entropy(logits.float(), labels, ignore_index=255)
        return total


def build(name: str, width: float, num_classes: int = 19) -> DeepLabV3:
    """``wrn38a1-d8`` (as configs/_base_/models/deeplabv3_wrn38a1-d8.py) or ``r101-d8``."""
    if name == 'r101-d8':
        backbone = ResNetV1c(101, width)
        return DeepLabV3(backbone, backbone.out_channels, width, num_classes)
    if name == 'wrn38a1-d8':
        WiderResNet = load_wider_resnet()
        backbone = WiderResNet(
            depth=38,
            variant='a1',
            output_stride=8,
            contract_dilation=True,
            out_indices=(2, 3, 4, 6),
            widen_factor=width,
            norm_cfg=dict(type='BN', eps=1.001e-5, requires_grad=True),
        )
        backbone.init_weights()
        return DeepLabV3(backbone, backbone.out_channels, width, num_classes)
    raise SystemExit(f'bench_gpu: unknown model {name!r}; known: wrn38a1-d8, r101-d8')


def parse_variant(text: str) -> Tuple[str, ...]:
    """``'with_cp+channels_last'`` -> options; ``'base'`` -> ()."""
    opts = () if text == 'base' else tuple(text.split('+'))
    bad = [o for o in opts if o not in VARIANT_OPTIONS]
    if bad:
        raise SystemExit(
            f'bench_gpu: unknown variant option(s) {bad}; use base or a '
            f'+-joined list of {list(VARIANT_OPTIONS)}'
        )
    return opts


class Entry:
    """A model with its optimizer, data and switchable variant options."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.device = torch.device(args.device)
        self.model = build(name, args.width).to(self.device).train()
        self.optim = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4
        )
        g = torch.Generator().manual_seed(0)
        h, w = args.size
        self.x = torch.randn(args.batch, 3, h, w, generator=g).to(self.device)
        self.y = torch.randint(0, 19, (args.batch, h, w), generator=g).to(self.device)
        self.amp = (
            None
            if args.amp == 'none'
            else getattr(torch, {'bf16': 'bfloat16', 'fp16': 'float16'}[args.amp])
        )
        self.scaler = torch.amp.GradScaler(enabled=args.amp == 'fp16')
        self._compiled: Dict[bool, Callable] = {}

    def set_variant(self, variant: Tuple[str, ...]) -> None:
        """Switch the options on (and the others off)."""
        for m in self.model.backbone.modules():
            if isinstance(getattr(m, 'with_cp', None), bool):
                m.with_cp = 'with_cp' in variant
        fmt = torch.channels_last if 'channels_last' in variant else torch.contiguous_format
        self.model.to(memory_format=fmt)
        for state in self.optim.state.values():
            for k, v in state.items():
                if torch.is_tensor(v) and v.dim() == 4:
                    state[k] = v.contiguous(memory_format=fmt)
        self.x = self.x.contiguous(memory_format=fmt)
        self.forward_loss = self.model.loss
        if 'compile' in variant:
            key = 'with_cp' in variant
            if key not in self._compiled:
                self._compiled[key] = torch.compile(self.model.loss)
            self.forward_loss = self._compiled[key]

    def step(self) -> None:
        """forward + backward + SGD step, under autocast."""
        with torch.autocast(
            self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None
        ):
            loss = self.forward_loss(self.x, self.y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optim)
        self.scaler.update()
        self.optim.zero_grad(set_to_none=True)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace) -> dict:
    """Memory (each model alone) then interleaved timing; returns the result dict."""
    variants = [parse_variant(v) for v in args.variants]
    cuda = args.device.startswith('cuda')
    rows: Dict[Tuple[str, str], dict] = {}
    # 1. peak memory: one model resident at a time, so the peak is that model's alone.
    for name in args.models:
        entry = Entry(name, args)
        params = sum(p.numel() for p in entry.model.parameters())
        for v in variants:
            key = (name, '+'.join(v) or 'base')
            entry.set_variant(v)
            t0 = time.perf_counter()
            entry.step()  # warm-up; allocates momentum buffers (and compiles)
            _sync(entry.device)
            first = time.perf_counter() - t0
            row = dict(
                model=name,
                variant=key[1],
                params_m=params / 1e6,
                first_step_s=first,
                peak_mem_gib=None,
                step_mem_gib=None,
                reserved_gib=None,
            )
            if cuda:
                torch.cuda.reset_peak_memory_stats(entry.device)
                before = torch.cuda.memory_allocated(entry.device)
                entry.step()
                _sync(entry.device)
                gib = 2.0**30
                row['peak_mem_gib'] = torch.cuda.max_memory_allocated(entry.device) / gib
                row['step_mem_gib'] = row['peak_mem_gib'] - before / gib
                row['reserved_gib'] = torch.cuda.max_memory_reserved(entry.device) / gib
            rows[key] = row
            print(f'[bench_gpu] memory {key}: {row}', flush=True)
        del entry
        if cuda:
            torch.cuda.empty_cache()
    # 2. time: all models resident, every (model, variant) once per round.
    entries = {name: Entry(name, args) for name in args.models}
    times: Dict[Tuple[str, str], List[float]] = {k: [] for k in rows}
    for r in range(args.warmup + args.repeats):
        for name, entry in entries.items():
            for v in variants:
                entry.set_variant(v)
                _sync(entry.device)
                t0 = time.perf_counter()
                entry.step()
                _sync(entry.device)
                if r >= args.warmup:
                    times[(name, '+'.join(v) or 'base')].append(time.perf_counter() - t0)
    for key, t in times.items():
        rows[key]['step_s'] = statistics.median(t)
        rows[key]['step_s_all'] = t
        rows[key]['img_s'] = args.batch / rows[key]['step_s']
    _ratios(list(rows.values()), args.models[-1] if len(args.models) > 1 else None)
    info = dict(
        torch=torch.__version__,
        python=platform.python_version(),
        device=args.device,
        cpu=platform.processor() or platform.machine(),
        date=datetime.datetime.now().isoformat(timespec='seconds'),
    )
    if cuda:
        info['gpu'] = torch.cuda.get_device_name(args.device)
        info['cuda'] = torch.version.cuda
    return dict(
        machine=info,
        settings=dict(
            size=list(args.size),
            batch=args.batch,
            width=args.width,
            amp=args.amp,
            warmup=args.warmup,
            repeats=args.repeats,
            optimizer='SGD lr 0.01 momentum 0.9 wd 5e-4',
        ),
        rows=list(rows.values()),
    )


def _ratios(rows: List[dict], baseline: Optional[str]) -> None:
    base = {r['model']: r for r in rows if r['variant'] == 'base'}
    ref = base.get(baseline)
    for r in rows:
        b = base[r['model']]
        r['time_vs_base'] = statistics.median(
            x / y for x, y in zip(r['step_s_all'], b['step_s_all'])
        )
        r['mem_vs_base'] = (
            r['peak_mem_gib'] / b['peak_mem_gib']
            if r['peak_mem_gib'] and b['peak_mem_gib']
            else None
        )
        if ref is not None and r['model'] != baseline:
            r[f'time_vs_{baseline}'] = statistics.median(
                x / y for x, y in zip(r['step_s_all'], ref['step_s_all'])
            )
            r[f'mem_vs_{baseline}'] = (
                r['peak_mem_gib'] / ref['peak_mem_gib']
                if r['peak_mem_gib'] and ref['peak_mem_gib']
                else None
            )


def markdown(result: dict) -> str:
    """The rows as a markdown table with the machine line."""
    m, s = result['machine'], result['settings']
    where = m.get('gpu') or f'{m["cpu"]} CPU'
    lines = [
        f'Measured on {where} (torch {m["torch"]}, CUDA {m.get("cuda", "-")}), '
        f'{m["date"]}: {s["size"][0]}x{s["size"][1]}, batch {s["batch"]}, width '
        f'{s["width"]}, autocast {s["amp"]}, {s["optimizer"]}; median of '
        f'{s["repeats"]} interleaved steps after {s["warmup"]} warm-up rounds.',
        '',
    ]
    # ratios to the baseline model: time_vs_<name>, mem_vs_<name> (time first)
    extra = sorted(
        {
            k
            for r in result['rows']
            for k in r
            if k.startswith(('time_vs_', 'mem_vs_')) and not k.endswith('_vs_base')
        },
        key=lambda k: (k.split('_vs_')[1], not k.startswith('time')),
    )
    head = [
        'model',
        'variant',
        'params (M)',
        'step (s)',
        'img/s',
        'peak mem (GiB)',
        'step adds (GiB)',
        'time vs base',
        'mem vs base',
    ] + [k.replace('_vs_', ' vs ') for k in extra]
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]

    def f(x, fmt):
        return '-' if x is None else format(x, fmt)

    for r in result['rows']:
        cells = [
            r['model'],
            r['variant'],
            f(r['params_m'], '.1f'),
            f(r['step_s'], '.3f'),
            f(r['img_s'], '.2f'),
            f(r['peak_mem_gib'], '.2f'),
            f(r['step_mem_gib'], '.2f'),
            f(r['time_vs_base'], '.2f'),
            f(r['mem_vs_base'], '.2f'),
        ]
        cells += [f(r.get(k), '.2f') for k in extra]
        lines.append('| ' + ' | '.join(cells) + ' |')
    if not result['machine'].get('gpu'):
        lines += ['', 'No GPU: memory is measured only on CUDA (max_memory_allocated).']
    return '\n'.join(lines) + '\n'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('--device', default='cuda')
    p.add_argument('--size', type=int, nargs=2, default=[512, 1024], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--width', type=float, default=1.0, help='width multiplier (tests: 0.125)')
    p.add_argument(
        '--models',
        nargs='+',
        default=['wrn38a1-d8', 'r101-d8'],
        help='the last one is the baseline of the ratios',
    )
    p.add_argument(
        '--variants',
        nargs='+',
        default=['base', 'with_cp'],
        help=f'base or +-joined {list(VARIANT_OPTIONS)}',
    )
    p.add_argument('--amp', choices=('bf16', 'fp16', 'none'), default='bf16')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--out-dir', default=os.environ.get('OUT', 'work_dirs/gpu_bench'))
    args = p.parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error('--device cuda but torch sees no GPU (use --device cpu for a smoke run)')
    if 'base' not in args.variants:
        p.error('--variants must include base')
    if args.batch < 2:
        p.error(
            '--batch must be >= 2: the ASPP image-pooling branch normalises a 1x1 map '
            '(BatchNorm, as in mmseg), which needs 2 or more samples in training'
        )
    for v in args.variants:
        parse_variant(v)
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run, write gpu_bench.json / gpu_bench.md, print the table."""
    args = parse_args(argv)
    torch.manual_seed(0)
    if args.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    result = measure(args)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'gpu_bench.json'), 'w') as f:
        json.dump(result, f, indent=1)
    table = markdown(result)
    with open(osp.join(args.out_dir, 'gpu_bench.md'), 'w') as f:
        f.write(table)
    print(table)
    return result


if __name__ == '__main__':
    main()
