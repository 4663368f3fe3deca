"""Benchmark a segmentation or classification model against mmseg's / mmpretrain's ResNets.

Measures, for a config (or a Wider ResNet backbone spec swapped into the baseline's model)
at one input size and batch:

* parameters and FLOPs (mmengine's ``get_model_complexity_info``: one FLOP per
  multiply-add; the inference path ``model(x, mode='tensor')``, batch 1);
* inference latency and images/s (``model.test_step``, no grad, eval mode);
* training-step time and images/s: ``model.train_step(data, optim_wrapper)``, i.e. what
  mmengine's training loop runs per iteration (data preprocessor, forward, losses,
  backward, optimizer step, zero_grad), with the config's own optimizer;
* peak memory of a training step and of inference. CPU: resident set size, each model x
  variant in a FRESH subprocess (``MALLOC_MMAP_THRESHOLD_`` fixed so freed tensors go back
  to the OS, and the kernel's high-water mark reset before each measured step through
  ``/proc/self/clear_refs``). GPU: ``torch.cuda.max_memory_allocated``.
  ``peak`` = everything the model holds at the step's peak (weights, gradients, optimizer
  state, activations, workspace; what GPU ``max_memory_allocated`` reports), ``step`` =
  the part that the step itself adds on top of what was resident just before it;

for memory-saving *variants* of the model, joined with ``+``:

* ``base``: as configured;
* ``with_cp``: activation checkpointing in every backbone unit (mmseg ResNet blocks too);
  ``with_cp:B2-B4``: only in the units of Wider ResNet blocks B2..B4;
* ``inplace``: in-place activations in the backbone;
* ``memory_efficient``: Wider ResNet units keep only each norm's input for the backward
  pass and recompute norm + activation there (``WiderResNet(memory_efficient=True)``);
* ``channels_last``: NHWC memory format for weights and activations;
* ``bf16``: bfloat16 autocast (``torch.autocast``), fp32 weights;
* ``compile``: ``torch.compile`` of the backbone (on this project's CPU machines, torch
  2.14.1's inductor aborts the process with a glibc heap error on the Wider ResNet training
  graph; inference compiles and runs; on a GPU machine it is worth measuring);

Median times over ``--repeats`` after ``--warmup`` steps. All variants and the baselines
run in the same process, INTERLEAVED step by step (round r: every model x variant once), so
load from other processes hits all of them alike; time ratios are medians of per-round
ratios. Outputs ``benchmark.json``, ``benchmark.md`` and ``benchmark.png`` in
``--out-dir``.

Examples::

    # WRN-38 A1 d8 (DeepLabV3 head) vs mmseg's deeplabv3_r101-d8, 128x128, batch 2:
    python tools/benchmark.py configs/_base_/models/deeplabv3_wrn38a1-d8.py \\
        --size 128 128 --batch 2 --variants base with_cp inplace channels_last \\
        --out-dir work_dirs/bench
    # a backbone spec swapped into the baseline's model (same heads):
    python tools/benchmark.py --backbone depth=38,variant=a1,output_stride=8 --task seg ...
    # classification vs mmpretrain's ResNet-101 and ResNet-152:
    python tools/benchmark.py configs/classification/wrn38a1_8xb32_in1k.py --size 224 224
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import datetime
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

#: The baselines of each task: mmseg's / mmpretrain's own configs.
BASELINES = {
    'seg': ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-40k_cityscapes-512x1024.py'],
    'cls': [
        'mmpretrain::resnet/resnet101_8xb32_in1k.py',
        'mmpretrain::resnet/resnet152_8xb32_in1k.py',
    ],
}
#: Optimizer when a (model-only) config has none: the libraries' default schedules
#: (mmseg schedule_*k.py; mmpretrain imagenet_bs256.py).
DEFAULT_OPTIM = {
    'seg': dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
    ),
    'cls': dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
    ),
}
SCOPES = {'seg': 'mmseg', 'cls': 'mmpretrain'}
OPTIONS = ('with_cp', 'memory_efficient', 'inplace', 'channels_last', 'bf16', 'compile')
OUTPUTS = ('benchmark.json', 'benchmark.md', 'benchmark.png')
# Fixed glibc thresholds for the memory subprocesses: with them every large tensor is its
# own mmap and goes back to the OS when freed, so the resident set follows live tensors
# (glibc's default raises the threshold at run time and keeps freed memory resident).
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536', 'MALLOC_TRIM_THRESHOLD_': '1048576'}


def fail(msg: str) -> None:
    """Exit with a clear message (a user error, not a bug)."""
    raise SystemExit(f'benchmark: error: {msg}')


# --------------------------------------------------------------------------- model specs


@dataclass
class ModelSpec:
    """What to build: a config, or a backbone spec swapped into a task's baseline model."""

    label: str
    role: str  # 'candidate' or 'baseline'
    task: str  # 'seg' or 'cls'
    config: Optional[str] = None
    backbone: Optional[dict] = None
    cfg_options: dict = field(default_factory=dict)


