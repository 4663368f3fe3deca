"""Benchmark models and their memory-saving variants: time, images/s, FLOPs and memory.

API: :class:`ModelSpec` (what to build: a config, or a ``WiderResNet`` spec swapped into a
task's baseline model), :class:`BenchOptions` (size, batch, device, variants, repeats) and
:func:`run_benchmark` (specs, options -> result dict with one record per model x variant,
:data:`COLUMNS` for the report). Any model that has a training and an inference step can be
measured through :class:`Subject` (``tools/gpu/bench_gpu.py`` wraps torchvision models).

What is measured:

* training step = what mmengine's loop runs per iteration, ``model.train_step(data,
  optim_wrapper)`` with the config's own optimizer; inference = ``model.test_step`` under
  ``no_grad``; FLOPs = mmengine's ``get_model_complexity_info`` (one FLOP per multiply-add)
  on ``model(x, mode='tensor')``, batch 1;
* times: every model x variant once per round, INTERLEAVED, for ``warmup + repeats``
  rounds, so load from other processes hits all alike; medians, and time ratios as medians
  of per-round ratios (the per-round ratios are kept: the spread);
* memory: ``peak`` = everything the model holds at a step's peak (weights, gradients,
  optimizer state, activations), ``step`` = what the step adds to what was resident just
  before it. CPU: resident set size, each model x variant in a FRESH process (glibc's mmap
  threshold fixed so freed tensors go back to the OS; the kernel's high-water mark reset
  before each step through ``/proc/self/clear_refs``). CUDA: ``max_memory_allocated``.

Variants are ``base`` or options joined by ``+`` (:data:`OPTIONS`): ``with_cp`` (activation
checkpointing in every backbone unit; ``with_cp:B2-B4`` only in Wider ResNet blocks B2..B4),
``memory_efficient`` (Wider ResNet units keep only each norm's input), ``inplace``
(in-place activations), ``channels_last``, ``bf16`` (autocast, fp32 weights), ``compile``
(``torch.compile`` of the backbone).

Example::

    >>> from wider_mm.analysis.bench import BenchOptions, ModelSpec, run_benchmark
    >>> spec = ModelSpec('WRN-38 A1', 'candidate', 'seg',
    ...                  backbone=dict(depth=38, variant='a1', output_stride=8))
    >>> result = run_benchmark([spec], BenchOptions(size=(128, 128), variants=['base']))
    >>> result['rows'][0]['train_peak_mb']  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from wider_mm.engine.config_checks import ConfigError, walk_dicts

from .report import Column

#: The baselines of each task: mmseg's / mmpretrain's own configs.
BASELINES = {
    'seg': ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-40k_cityscapes-512x1024.py'],
    'cls': [
        'mmpretrain::resnet/resnet101_8xb32_in1k.py',
        'mmpretrain::resnet/resnet152_8xb32_in1k.py',
    ],
}
#: Optimizer when a (model-only) config has none: the libraries' default schedules.
DEFAULT_OPTIM = {
    'seg': dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
    'cls': dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
}
SCOPES = {'seg': 'mmseg', 'cls': 'mmpretrain'}
OPTIONS = ('with_cp', 'memory_efficient', 'inplace', 'channels_last', 'bf16', 'compile')
# Every large tensor its own mmap, returned to the OS when freed: the resident set follows
# the live tensors (glibc's default raises the threshold at run time and keeps freed memory).
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536', 'MALLOC_TRIM_THRESHOLD_': '1048576'}
#: The report's table.
COLUMNS = [
    Column('model', 'model'),
    Column('variant', 'variant'),
    Column('params (M)', 'params_m', '.1f'),
    Column('GFLOPs/img', 'gflops_per_img', '.1f'),
    Column('train step (s)', 'train_step_s', '.3f'),
    Column('train img/s', 'train_img_s', '.2f'),
    Column('train peak (MiB)', 'train_peak_mb', '.0f'),
    Column('step adds (MiB)', 'train_step_mb', '.0f'),
    Column('infer ms/img', 'infer_ms_per_img', '.1f'),
    Column('infer peak (MiB)', 'infer_peak_mb', '.0f'),
    Column('time vs base', 'time_vs_base', '.2f'),
    Column('step mem vs base', 'step_mem_vs_base', '.2f'),
    Column('peak mem vs base', 'peak_mem_vs_base', '.2f'),
]


@dataclass
class ModelSpec:
    """What to build: a config, or a backbone spec swapped into the task's baseline."""

    label: str
    role: str  # 'candidate' or 'baseline'
    task: str  # 'seg' or 'cls'
    config: Optional[str] = None
    backbone: Optional[dict] = None
    cfg_options: dict = field(default_factory=dict)


