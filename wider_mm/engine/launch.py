"""Launch logic shared by ``tools/train.py`` and ``tools/test.py`` (one pair for mmseg and
mmpretrain configs, routed by ``default_scope``).

What it adds to mmengine's Runner, and why: on a machine without GPUs, distributed runs get
the gloo backend, a CPU process group initialised here (mmengine's ``init_dist`` calls
``torch.cuda.set_device``), DDP without device ids, and SyncBN (CUDA-only in torch) reverted
to BN with running statistics averaged over the processes (:class:`AverageBNStatsHook`);
every distributed run gets a collective timeout so that a stuck process fails the run.
"""

from __future__ import annotations

import datetime
import os
import os.path as osp
import subprocess
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.logging import print_log

SCOPES = ('mmseg', 'mmpretrain')
#: Default timeout (s) of collectives, so that a stuck process fails the run instead of
#: hanging it; override with ``--cfg-options env_cfg.dist_cfg.timeout=SECONDS``.
DIST_TIMEOUT = 1800
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm')


def load_config(path: str, cfg_options: Optional[dict], launcher: str) -> Config:
    """Load ``path``, apply ``--cfg-options`` and check its scope."""
    from wider_mm.engine.config_checks import ConfigError, check_cfg_options

    if not osp.isfile(path):
        raise ConfigError(f'config file {path} does not exist')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError:
        raise ConfigError(_syntax_error(path)) from None
    except Exception as e:  # mmengine reports errors of a config's code without its name
        raise ConfigError(f'config {path}: {type(e).__name__}: {e}') from None
    if cfg_options:
        for note in check_cfg_options(cfg, cfg_options):
            print_log(f'wider_mm: {note}', logger='current')
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    scope_of(cfg)
    return cfg


def _syntax_error(path: str, seen: Optional[set] = None) -> str:
    """Which file of a config (itself or a ``_base_``) has the syntax error, and where.

    mmengine parses the files without their names (``<unknown>, line 1``).
    """
    import ast

    seen = set() if seen is None else seen
    seen.add(osp.abspath(path))
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        ast.parse(source, filename=path)
    except SyntaxError as e:
        return f'config {path}, line {e.lineno}: syntax error: {e.msg}; fix that line'
    for base in Config._get_base_files(path):
        base_path, scope = Config._get_cfg_path(base, path)
        base_path = osp.normpath(base_path)
        if scope is None and osp.isfile(base_path) and osp.abspath(base_path) not in seen:
            found = _syntax_error(base_path, seen)
            if found:
                return found
    return '' if len(seen) > 1 else f'config {path}: syntax error'


def scope_of(cfg: Config) -> str:
    """The config's library ('mmseg' or 'mmpretrain'), from its ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(
            f'config {cfg.filename}: default_scope is {scope!r}; these tools run '
            f"{' and '.join(SCOPES)} configs. Inherit one of the libraries' default_runtime "
            "(e.g. 'mmseg::_base_/default_runtime.py') or set default_scope='mmseg'."
        )
    return scope


def register_scope(scope: str) -> None:
    """Import wider_mm (registers its modules, applies its fixes) and the library's modules."""
    import wider_mm  # noqa: F401

    if scope == 'mmseg':
        from mmseg.utils import register_all_modules

        import wider_mm.evaluation  # noqa: F401  (registers the metrics used by test.py)
    else:
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)