def resolve_config(path: str) -> str:
    """Resolve ``mmseg::x``/``mmpretrain::x`` to the packaged config file; check it exists."""
    m = re.match(r'^(\w+)::(.+)$', path)
    if m:
        import importlib

        try:
            pkg = importlib.import_module(m.group(1))
        except ImportError:
            fail(f'{path}: package {m.group(1)!r} is not installed')
        path = osp.join(osp.dirname(pkg.__file__), '.mim', 'configs', m.group(2))
    if not osp.isfile(path):
        fail(
            f'config {path} not found (give a file path, or mmseg::/mmpretrain:: followed '
            "by a path under that package's configs/)"
        )
    return path


def parse_backbone_spec(text: str) -> dict:
    """``'depth=38,variant=a1,output_stride=8'`` (or a JSON/dict literal) -> kwargs dict."""
    text = text.strip()
    if text.startswith('{'):
        try:
            spec = ast.literal_eval(text)
        except (ValueError, SyntaxError) as e:
            fail(f'--backbone {text!r} is not a dict literal: {e}')
        return dict(spec)
    spec = {}
    for item in filter(None, text.split(',')):
        if '=' not in item:
            fail(f'--backbone: {item!r} is not key=value (e.g. depth=38,variant=a1)')
        key, value = item.split('=', 1)
        try:
            spec[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            spec[key.strip()] = value.strip()
    return spec


def _walk(node: Any, fn: Callable[[dict], None]) -> None:
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            _walk(v, fn)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _walk(v, fn)


def _detect_task(cfg) -> str:
    scope = cfg.get('default_scope')
    for task, name in SCOPES.items():
        if scope == name:
            return task
    mtype = cfg.model.get('type', '')
    if mtype in ('ImageClassifier',):
        return 'cls'
    if 'EncoderDecoder' in mtype:
        return 'seg'
    fail(
        f'cannot tell whether model type {mtype!r} is segmentation or classification; '
        'pass --task seg or --task cls'
    )


def load_config(spec: ModelSpec, size: Tuple[int, int], device: str):
    """Load the spec's config, ready to build: no pretrained weights, BN instead of SyncBN.

    Returns:
        tuple: (model config, optim_wrapper config, list of notes on what was changed).
    """
    from mmengine.config import Config

    notes = []
    path = resolve_config(spec.config or BASELINES[spec.task][0])
    cfg = Config.fromfile(path)
    if spec.cfg_options:
        cfg.merge_from_dict(copy.deepcopy(spec.cfg_options))
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if spec.backbone is not None:
        _swap_backbone(model, spec.backbone, spec.task)
        notes.append(f'backbone {spec.backbone} swapped into {osp.basename(path)}')
    if 'data_preprocessor' not in model and cfg.get('data_preprocessor'):
        # What mmengine's Runner does with a top-level data_preprocessor.
        model['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    if spec.task == 'seg':
        model.setdefault('data_preprocessor', {})['size'] = tuple(size)
    if model.get('pretrained'):
        model['pretrained'] = None
    n_pre = []

    def strip(d: dict) -> None:
        if d.get('type') == 'SyncBN':
            d['type'] = 'BN'  # one process: SyncBN would only add a no-op
        init = d.get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
            n_pre.append(d.get('type'))
            d['init_cfg'] = None

    _walk(model, strip)
    if n_pre:
        notes.append(
            f'pretrained init_cfg dropped from {n_pre} (the benchmark needs no ' 'weights)'
        )
    optim = cfg.get('optim_wrapper')
    optim = copy.deepcopy(optim.to_dict() if hasattr(optim, 'to_dict') else optim)
    if not optim:
        optim = copy.deepcopy(DEFAULT_OPTIM[spec.task])
        notes.append(f'no optim_wrapper in the config: {optim["optimizer"]}')
    if optim.get('type') == 'AmpOptimWrapper' and device == 'cpu':
        optim['type'] = 'OptimWrapper'  # AmpOptimWrapper asserts a GPU; use the bf16 variant
        optim.pop('loss_scale', None)
        notes.append('AmpOptimWrapper -> OptimWrapper on CPU (use the bf16 variant)')
    return model, optim, notes


def _swap_backbone(model: dict, spec: dict, task: str) -> None:
    """Put ``WiderResNet(**spec)`` in ``model`` and fit the heads' ``in_channels`` to it."""
    from wider_mm.models.backbones.wider_resnet import WiderResNet

    spec = dict(spec)
    spec.setdefault('out_indices', (2, 3, 4, 6) if task == 'seg' else (6,))
    try:
        with torch.device('meta'):  # only the channel table is needed: allocate nothing
            channels = WiderResNet(**spec).out_channels
    except (TypeError, ValueError) as e:
        fail(f'--backbone {spec}: {e}')
    model['backbone'] = dict(type='WiderResNet', **spec)
    heads = ['decode_head', 'auxiliary_head'] if task == 'seg' else ['head']
    for key in heads:
        head = model.get(key)
        for h in head if isinstance(head, list) else [head]:
            if not h:
                continue
            idx = h.get('in_index', -1)
            h['in_channels'] = (
                [channels[i] for i in idx] if isinstance(idx, (list, tuple)) else channels[idx]
            )


def build_model(spec: ModelSpec, size: Tuple[int, int], device: str):
    """Build the model and its optim wrapper with the libraries' own builders.

    Returns:
        tuple: (model, optim_wrapper, notes).
    """
    from mmengine.config import ConfigDict
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    # init_weights() logs every parameter at INFO: keep the benchmark's output readable.
    MMLogger.get_instance('wider_mm_benchmark', log_level='WARNING')

    import wider_mm  # noqa: F401  (registers WiderResNet & co.)

    scope = SCOPES[spec.task]
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    model_cfg, optim_cfg, notes = load_config(spec, size, device)
    model = MODELS.build(ConfigDict(model_cfg))
    model.init_weights()
    model.to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    return model, optim_wrapper, notes


def make_batch(
    model: nn.Module, task: str, size: Tuple[int, int], batch: int, seed: int = 0
) -> dict:
    """A random batch packed by the libraries' own ``PackSegInputs`` / ``PackInputs``."""
    import numpy as np
    from mmengine.dataset import pseudo_collate

    h, w = size
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        meta = dict(img_shape=(h, w), ori_shape=(h, w))
        if task == 'seg':
            from mmseg.datasets.transforms import PackSegInputs

            n = model.decode_head.num_classes
            seg = rng.integers(0, n, (h, w)).astype(np.uint8)
            samples.append(
                PackSegInputs().transform(
                    dict(
                        img=img,
                        gt_seg_map=seg,
                        pad_shape=(h, w),
                        scale_factor=(1.0, 1.0),
                        flip=False,
                        flip_direction=None,
                        reduce_zero_label=False,
                        **meta,
                    )
                )
            )
        else:
            from mmpretrain.datasets.transforms import PackInputs

            n = model.head.num_classes
            samples.append(
                PackInputs().transform(dict(img=img, gt_label=int(rng.integers(n)), **meta))
            )
    return pseudo_collate(samples)


# ------------------------------------------------------------------------------ variants


def parse_variant(text: str) -> Tuple[str, ...]:
    """``'with_cp+channels_last'`` -> ``('with_cp', 'channels_last')``; ``'base'`` -> ()."""
    if text == 'base':
        return ()
    opts = tuple(text.split('+'))
    for o in opts:
        name = o.split(':')[0]
        if name not in OPTIONS:
            fail(
                f'unknown variant option {o!r} in {text!r}; options are base or a '
                f'+-joined list of {list(OPTIONS)} (with_cp:B2-B4 for some blocks)'
            )
        if ':' in o and (
            name != 'with_cp' or not re.fullmatch(r'B[2-7](-B[2-7])?', o.split(':', 1)[1])
        ):
            fail(f'{o!r}: only with_cp takes a block range, written with_cp:B2-B4')
    return opts


def _cp_blocks(opt: str) -> Optional[List[str]]:
    if ':' not in opt:
        return None
    lo, _, hi = opt.split(':', 1)[1].partition('-')
    lo, hi = int(lo[1:]), int((hi or lo)[1:])
    return [f'block{i}' for i in range(lo, hi + 1)]


class Subject:
    """A built model whose variant options can be switched on and off between steps.

    One instance per model keeps one copy of the weights, gradients and optimizer state
    for all its variants (each switch is outside the timed region): ``with_cp`` and
    ``inplace`` are the modules' own flags, ``channels_last`` converts weights and
    optimizer state, ``compile`` swaps in a compiled backbone (kept per variant), ``bf16``
    is an autocast context.
    """

    def __init__(self, spec: ModelSpec, size: Tuple[int, int], batch: int, device: str):
        self.spec = spec
        self.device = device
        self.model, self.optim_wrapper, self.notes = build_model(spec, size, device)
        self.data = make_batch(self.model, spec.task, size, batch)
        self._compiled: Dict[Tuple[str, ...], nn.Module] = {}

    def _flag(self, opt: str, attr: str, value: bool, undo: List[Callable]) -> None:
        backbone = self.model.backbone
        blocks = _cp_blocks(opt) if attr == 'with_cp' else None
        if blocks is not None and not all(hasattr(backbone, b) for b in blocks):
            fail(
                f'{opt}: the backbone {type(backbone).__name__} has no {blocks}; a block '
                'range works with WiderResNet, use plain with_cp otherwise'
            )
        roots = [getattr(backbone, b) for b in blocks] if blocks else [backbone]
        before = len(undo)
        for root in roots:
            for m in root.modules():
                if attr == 'inplace' and not isinstance(
                    m, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.ReLU6, nn.Hardswish)
                ):
                    continue
                if isinstance(getattr(m, attr, None), bool):
                    old = getattr(m, attr)
                    setattr(m, attr, value)
                    undo.append(lambda m=m, old=old: setattr(m, attr, old))
        if attr == 'memory_efficient' and len(undo) == before:
            fail(
                f'memory_efficient: the backbone {type(backbone).__name__} has no '
                'memory-efficient units (WiderResNet has); drop it from its variants'
            )

    def _memory_format(self, fmt: torch.memory_format) -> None:
        self.model.to(memory_format=fmt)
        for state in self.optim_wrapper.optimizer.state.values():
            for k, v in state.items():
                if torch.is_tensor(v) and v.dim() == 4:
                    state[k] = v.contiguous(memory_format=fmt)

    def apply(self, variant: Tuple[str, ...]) -> Tuple[Callable[[], None], Any]:
        """Switch ``variant`` on; return (undo, autocast context factory)."""
        undo: List[Callable[[], None]] = []
        for opt in variant:
            name = opt.split(':')[0]
            if name in ('with_cp', 'memory_efficient', 'inplace'):
                self._flag(opt, name, True, undo)
            elif name == 'channels_last':
                self._memory_format(torch.channels_last)
                undo.append(lambda: self._memory_format(torch.contiguous_format))
        if 'compile' in variant:
            key = tuple(o for o in variant if o != 'bf16')
            original = self.model.backbone
            if key not in self._compiled:
                self._compiled[key] = torch.compile(original)
            self.model.backbone = self._compiled[key]
            undo.append(lambda: setattr(self.model, 'backbone', original))

        def autocast():
            if 'bf16' in variant:
                return torch.autocast(self.device.split(':')[0], dtype=torch.bfloat16)
            return contextlib.nullcontext()

        def undo_all() -> None:
            for fn in reversed(undo):
                fn()

        return undo_all, autocast

    def train_step(self, autocast) -> None:
        """One training iteration as mmengine's loop runs it."""
        self.model.train()
        with autocast():
            self.model.train_step(self.data, self.optim_wrapper)

    def infer_step(self, autocast) -> None:
        """One inference batch (``test_step``: preprocess, forward, post-process)."""
        self.model.eval()
        with torch.no_grad(), autocast():
            self.model.test_step(self.data)
        self.model.train()


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], None], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