@dataclass
class BenchOptions:
    """How to measure. Variants are ``base`` or ``+``-joined :data:`OPTIONS`."""

    size: Tuple[int, int] = (512, 512)
    batch: int = 2
    device: str = 'cpu'
    variants: List[str] = field(default_factory=lambda: ['base', 'with_cp'])
    baseline_variants: List[str] = field(default_factory=lambda: ['base'])
    infer_variants: List[str] = field(default_factory=lambda: ['base'])
    warmup: int = 1
    repeats: int = 3
    mem_repeats: int = 2
    flops: bool = True
    memory: bool = True
    worker_timeout: float = 3600.0


# ------------------------------------------------------------------ building from configs


def load_cfg(path: str):
    """A config file, or ``mmseg::x`` / ``mmpretrain::x`` (mmengine's ``get_config``)."""
    from mmengine.config import Config

    if '::' in path:
        from mmengine.hub import get_config

        try:
            return get_config(path)
        except Exception as e:  # mmengine raises AssertionError/FileNotFoundError/...
            raise ConfigError(
                f'config {path} not found ({e}); give a file path, or mmseg::/mmpretrain:: '
                "followed by a path under that package's configs/"
            ) from None
    if not osp.isfile(path):
        raise ConfigError(f'config {path} not found (give a file path)')
    return Config.fromfile(path)