def set_work_dir(cfg: Config, work_dir: Optional[str], config_path: str) -> None:
    """``--work-dir`` > the config's ``work_dir`` > ``./work_dirs/CONFIG_NAME``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config) -> List[str]:
    """``train.py --amp``: mmengine's ``AmpOptimWrapper`` with a dynamic loss scale, as
    mmseg's and mmpretrain's ``tools/train.py`` set it.

    Returns:
        list[str]: Notes for the log (the config enables AMP already).

    Raises:
        SystemExit: no GPU, or another optim wrapper than ``OptimWrapper`` (names the fix).
    """
    if not torch.cuda.is_available():
        raise SystemExit(
            'train.py: --amp needs a GPU (mmengine AmpOptimWrapper) and torch sees none: '
            'drop --amp.'
        )
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        return ['AMP is already enabled in the config']
    if wrapper != 'OptimWrapper':
        raise SystemExit(
            f'train.py: --amp works with optim_wrapper.type=OptimWrapper; '
            f'the config uses {wrapper}.'
        )
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    return []


def enable_auto_scale_lr(cfg: Config) -> None:
    """``train.py --auto-scale-lr``: turn on mmengine's lr scaling (as mmseg/mmpretrain do).

    The Runner then multiplies the lr by (GPUs x batch per GPU) / ``base_batch_size``.

    Raises:
        SystemExit: the config has no ``auto_scale_lr.base_batch_size`` (names the fix).
    """
    if not (cfg.get('auto_scale_lr') or {}).get('base_batch_size'):
        raise SystemExit(
            'train.py: --auto-scale-lr needs auto_scale_lr=dict(base_batch_size=N) in the '
            'config (the batch the lr was tuned for; mmpretrain schedules set it), or '
            '--cfg-options auto_scale_lr.base_batch_size=N'
        )
    cfg.auto_scale_lr.enable = True


def set_loader_flags(
    cfg: Config, pin_memory: Optional[bool] = None, persistent_workers: Optional[bool] = None
) -> List[str]:
    """``--no-pin-memory`` / ``--no-persistent-workers`` on every dataloader of ``cfg``.

    Returns:
        list[str]: The dataloaders changed.
    """
    changed = []
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        if pin_memory is not None:
            loader['pin_memory'] = pin_memory
        if persistent_workers is not None:
            loader['persistent_workers'] = persistent_workers
        if pin_memory is not None or persistent_workers is not None:
            changed.append(name)
    return changed


def _replace_types(node: Any, old: Sequence[str], new: str, path: str, found: List[str]) -> None:
    from wider_mm.engine.config_checks import walk_dicts

    for where, d in walk_dicts(node, path):
        if d.get('type') in old:
            d['type'] = new
            found.append(where)


@dataclass
class Runtime:
    """What :func:`adapt_to_device` changed: log lines, and whether to average BN stats."""

    notes: List[str] = field(default_factory=list)
    average_bn_stats: bool = False


class AverageBNStatsHook(Hook):
    """Average BN running statistics over the processes after every training iteration.

    Stands in for SyncBN's single set of statistics where SyncBN was reverted (CPU
    processes): without it each process keeps its own, so the validation during training
    (each process scoring its share of the images with its own statistics) would not match
    a test of the saved checkpoint. Runs before the checkpoint hook (priority ABOVE_NORMAL).
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        from mmengine.dist import all_reduce_params, is_distributed

        if not is_distributed():
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        stats = [
            b
            for n, b in model.named_buffers()
            if n.endswith(('running_mean', 'running_var')) and b.is_floating_point()
        ]
        all_reduce_params(stats, op='mean')


def adapt_to_device(cfg: Config) -> Runtime:
    """Adjust a distributed config to the machine; return what was changed (to log).

    * Every backend: ``env_cfg.dist_cfg.timeout`` defaults to :data:`DIST_TIMEOUT`.
    * No GPU and ``launcher != 'none'``: gloo backend, DDP without device ids, SyncBN -> BN
      (with BN statistics averaged over the processes, see :class:`AverageBNStatsHook`).
    """
    runtime = Runtime()
    notes = runtime.notes
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if cfg.launcher == 'none':
        return runtime
    if dist_cfg.get('timeout') is None:
        dist_cfg['timeout'] = DIST_TIMEOUT
        notes.append(
            f'collective timeout {DIST_TIMEOUT} s (env_cfg.dist_cfg.timeout): a '
            'stuck process makes the others fail instead of waiting forever'
        )
    if torch.cuda.is_available():
        return runtime
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        notes.append(
            f"no GPU: distributed backend {dist_cfg.get('backend', 'nccl')!r} -> "
            "'gloo' (CPU processes)"
        )
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None  # DDP of a CPU module takes no device ids
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    found: List[str] = []
    _replace_types(cfg.get('model'), SYNC_BN_TYPES, 'BN', 'model', found)
    if cfg.get('sync_bn'):
        found.append(f'sync_bn={cfg.sync_bn!r}')
        cfg.sync_bn = None
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    if found:
        runtime.average_bn_stats = True
        notes.append(
            'no GPU: SyncBN reverted to BN (torch SyncBatchNorm needs CUDA tensors; gloo on '
            'CPU cannot run it): each process normalises with its own batch statistics, and '
            'the running statistics are averaged over the processes after every iteration. '
            f'Changed: {", ".join(found)}'
        )
    return runtime