# --------------------------------------------------------------------- memory measurement


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{key}:\s+(\d+)', f.read(), re.M).group(1))


def _reset_hwm() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # Linux >= 4.0: reset the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


class MemoryProbe:
    """Peak memory of a callable: RSS high-water mark on CPU, allocator peak on CUDA."""

    def __init__(self, device: str):
        self.device = device
        self.cuda = device.startswith('cuda')
        if not self.cuda and not _reset_hwm():
            fail(
                'cannot reset the RSS high-water mark (/proc/self/clear_refs is not '
                'writable here): CPU memory cannot be measured per step'
            )
        self.origin = self.current()

    def current(self) -> int:
        """Bytes in use now."""
        if self.cuda:
            return torch.cuda.memory_allocated(self.device)
        return _status_kb('VmRSS') * 1024

    def measure(self, fn: Callable[[], None]) -> Tuple[int, int]:
        """Run ``fn``; return (peak above ``origin``, peak above what was in use before)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _reset_hwm()
        before = self.current()
        fn()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _status_kb('VmHWM') * 1024
        return peak - self.origin, peak - before


def _preload(task: str, device: str) -> None:
    """Import and initialise once what is code, not model memory, before measuring.

    The first ``build_optim_wrapper`` alone adds ~100 MiB of resident code (mmengine
    registers every torch optimizer); the conv/BN kernels load on first use.
    """
    import importlib

    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import wider_mm  # noqa: F401

    for mod in ('models', 'datasets.transforms', 'structures'):
        importlib.import_module(f'{SCOPES[task]}.{mod}')
    init_default_scope(SCOPES[task])
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).to(device)
    build_optim_wrapper(conv, copy.deepcopy(DEFAULT_OPTIM[task]))
    conv(torch.rand(1, 3, 16, 16, device=device, requires_grad=True)).sum().backward()


def memory_job(job: dict) -> dict:
    """Measure one model x variant (run in a fresh process on CPU). Sizes in MiB."""
    torch.set_num_threads(job['threads'])
    if job['device'] == 'cpu':
        torch.set_flush_denormal(True)
    spec = ModelSpec(**job['spec'])
    device = job['device']
    _preload(spec.task, device)
    probe = MemoryProbe(device)
    subject = Subject(spec, tuple(job['size']), job['batch'], device)
    _, autocast = subject.apply(tuple(job['variant']))
    out: Dict[str, Any] = {}
    mib = 2.0**20
    for mode in job['modes']:
        step = subject.infer_step if mode == 'infer' else subject.train_step
        step(autocast)  # warm-up (and, for train, allocates gradients + optimizer state)
        peaks, steps = [], []
        for _ in range(job['repeats']):
            peak, extra = probe.measure(lambda step=step: step(autocast))
            peaks.append(peak / mib)
            steps.append(extra / mib)
        out[f'{mode}_peak_mb'] = statistics.median(peaks)
        out[f'{mode}_step_mb'] = statistics.median(steps)
    return out


def run_memory_job(job: dict, timeout: float) -> dict:
    """Run :func:`memory_job` in a fresh Python process (CPU) or in this one (CUDA)."""
    if job['device'].startswith('cuda'):
        return memory_job(job)
    env = dict(os.environ, **MALLOC_ENV)
    cmd = [sys.executable, osp.abspath(__file__), '--worker', json.dumps(job)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(
            f'memory measurement of {job["spec"]["label"]} {job["variant"]} took over '
            f'{timeout:.0f} s (raise --worker-timeout)'
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        fail(
            f'memory measurement of {job["spec"]["label"]} {job["variant"]} failed:\n'
            f'{proc.stderr[-3000:]}'
        )
    return json.loads(lines[-1])


# ------------------------------------------------------------------------- measurements


class _TensorForward(nn.Module):
    """``model(x, mode='tensor')`` as a one-input module, for the FLOP counter."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model(x, mode='tensor')