def parse_backbone_spec(text: str) -> dict:
    """``'depth=38,variant=a1,output_stride=8'`` (or a dict literal) -> kwargs."""
    text = text.strip()
    if text.startswith('{'):
        try:
            return dict(ast.literal_eval(text))
        except (ValueError, SyntaxError) as e:
            raise ConfigError(f'--backbone {text!r} is not a dict literal: {e}') from None
    spec = {}
    for item in filter(None, text.split(',')):
        if '=' not in item:
            raise ConfigError(f'--backbone: {item!r} is not key=value (e.g. depth=38,variant=a1)')
        key, value = (s.strip() for s in item.split('=', 1))
        try:
            spec[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            spec[key] = value
    return spec


def detect_task(cfg) -> str:
    """'seg' or 'cls', from the config's ``default_scope`` or model type."""
    for task, scope in SCOPES.items():
        if cfg.get('default_scope') == scope:
            return task
    mtype = cfg.model.get('type', '')
    if mtype == 'ImageClassifier':
        return 'cls'
    if 'EncoderDecoder' in mtype:
        return 'seg'
    raise ConfigError(f'model type {mtype!r}: seg or cls? pass --task seg or --task cls')


def _drop_pretrained(node: Any, dropped: List[str]) -> None:
    """Set every ``init_cfg=dict(type='Pretrained', ...)`` to None (no weights needed)."""
    for _, d in walk_dicts(node):
        if any(
            isinstance(i, dict) and i.get('type') == 'Pretrained'
            for i in _as_list(d.get('init_cfg'))
        ):
            dropped.append(d.get('type'))
            d['init_cfg'] = None


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def _swap_backbone(model: dict, spec: dict, task: str) -> None:
    """Put ``WiderResNet(**spec)`` in ``model``; fit the heads' ``in_channels`` to it."""
    from wider_mm.models.backbones.wider_resnet import WiderResNet

    spec = dict(spec)
    spec.setdefault('out_indices', (2, 3, 4, 6) if task == 'seg' else (6,))
    try:
        with torch.device('meta'):  # only the channel table is needed: allocate nothing
            channels = WiderResNet(**spec).out_channels
    except (TypeError, ValueError) as e:
        raise ConfigError(f'--backbone {spec}: {e}') from None
    model['backbone'] = dict(type='WiderResNet', **spec)
    for key in ('decode_head', 'auxiliary_head') if task == 'seg' else ('head',):
        for h in _as_list(model.get(key)):
            if h:
                idx = h.get('in_index', -1)
                h['in_channels'] = (
                    [channels[i] for i in idx] if isinstance(idx, (list, tuple)) else channels[idx]
                )


def build_model(spec: ModelSpec, size: Tuple[int, int], device: str):
    """Build the spec's model and optim wrapper with the libraries' builders.

    No pretrained weights; SyncBN reverted to BN (one process, mmengine's
    ``revert_sync_batchnorm``); ``AmpOptimWrapper`` becomes ``OptimWrapper`` on CPU (use the
    ``bf16`` variant there).

    Returns:
        tuple: (model, optim_wrapper, notes on what was changed).
    """
    from mmengine.config import ConfigDict
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper

    from wider_mm.engine.launch import register_scope

    MMLogger.get_instance('wider_mm_benchmark', log_level='WARNING')  # init_weights logs
    register_scope(SCOPES[spec.task])
    cfg = load_cfg(spec.config or BASELINES[spec.task][0])
    if spec.cfg_options:
        from wider_mm.engine.config_checks import check_cfg_options

        check_cfg_options(cfg, spec.cfg_options)  # typos fail here, not in a constructor
        cfg.merge_from_dict(copy.deepcopy(spec.cfg_options))
    model = cfg.model.to_dict()
    notes = []
    if spec.backbone is not None:
        _swap_backbone(model, spec.backbone, spec.task)
        notes.append(f'backbone {spec.backbone} swapped in')
    if 'data_preprocessor' not in model and cfg.get('data_preprocessor'):
        model['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)  # as the Runner
    if spec.task == 'seg':
        model.setdefault('data_preprocessor', {})['size'] = tuple(size)
    if model.get('pretrained'):
        model['pretrained'] = None
    dropped: List[str] = []
    _drop_pretrained(model, dropped)
    if dropped:
        notes.append(f'pretrained init_cfg dropped from {dropped}')
    optim = cfg.get('optim_wrapper')
    optim = copy.deepcopy(optim.to_dict()) if optim else copy.deepcopy(DEFAULT_OPTIM[spec.task])
    if optim.get('type') == 'AmpOptimWrapper' and device == 'cpu':
        optim['type'] = 'OptimWrapper'  # AmpOptimWrapper asserts a GPU
        optim.pop('loss_scale', None)
        notes.append('AmpOptimWrapper -> OptimWrapper on CPU (use the bf16 variant)')
    from mmengine.registry import MODELS

    net = revert_sync_batchnorm(MODELS.build(ConfigDict(model)))
    net.init_weights()
    net.to(device).train()
    return net, build_optim_wrapper(net, optim), notes


def make_batch(model: nn.Module, task: str, size: Tuple[int, int], batch: int) -> dict:
    """A random batch packed by the libraries' ``PackSegInputs`` / ``PackInputs``."""
    import numpy as np
    from mmengine.dataset import pseudo_collate

    h, w = size
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(batch):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        meta = dict(img=img, img_shape=(h, w), ori_shape=(h, w))
        if task == 'seg':
            from mmseg.datasets.transforms import PackSegInputs

            seg = rng.integers(0, model.decode_head.num_classes, (h, w)).astype(np.uint8)
            extra = dict(pad_shape=(h, w), scale_factor=(1.0, 1.0), flip=False)
            extra.update(flip_direction=None, reduce_zero_label=False)
            samples.append(PackSegInputs().transform(dict(gt_seg_map=seg, **extra, **meta)))
        else:
            from mmpretrain.datasets.transforms import PackInputs

            label = int(rng.integers(model.head.num_classes))
            samples.append(PackInputs().transform(dict(gt_label=label, **meta)))
    return pseudo_collate(samples)


# ------------------------------------------------------------------------------ variants


def parse_variant(text: str) -> Tuple[str, ...]:
    """``'with_cp+channels_last'`` -> ``('with_cp', 'channels_last')``; ``'base'`` -> ()."""
    if text == 'base':
        return ()
    opts = tuple(text.split('+'))
    for o in opts:
        name, _, blocks = o.partition(':')
        if name not in OPTIONS:
            raise ConfigError(
                f'unknown variant option {o!r} in {text!r}; use base or a +-joined list of '
                f'{list(OPTIONS)} (with_cp:B2-B4 for some blocks)'
            )
        if blocks and (name != 'with_cp' or not re.fullmatch(r'B[2-7](-B[2-7])?', blocks)):
            raise ConfigError(f'{o!r}: only with_cp takes a block range, written with_cp:B2-B4')
    return opts


class Subject:
    """A model whose variant options switch on and off between steps.

    One instance per model keeps one copy of weights, gradients and optimizer state for
    all its variants. Subclasses set ``model`` (with a ``backbone``), ``optimizer`` and
    ``device`` and define :meth:`train_step` / :meth:`infer_step`.
    """

    label: str
    role: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: str
    memory_format = torch.contiguous_format

    def _flag(self, opt: str, undo: List[Callable]) -> None:
        attr, _, blocks = opt.partition(':')
        backbone = self.model.backbone
        roots = [backbone]
        if blocks:
            lo, _, hi = blocks.partition('-')
            names = [f'block{i}' for i in range(int(lo[1:]), int((hi or lo)[1:]) + 1)]
            if not all(hasattr(backbone, n) for n in names):
                raise ConfigError(
                    f'{opt}: {type(backbone).__name__} has no {names}; a block range works '
                    'with WiderResNet, use plain with_cp otherwise'
                )
            roots = [getattr(backbone, n) for n in names]
        before = len(undo)
        acts = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.ReLU6, nn.Hardswish)
        for m in (m for root in roots for m in root.modules()):
            if attr == 'inplace' and not isinstance(m, acts):
                continue
            if isinstance(getattr(m, attr, None), bool):
                old = getattr(m, attr)
                setattr(m, attr, True)
                undo.append(lambda m=m, old=old: setattr(m, attr, old))
        if len(undo) == before and attr != 'inplace':
            what = 'memory-efficient units' if attr == 'memory_efficient' else f'{attr} flags'
            raise ConfigError(
                f'{attr}: the backbone {type(backbone).__name__} has no {what} (WiderResNet '
                f'has); drop it from the variants of {self.label}'
            )

    def _set_format(self, fmt: torch.memory_format) -> None:
        self.memory_format = fmt
        self.model.to(memory_format=fmt)
        for state in self.optimizer.state.values():
            for k, v in state.items():
                if torch.is_tensor(v) and v.dim() == 4:
                    state[k] = v.contiguous(memory_format=fmt)

    def apply(self, variant: Tuple[str, ...]) -> Tuple[Callable[[], None], Callable]:
        """Switch ``variant`` on; return (undo, autocast context factory)."""
        undo: List[Callable[[], None]] = []
        for opt in variant:
            if opt.split(':')[0] in ('with_cp', 'memory_efficient', 'inplace'):
                self._flag(opt, undo)
            elif opt == 'channels_last':
                self._set_format(torch.channels_last)
                undo.append(lambda: self._set_format(torch.contiguous_format))
        if 'compile' in variant:
            compiled = getattr(self, '_compiled', {})
            self._compiled = compiled
            key, original = tuple(o for o in variant if o != 'bf16'), self.model.backbone
            self.model.backbone = compiled.setdefault(key, torch.compile(original))
            undo.append(lambda: setattr(self.model, 'backbone', original))

        def autocast():
            if 'bf16' in variant:
                return torch.autocast(self.device.split(':')[0], dtype=torch.bfloat16)
            return contextlib.nullcontext()

        return (lambda: [fn() for fn in reversed(undo)] and None), autocast

    def train_step(self, autocast: Callable) -> None:
        """One training iteration."""
        raise NotImplementedError

    def infer_step(self, autocast: Callable) -> None:
        """One inference batch."""
        raise NotImplementedError

    def complexity(self) -> Dict[str, Optional[float]]:
        """Parameters (M) of the model and its backbone; FLOPs if the subclass counts them."""
        count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
        return dict(
            params_m=count(self.model),
            backbone_params_m=count(self.model.backbone),
            gflops_per_img=None,
        )


class _TensorForward(nn.Module):
    """``model(x, mode='tensor')`` as a one-input module, for the FLOP counter."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model(x, mode='tensor')


class MMSubject(Subject):
    """An mmseg / mmpretrain model from a :class:`ModelSpec`, stepped as mmengine's loops."""

    def __init__(self, spec: ModelSpec, size: Tuple[int, int], batch: int, device: str):
        self.spec, self.label, self.role = spec, spec.label, spec.role
        self.device, self.size = device, size
        self.model, self.optim_wrapper, self.notes = build_model(spec, size, device)
        self.optimizer = self.optim_wrapper.optimizer
        self.data = make_batch(self.model, spec.task, size, batch)

    def train_step(self, autocast: Callable) -> None:
        """``model.train_step(data, optim_wrapper)``: what mmengine's loop runs."""
        self.model.train()
        with autocast():
            self.model.train_step(self.data, self.optim_wrapper)

    def infer_step(self, autocast: Callable) -> None:
        """``model.test_step(data)`` under ``no_grad`` in eval mode."""
        self.model.eval()
        with torch.no_grad(), autocast():
            self.model.test_step(self.data)
        self.model.train()

    def complexity(self, flops: bool = True) -> Dict[str, Optional[float]]:
        """Parameters and, with ``flops``, GFLOPs per image of the inference path."""
        out = super().complexity()
        if flops:
            from mmengine.analysis import get_model_complexity_info

            one = make_batch(self.model, self.spec.task, self.size, 1)
            self.model.eval()
            with torch.no_grad():
                x = self.model.data_preprocessor(one, False)['inputs']
                info = get_model_complexity_info(
                    _TensorForward(self.model), inputs=(x,), show_table=False, show_arch=False
                )
            self.model.train()
            out['gflops_per_img'] = info['flops'] / 1e9
        return out


# --------------------------------------------------------------------------- measuring


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{key}:\s+(\d+)', f.read(), re.M).group(1))


def _reset_hwm() -> None:
    """Reset the peak resident set (VmHWM) to the current one (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        raise ConfigError(
            '/proc/self/clear_refs is not writable: CPU memory cannot be measured per '
            'step; pass --no-memory'
        ) from None


def _in_use(device: str) -> int:
    if device.startswith('cuda'):
        return torch.cuda.memory_allocated(device)
    return _status_kb('VmRSS') * 1024


def measure_memory(
    build: Callable[[], Subject],
    device: str,
    variant: Tuple[str, ...],
    modes: Sequence[str],
    repeats: int,
) -> Dict[str, float]:
    """Peak and step-added memory (MiB, medians over ``repeats``) of ``modes``.

    ``*_peak_mb`` counts from what was in use before ``build()``, ``*_step_mb`` from what
    was in use just before the step. On CPU call it in a fresh process
    (:func:`memory_in_fresh_process`): the resident set then holds this model alone.
    """
    cuda = device.startswith('cuda')
    if not cuda:
        _reset_hwm()  # fails early where /proc/self/clear_refs is not writable
    origin = _in_use(device)
    subject = build()
    _, autocast = subject.apply(variant)
    out: Dict[str, float] = {}
    for mode in modes:
        step = subject.infer_step if mode == 'infer' else subject.train_step
        step(autocast)  # warm-up; for train it allocates gradients and optimizer state
        peaks, steps = [], []
        for _ in range(repeats):
            _sync(device)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            else:
                _reset_hwm()
            before = _in_use(device)
            step(autocast)
            _sync(device)
            peak = torch.cuda.max_memory_allocated(device) if cuda else _status_kb('VmHWM') * 1024
            peaks.append((peak - origin) / 2**20)
            steps.append((peak - before) / 2**20)
        out[f'{mode}_peak_mb'] = statistics.median(peaks)
        out[f'{mode}_step_mb'] = statistics.median(steps)
    return out


def _preload(task: str, device: str) -> None:
    """Import and initialise what is code, not model memory, before measuring: the first
    ``build_optim_wrapper`` alone adds ~100 MiB (mmengine registers every torch optimizer);
    conv/BN kernels load on first use."""
    from mmengine.optim import build_optim_wrapper

    from wider_mm.engine.launch import register_scope

    register_scope(SCOPES[task])
    import mmengine.analysis  # noqa: F401

    __import__(f'{SCOPES[task]}.datasets.transforms')
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).to(device)
    build_optim_wrapper(conv, copy.deepcopy(DEFAULT_OPTIM[task]))
    conv(torch.rand(1, 3, 16, 16, device=device, requires_grad=True)).sum().backward()


def memory_job(job: dict) -> Dict[str, float]:
    """Measure one spec x variant from a JSON-able job (what the fresh process runs)."""
    torch.set_num_threads(job['threads'])
    torch.set_flush_denormal(True)
    spec, device = ModelSpec(**job['spec']), job['device']
    _preload(spec.task, device)
    return measure_memory(
        lambda: MMSubject(spec, tuple(job['size']), job['batch'], device),
        device,
        tuple(job['variant']),
        job['modes'],
        job['repeats'],
    )


def memory_in_fresh_process(job: dict, timeout: float) -> Dict[str, float]:
    """:func:`memory_job` in a fresh Python process (CPU) or in this one (CUDA)."""
    if job['device'].startswith('cuda'):
        return memory_job(job)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env = dict(os.environ, **MALLOC_ENV)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    cmd = [sys.executable, '-m', 'wider_mm.analysis.bench', '--worker', json.dumps(job)]
    what = f'memory of {job["spec"]["label"]} {"+".join(job["variant"]) or "base"}'
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f'{what} took over {timeout:.0f} s (raise --worker-timeout)') from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'{what} failed:\n{proc.stderr[-3000:]}')
    return json.loads(lines[-1])


def _memory_row(k: int, n: int, job: dict, timeout: float) -> Dict[str, float]:
    """:func:`memory_in_fresh_process`, with a line of progress."""
    got = memory_in_fresh_process(job, timeout)
    what = f'{job["spec"]["label"]} {"+".join(job["variant"]) or "base"}'
    mib = {key: f'{v:.0f} MiB' for key, v in got.items() if v is not None}
    progress(f'memory {k + 1}/{n} {what}: {mib}')
    return got


def interleaved_times(
    entries: Sequence[Tuple[Subject, Tuple[str, ...]]],
    mode: str,
    warmup: int,
    repeats: int,
) -> List[List[float]]:
    """Seconds per step of every (subject, variant), each once per round, after ``warmup``
    rounds (the first round of a variant pays its one-off costs: allocation, compiling)."""
    times: List[List[float]] = [[] for _ in entries]
    for r in range(warmup + repeats):
        for i, (subject, variant) in enumerate(entries):
            what = f'{subject.label} {"+".join(variant) or "base"}'
            undo, autocast = subject.apply(variant)
            step = subject.train_step if mode == 'train' else subject.infer_step
            try:
                _sync(subject.device)
                start = time.perf_counter()
                step(autocast)
                _sync(subject.device)
            finally:
                undo()
            took = time.perf_counter() - start
            if r >= warmup:
                times[i].append(took)
            kind = 'warm-up' if r < warmup else f'round {r - warmup + 1}/{repeats}'
            progress(f'{mode} {kind}, {i + 1}/{len(entries)} {what}: {took:.2f} s')
    return times


def progress(line: str) -> None:
    """One line of progress on stderr (stdout stays for results)."""
    print(f'[benchmark] {line}', file=sys.stderr, flush=True)


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or not b else a / b


def _time_ratio(a: Optional[List[float]], b: Optional[List[float]]) -> Tuple[Any, list]:
    rounds = [x / y for x, y in zip(a or [], b or [])]
    return (statistics.median(rounds) if rounds else None), rounds


def add_ratios(rows: List[dict]) -> None:
    """Each row against its model's base row and each candidate against every baseline.

    Time ratios are medians of per-round ratios (``time_vs_base_rounds`` keeps them all:
    the spread); memory ratios are ratios of the medians.
    """
    base = {r['model']: r for r in rows if r['variant'] == 'base'}
    baselines = [r for r in rows if r['role'] == 'baseline' and r['variant'] == 'base']
    for r in rows:
        b = base.get(r['model'])
        if b is not None and b is not r:
            t = _time_ratio(r['train_step_s_all'], b['train_step_s_all'])
            r['time_vs_base'], r['time_vs_base_rounds'] = t
            r['step_mem_vs_base'] = _ratio(r['train_step_mb'], b['train_step_mb'])
            r['peak_mem_vs_base'] = _ratio(r['train_peak_mb'], b['train_peak_mb'])
        if r['role'] != 'candidate':
            continue
        r['vs_baseline'] = {
            b['model']: dict(
                train_time=_time_ratio(r['train_step_s_all'], b['train_step_s_all'])[0],
                infer_time=_time_ratio(r['infer_batch_s_all'], b['infer_batch_s_all'])[0],
                train_peak_mem=_ratio(r['train_peak_mb'], b['train_peak_mb']),
                params=_ratio(r['params_m'], b['params_m']),
                gflops=_ratio(r['gflops_per_img'], b['gflops_per_img']),
            )
            for b in baselines
        }
        for b, v in r['vs_baseline'].items():  # flat keys for the table (table_columns)
            r[f'time_vs:{b}'], r[f'peak_mem_vs:{b}'] = v['train_time'], v['train_peak_mem']


def table_columns(rows: Sequence[dict], base: Sequence[Column] = None) -> List[Column]:
    """:data:`COLUMNS` (or ``base``) plus time and peak memory against each baseline."""
    names = [r['model'] for r in rows if r['role'] == 'baseline' and r['variant'] == 'base']
    extra = [
        Column(f'{what} vs {b}', f'{key}:{b}', '.2f')
        for b in names
        for what, key in (('train time', 'time_vs'), ('peak mem', 'peak_mem_vs'))
    ]
    return list(COLUMNS if base is None else base) + extra


def records(
    plan: Sequence[Tuple[Subject, Tuple[str, ...]]],
    cx: Dict[int, dict],
    train: Sequence[List[float]],
    infer: Dict[Tuple[int, Tuple[str, ...]], List[float]],
    memory: Sequence[Dict[str, float]],
    batch: int,
) -> List[dict]:
    """One record per (subject, variant): counts, median times, images/s, memory, ratios."""
    rows = []
    for (subject, variant), t, mem in zip(plan, train, memory):
        it = infer.get((id(subject), variant))
        row = dict(model=subject.label, role=subject.role, variant='+'.join(variant) or 'base')
        row.update(cx[id(subject)])
        row.update(train_step_s=statistics.median(t), train_step_s_all=t)
        row['train_img_s'] = batch / row['train_step_s']
        row['infer_batch_s'] = statistics.median(it) if it else None
        row['infer_batch_s_all'] = it
        row['infer_ms_per_img'] = 1000 * row['infer_batch_s'] / batch if it else None
        row['infer_img_s'] = batch / row['infer_batch_s'] if it else None
        for k in ('train_peak_mb', 'train_step_mb', 'infer_peak_mb', 'infer_step_mb'):
            row[k] = mem.get(k)
        rows.append(row)
    add_ratios(rows)
    return rows


def run_benchmark(specs: Sequence[ModelSpec], opts: BenchOptions) -> Dict[str, Any]:
    """Measure every spec x variant (candidates: ``opts.variants``, baselines:
    ``opts.baseline_variants``).

    Returns:
        dict: ``machine`` (:func:`~wider_mm.analysis.report.machine`), ``settings``,
        ``models`` (specs and what was changed to build them) and ``rows`` (one record per
        model x variant; see :data:`COLUMNS` and :func:`add_ratios`).
    """
    from .report import machine

    size, dev = tuple(opts.size), opts.device
    parsed = {v: parse_variant(v) for v in opts.variants + opts.baseline_variants}
    infer_variants = {parse_variant(v) for v in opts.infer_variants}
    subjects = [MMSubject(s, size, opts.batch, dev) for s in specs]
    plan = [
        (s, parsed[v])
        for s in subjects
        for v in (opts.variants if s.role == 'candidate' else opts.baseline_variants)
    ]
    cx = {id(s): s.complexity(flops=opts.flops) for s in subjects}
    train = interleaved_times(plan, 'train', opts.warmup, opts.repeats)
    infer_plan = [(s, v) for s, v in plan if v in infer_variants]
    infer_t = interleaved_times(infer_plan, 'infer', opts.warmup, opts.repeats)
    infer = {(id(s), v): t for (s, v), t in zip(infer_plan, infer_t)}
    memory = [
        _memory_row(
            k,
            len(plan),
            dict(
                spec=asdict(s.spec),
                variant=list(v),
                size=list(size),
                batch=opts.batch,
                device=dev,
                repeats=opts.mem_repeats,
                modes=['infer', 'train'] if v in infer_variants else ['train'],
                threads=torch.get_num_threads(),
            ),
            opts.worker_timeout,
        )
        if opts.memory
        else {}
        for k, (s, v) in enumerate(plan)
    ]
    settings = asdict(opts)
    settings['memory_method'] = (
        'torch.cuda.max_memory_allocated'
        if dev.startswith('cuda')
        else 'RSS in a fresh process per row, high-water mark reset before each step'
    )
    return dict(
        machine=machine(dev),
        settings=settings,
        models=[dict(asdict(s.spec), notes=s.notes) for s in subjects],
        rows=records(plan, cx, train, infer, memory, opts.batch),
    )


def describe(settings: Dict[str, Any]) -> str:
    """The settings of a run in one sentence, for the report."""
    h, w = settings['size']
    return (
        f'Input {h}x{w}, batch {settings["batch"]}, median of {settings["repeats"]} '
        f'interleaved steps after {settings["warmup"]} warm-up. Memory: '
        f'{settings.get("memory_method", "-")}.'
    )


def report_args(result: Dict[str, Any]) -> Dict[str, Any]:
    """``columns``, ``intro`` and ``notes`` of :func:`run_benchmark`'s result, for
    :func:`~wider_mm.analysis.report.write_report` (or ``render``, to re-render a saved
    ``benchmark.json``): the table of :func:`table_columns`, :func:`describe` of the
    settings, and each model's build notes as ``- label: note`` lines."""
    return dict(
        columns=table_columns(result['rows']),
        intro=describe(result['settings']),
        notes=[f'- {m["label"]}: {n}' for m in result['models'] for n in m['notes']],
    )


if __name__ == '__main__':  # the fresh process of memory_in_fresh_process
    if sys.argv[1:2] == ['--worker']:
        print(json.dumps(memory_job(json.loads(sys.argv[2]))))