def init_cpu_distributed(launcher: str, dist_cfg: dict) -> None:
    """Initialise the gloo process group for CPU processes from the launcher's environment.

    mmengine's ``init_dist`` does this for GPUs only (it calls ``torch.cuda.set_device``);
    the Runner skips its own initialisation when a process group already exists.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    env = os.environ
    if launcher == 'slurm':
        env['RANK'] = env['SLURM_PROCID']
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in env:
            nodes = env['SLURM_NODELIST']
            addr = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1').strip()
            env['MASTER_ADDR'] = addr or '127.0.0.1'
        env.setdefault('MASTER_PORT', str(dist_cfg.get('port', 29500)))
    elif launcher == 'mpi':
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['LOCAL_RANK'] = env['OMPI_COMM_WORLD_LOCAL_RANK']
        env.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in env:
            raise KeyError('--launcher mpi needs the environment variable MASTER_ADDR')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in env]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher}: environment variables {missing} are not set; start the '
            'processes with tools/dist_train.sh / dist_test.sh (torchrun) or the slurm '
            'scripts, or use --launcher none for one process.'
        )
    timeout = dist_cfg.get('timeout', DIST_TIMEOUT)
    dist.init_process_group(
        backend=dist_cfg.get('backend', 'gloo'), timeout=datetime.timedelta(seconds=timeout)
    )


def prepare_runtime(cfg: Config) -> Runtime:
    """Adapt ``cfg`` to the machine and start CPU process groups."""
    runtime = adapt_to_device(cfg)
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        init_cpu_distributed(cfg.launcher, cfg.env_cfg.dist_cfg)
    return runtime


def close_distributed() -> None:
    """Close the process group, once the caller has dropped its Runner.

    The DDP wrapper inside a Runner holds the process group, whose gloo threads then live
    on into interpreter shutdown, where tearing them down can abort the process ('terminate
    called without an active exception', SIGABRT) and torchrun reports a run that did all
    its work as failed. So: drop the Runner, collect it, wait for all processes, destroy.
    """
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    # mmengine collects results through ./.dist_test/; leave no empty folder behind
    try:
        os.rmdir('.dist_test')
    except OSError:
        pass  # absent, not empty, or removed by another process


def is_distributed() -> bool:
    """Whether a process group is running."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def build_runner(cfg: Config, runtime: Optional[Runtime] = None, notes: Sequence[str] = ()):
    """Build the Runner (:class:`~wider_mm.engine.checkpoint.WiderRunner`, or
    ``cfg.runner_type``) with :class:`~wider_mm.engine.checkpoint.SafeCheckpointHook`; log
    the notes, add the runtime's hook."""
    runtime = runtime or Runtime()
    from wider_mm.engine.checkpoint import WiderRunner, use_safe_checkpoints
    from wider_mm.engine.config_checks import ConfigError, check_hook_args

    check_hook_args(cfg)
    if cfg.get('default_scope') == 'mmseg':  # label maps vs classes and image sizes
        from wider_mm.datasets.checks import add_annotation_checks

        notes = [*notes, *add_annotation_checks(cfg)]

    note = use_safe_checkpoints(cfg)  # atomic checkpoints with RNG states (exact resume)
    notes = [*notes, note] if note else notes
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS

        runner = RUNNERS.build(cfg)
    else:  # strict load_from / test checkpoint, a resume that never starts over
        try:
            runner = WiderRunner.from_cfg(cfg)
        except (ValueError, TypeError, KeyError) as e:
            # the model's, hooks' and registries' own argument errors (they name the
            # argument and the fix) as one line instead of a traceback through mmengine
            raise ConfigError(f'{cfg.filename}: {str(e).strip(chr(34) + chr(39))}') from None
    if cfg.get('default_scope') == 'mmseg':
        # one tiny dry forward: a wrong in_channels fails here, naming the numbers to use
        from wider_mm.models.segmentors.channel_check import check_segmentor

        try:
            check_segmentor(runner.model)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    for note in [*notes, *runtime.notes]:
        runner.logger.info(f'wider_mm: {note}')
    if runtime.average_bn_stats:
        runner.register_hook(AverageBNStatsHook())
    return runner


def _data_roots(node: Any, path: str) -> List[tuple]:
    """``(config path, data_root)`` of every dataset in a dataloader config (nested ones too)."""
    from wider_mm.engine.config_checks import walk_dicts

    return [
        (f'{where}.data_root', d['data_root'])
        for where, d in walk_dicts(node, path)
        if isinstance(d.get('data_root'), str)
    ]


def check_data_roots(cfg: Config, loaders: Sequence[str]) -> None:
    """Fail early, naming the folder and the fix, when a dataset folder the run needs is absent.

    Without this, mmseg/mmpretrain fail deep inside dataset loading with an assertion on one
    annotation file.
    """
    from wider_mm.engine.config_checks import ConfigError

    for loader in loaders:
        for key, root in _data_roots(cfg.get(loader), loader):
            if not osp.isdir(root):
                raise ConfigError(
                    f'dataset folder {root!r} ({key}) does not exist (working directory '
                    f'{os.getcwd()}). Prepare the dataset there as mmseg/mmpretrain describe '
                    f'(e.g. data/VOCdevkit/VOC2012, data/cityscapes), link it, or point the '
                    f'config at it: --cfg-options {key}=/path/to/dataset'
                )


def run_tool(main: Any, prog: str) -> None:
    """Run a tool's ``main``; a :class:`~wider_mm.engine.config_checks.ConfigError` (bad
    input, the message names the fix) becomes one line on stderr and exit code 2, not a
    traceback."""
    import sys

    from wider_mm.engine.config_checks import ConfigError

    try:
        from wider_mm.datasets.transforms import SegAnnotationError  # a bad label file
    except ImportError:  # no mmseg, no annotation checks
        SegAnnotationError = ConfigError
    try:
        main()
    except (ConfigError, SegAnnotationError) as e:
        print(f'{prog}: {e}', file=sys.stderr)
        sys.exit(2)