def complexity(subject: Subject, size: Tuple[int, int]) -> dict:
    """Parameters (whole model, backbone) and FLOPs per image (inference path)."""
    from mmengine.analysis import get_model_complexity_info

    model = subject.model
    params = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    one = make_batch(model, subject.spec.task, size, 1)
    model.eval()
    with torch.no_grad():
        x = model.data_preprocessor(one, False)['inputs']
        info = get_model_complexity_info(
            _TensorForward(model), inputs=(x,), show_table=False, show_arch=False
        )
    model.train()
    return dict(
        params_m=params / 1e6, backbone_params_m=backbone / 1e6, gflops_per_img=info['flops'] / 1e9
    )


def interleaved_times(
    entries: Sequence[Tuple[Subject, Tuple[str, ...]]],
    mode: str,
    warmup: int,
    repeats: int,
    device: str,
) -> List[dict]:
    """Time every (subject, variant) once per round, for warmup + repeats rounds."""
    times: List[List[float]] = [[] for _ in entries]
    first: List[float] = [0.0] * len(entries)
    for r in range(warmup + repeats):
        for i, (subject, variant) in enumerate(entries):
            undo, autocast = subject.apply(variant)
            step = subject.train_step if mode == 'train' else subject.infer_step
            try:
                dt = _timed(lambda step=step, ac=autocast: step(ac), device)
            finally:
                undo()
            if r == 0:
                first[i] = dt
            if r >= warmup:
                times[i].append(dt)
    return [dict(times=t, first=f) for t, f in zip(times, first)]


def _median_ratio(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    if not a or not b:
        return None
    return statistics.median(x / y for x, y in zip(a, b))


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or not b else a / b


def machine_info(device: str) -> dict:
    """Which machine the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
        m = re.search(r'^Model name:\s*(.+)$', out, re.M)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    info = dict(
        cpu=cpu,
        arch=platform.machine(),
        cores=os.cpu_count(),
        threads=torch.get_num_threads(),
        python=platform.python_version(),
        torch=torch.__version__,
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


def log(*parts: Any) -> None:
    """Progress on stderr (stdout carries the table / the worker's JSON)."""
    print('[benchmark]', *parts, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """Measure everything; return the result dict (also what goes to benchmark.json)."""
    size, device = tuple(args.size), args.device
    specs = make_specs(args)
    cand_variants = [parse_variant(v) for v in args.variants]
    base_variants = [parse_variant(v) for v in args.baseline_variants]
    infer_variants = [parse_variant(v) for v in args.infer_variants]
    subjects = [Subject(s, size, args.batch, device) for s in specs]
    plan = []  # (subject, variant) in table order
    for subject in subjects:
        variants = cand_variants if subject.spec.role == 'candidate' else base_variants
        plan += [(subject, v) for v in variants]
    rows = []
    for subject, variant in plan:
        rows.append(
            dict(
                model=subject.spec.label,
                role=subject.spec.role,
                task=subject.spec.task,
                variant='+'.join(variant) or 'base',
                batch=args.batch,
                size=list(size),
            )
        )
    cx = {}
    for subject in subjects:
        if args.no_flops:
            cx[id(subject)] = dict(
                params_m=sum(p.numel() for p in subject.model.parameters()) / 1e6,
                backbone_params_m=sum(p.numel() for p in subject.model.backbone.parameters()) / 1e6,
                gflops_per_img=None,
            )
        else:
            cx[id(subject)] = complexity(subject, size)
        log(subject.spec.label, cx[id(subject)])
    log(f'timing {len(plan)} training entries x {args.warmup}+{args.repeats} rounds')
    train = interleaved_times(plan, 'train', args.warmup, args.repeats, device)
    infer_plan = [(s, v) for s, v in plan if v in infer_variants]
    log(f'timing {len(infer_plan)} inference entries')
    infer = interleaved_times(infer_plan, 'infer', args.warmup, args.repeats, device)
    infer_by_key = {(id(s), v): t for (s, v), t in zip(infer_plan, infer)}
    mem = []
    for subject, variant in plan:
        modes = ['infer', 'train'] if variant in infer_variants else ['train']
        job = dict(
            spec=asdict(subject.spec),
            variant=list(variant),
            size=list(size),
            batch=args.batch,
            device=device,
            repeats=args.mem_repeats,
            modes=modes,
            threads=torch.get_num_threads(),
        )
        log('memory', subject.spec.label, '+'.join(variant) or 'base')
        mem.append(run_memory_job(job, args.worker_timeout) if not args.no_memory else {})
    for row, (subject, variant), t, m in zip(rows, plan, train, mem):
        row.update(cx[id(subject)])
        row['train_step_s'] = statistics.median(t['times'])
        row['train_step_s_all'] = t['times']
        row['train_first_step_s'] = t['first']
        row['train_img_s'] = args.batch / row['train_step_s']
        it = infer_by_key.get((id(subject), variant))
        row['infer_batch_s'] = statistics.median(it['times']) if it else None
        row['infer_ms_per_img'] = (1000 * row['infer_batch_s'] / args.batch) if it else None
        row['infer_img_s'] = (args.batch / row['infer_batch_s']) if it else None
        row['infer_batch_s_all'] = it['times'] if it else None
        for k in ('train_peak_mb', 'train_step_mb', 'infer_peak_mb', 'infer_step_mb'):
            row[k] = m.get(k)
    _add_ratios(rows)
    goal = _goal(rows, args.goal_memory, args.goal_time)
    return dict(
        machine=machine_info(device),
        settings=dict(
            size=list(size),
            batch=args.batch,
            warmup=args.warmup,
            repeats=args.repeats,
            mem_repeats=args.mem_repeats,
            device=device,
            flops='mmengine get_model_complexity_info, 1 FLOP = 1 multiply-add, '
            'inference path, batch 1',
            memory=(
                'RSS in a fresh process per row, high-water mark reset ' 'before each step'
                if device == 'cpu'
                else 'torch.cuda.max_memory_allocated'
            ),
        ),
        models=[dict(asdict(s.spec), notes=s.notes) for s in subjects],
        rows=rows,
        goal=goal,
    )


def _add_ratios(rows: List[dict]) -> None:
    """Ratios: each variant vs its model's base; each candidate row vs each baseline base."""
    base = {r['model']: r for r in rows if r['variant'] == 'base'}
    baselines = [r for r in rows if r['role'] == 'baseline' and r['variant'] == 'base']
    for r in rows:
        b = base.get(r['model'])
        r['vs_base'] = (
            None
            if b is None or b is r
            else dict(
                train_time=_median_ratio(r['train_step_s_all'], b['train_step_s_all']),
                train_time_rounds=[
                    x / y for x, y in zip(r['train_step_s_all'], b['train_step_s_all'])
                ],
                train_peak_mem=_ratio(r['train_peak_mb'], b['train_peak_mb']),
                train_step_mem=_ratio(r['train_step_mb'], b['train_step_mb']),
            )
        )
        r['vs_baseline'] = (
            {}
            if r['role'] != 'candidate'
            else {
                bl['model']: dict(
                    train_time=_median_ratio(r['train_step_s_all'], bl['train_step_s_all']),
                    infer_time=_median_ratio(
                        r['infer_batch_s_all'] or [], bl['infer_batch_s_all'] or []
                    ),
                    train_peak_mem=_ratio(r['train_peak_mb'], bl['train_peak_mb']),
                    params=_ratio(r['params_m'], bl['params_m']),
                    gflops=_ratio(r['gflops_per_img'], bl['gflops_per_img']),
                )
                for bl in baselines
            }
        )


def _goal(rows: List[dict], mem: float, tim: float) -> dict:
    """Is peak training memory >= ``mem`` lower with <= ``tim`` more step time (same batch)?"""
    out = dict(memory_reduction_at_least=mem, time_increase_at_most=tim, variants=[])
    for r in rows:
        v = r.get('vs_base')
        if r['role'] != 'candidate' or not v or v['train_time'] is None:
            continue
        rounds = v.get('train_time_rounds') or [v['train_time']]
        entry = dict(
            variant=r['variant'],
            time_increase=v['train_time'] - 1,
            time_increase_range=[min(rounds) - 1, max(rounds) - 1],
        )
        for k in ('train_peak_mem', 'train_step_mem'):
            entry[k.replace('_mem', '') + '_reduction'] = None if v[k] is None else 1 - v[k]
        red = entry['train_peak_reduction']
        entry['met'] = bool(red is not None and red >= mem and entry['time_increase'] <= tim)
        out['variants'].append(entry)
    out['met_by'] = [e['variant'] for e in out['variants'] if e['met']]
    return out


# ------------------------------------------------------------------------------ reports


def _f(x: Optional[float], fmt: str = '.2f') -> str:
    return '-' if x is None else format(x, fmt)


def markdown(result: dict) -> str:
    """The result as a markdown report: machine line, one table, the goal."""
    m, s = result['machine'], result['settings']
    where = m.get('gpu') or f'{m["cores"]}-core {m["arch"]} CPU ({m["cpu"]}), no GPU'
    lines = [
        f'Measured on {where}, {m["threads"]} torch thread(s), torch {m["torch"]}, '
        f'{m["date"]}. Input {s["size"][0]}x{s["size"][1]}, batch {s["batch"]}, '
        f'median of {s["repeats"]} interleaved steps after {s["warmup"]} warm-up. '
        f'Memory: {s["memory"]}.',
        '',
    ]
    baselines = [
        r['model'] for r in result['rows'] if r['role'] == 'baseline' and r['variant'] == 'base'
    ]
    head = [
        'model',
        'variant',
        'params (M)',
        'GFLOPs/img',
        'train step (s)',
        'train img/s',
        'train peak (MiB)',
        'step adds (MiB)',
        'infer ms/img',
        'infer peak (MiB)',
        'time vs base',
        'peak mem vs base',
    ]
    head += [f'{k} vs {b}' for b in baselines for k in ('train time', 'peak mem')]
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in result['rows']:
        vb = r.get('vs_base') or {}
        cells = [
            r['model'],
            r['variant'],
            _f(r['params_m'], '.1f'),
            _f(r['gflops_per_img'], '.1f'),
            _f(r['train_step_s'], '.3f'),
            _f(r['train_img_s'], '.2f'),
            _f(r['train_peak_mb'], '.0f'),
            _f(r['train_step_mb'], '.0f'),
            _f(r['infer_ms_per_img'], '.1f'),
            _f(r['infer_peak_mb'], '.0f'),
            _f(vb.get('train_time'), '.2f'),
            _f(vb.get('train_peak_mem'), '.2f'),
        ]
        for b in baselines:
            rb = r['vs_baseline'].get(b, {})
            cells += [_f(rb.get('train_time'), '.2f'), _f(rb.get('train_peak_mem'), '.2f')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    g = result['goal']
    lines += [
        '',
        f'Goal: training peak memory at least {g["memory_reduction_at_least"]:.0%} '
        f'lower than base with at most {g["time_increase_at_most"]:.0%} more step time.',
    ]
    for e in g['variants']:
        lo, hi = e.get('time_increase_range') or (e['time_increase'],) * 2
        lines.append(
            f'- {e["variant"]}: peak {_lower(e["train_peak_reduction"])}, step '
            f'memory {_lower(e["train_step_reduction"])}, time '
            f'{e["time_increase"]:+.0%} (per round {lo:+.0%} to {hi:+.0%}): '
            f'{"MET" if e["met"] else "not met"}'
        )
    for mod in result['models']:
        for n in mod['notes']:
            lines.append(f'- {mod["label"]}: {n}')
    return '\n'.join(lines) + '\n'


def _lower(reduction: Optional[float]) -> str:
    if reduction is None:
        return 'not measured'
    word = 'lower' if round(reduction, 2) >= 0 else 'higher'
    return f'{abs(reduction):.0%} {word}'


def plot(result: dict, path: str) -> None:
    """Bar charts: training step time, training images/s, training peak memory.

    Bars are labelled by variant and coloured by model (legend below the panels).
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = result['rows']
    models = list(dict.fromkeys(r['model'] for r in rows))
    colors = [f'C{models.index(r["model"])}' for r in rows]
    x = list(range(len(rows)))
    height = 4.2 + 0.22 * (len(models) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(max(9.0, 1.0 + 1.2 * len(rows)), height))
    panels = [
        ('train step (s)', [r['train_step_s'] for r in rows]),
        ('train images/s', [r['train_img_s'] for r in rows]),
        ('train peak memory (MiB)', [r['train_peak_mb'] or 0 for r in rows]),
    ]
    for ax, (title, values) in zip(axes, panels):
        ax.bar(x, values, color=colors)
        if title.startswith('train peak'):
            held = [(r['train_peak_mb'] or 0) - (r['train_step_mb'] or 0) for r in rows]
            ax.bar(x, held, color='none', edgecolor='k', hatch='//', linewidth=0.5)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels([r['variant'] for r in rows], rotation=45, ha='right', fontsize=8)
    handles = [Patch(color=f'C{i}', label=m) for i, m in enumerate(models)]
    handles.append(
        Patch(
            facecolor='none',
            edgecolor='k',
            hatch='//',
            label='memory held before the step (weights, optimizer state, ...)',
        )
    )
    fig.legend(handles=handles, loc='lower center', ncol=1, fontsize=8, frameon=False)
    m, s = result['machine'], result['settings']
    where = m.get('gpu') or f'{m["cpu"]} CPU, {m["threads"]} thread(s)'
    fig.suptitle(f'{where}: {s["size"][0]}x{s["size"][1]}, batch {s["batch"]}', fontsize=10)
    fig.tight_layout(rect=(0, 0.22 * len(handles) / height + 0.02, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(result: dict, out_dir: str) -> List[str]:
    """Write benchmark.json / .md / .png into ``out_dir``; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, n) for n in OUTPUTS]
    with open(paths[0], 'w') as f:
        json.dump(result, f, indent=1)
    with open(paths[1], 'w') as f:
        f.write(markdown(result))
    plot(result, paths[2])
    return paths


# ---------------------------------------------------------------------------------- CLI


def make_specs(args: argparse.Namespace) -> List[ModelSpec]:
    """The candidate and the baselines from the command line."""
    if bool(args.config) == bool(args.backbone):
        fail('give a CONFIG or --backbone SPEC (exactly one)')
    task = args.task
    if args.config:
        from mmengine.config import Config

        path = resolve_config(args.config)
        task = task or _detect_task(Config.fromfile(path))
        label = args.name or osp.splitext(osp.basename(path))[0]
        cand = ModelSpec(label, 'candidate', task, config=path, cfg_options=args.cfg_options or {})
    else:
        if not task:
            fail('--backbone needs --task seg or --task cls (which baseline model to use)')
        bb = parse_backbone_spec(args.backbone)
        label = args.name or 'WRN ' + ','.join(f'{k}={v}' for k, v in bb.items())
        cand = ModelSpec(label, 'candidate', task, backbone=bb, cfg_options=args.cfg_options or {})
    specs = [cand]
    if not args.no_baseline:
        for path in args.baseline or BASELINES[task]:
            full = resolve_config(path)
            specs.append(
                ModelSpec(
                    osp.splitext(osp.basename(full))[0],
                    'baseline',
                    task,
                    config=full,
                    cfg_options=args.baseline_cfg_options or {},
                )
            )
    return specs


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
        help='WiderResNet kwargs, e.g. depth=38,variant=a1,'
        'output_stride=8: swapped into the baseline model (heads fitted)',
    )
    p.add_argument('--task', choices=('seg', 'cls'), help='default: from the config')
    p.add_argument('--name', help='label of the candidate (default: config name)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides for the candidate config (key=value)',
    )
    p.add_argument(
        '--baseline',
        nargs='+',
        help=f'baseline configs (default: seg {BASELINES["seg"]}, cls ' f'{BASELINES["cls"]})',
    )
    p.add_argument(
        '--baseline-cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides for every baseline config',
    )
    p.add_argument('--no-baseline', action='store_true', help='measure the candidate only')
    p.add_argument('--size', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=2)
    p.add_argument(
        '--variants',
        nargs='+',
        default=['base', 'with_cp'],
        help=f'candidate variants: base, or +-joined {list(OPTIONS)}',
    )
    p.add_argument('--baseline-variants', nargs='+', default=['base'])
    p.add_argument(
        '--infer-variants',
        nargs='+',
        default=['base'],
        help='variants whose inference is also timed/measured',
    )
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--mem-repeats', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, help="torch threads (default: torch's)")
    p.add_argument('--no-flops', action='store_true', help='skip the FLOP count')
    p.add_argument('--no-memory', action='store_true', help='skip the memory measurement')
    p.add_argument('--goal-memory', type=float, default=0.40)
    p.add_argument('--goal-time', type=float, default=0.35)
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
    existing = [n for n in OUTPUTS if osp.exists(osp.join(args.out_dir, n))]
    if existing and not args.force:
        p.error(f'{args.out_dir} already has {existing}; pass --force to overwrite them')
    for v in args.variants + args.baseline_variants + args.infer_variants:
        parse_variant(v)
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point: measure, write the three outputs, print the markdown table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['--worker']:
        print(json.dumps(memory_job(json.loads(argv[1]))))
        return {}
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.device == 'cpu':
        torch.set_flush_denormal(True)  # random-data training must not hit slow denormals
    result = run(args)
    paths = write_outputs(result, args.out_dir)
    print(markdown(result))
    print('[benchmark] wrote ' + ', '.join(paths), file=sys.stderr)
    return result


if __name__ == '__main__':
    main()
