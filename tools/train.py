"""Train a segmentation (mmseg) or classification (mmpretrain) config with mmengine's Runner.

One tool for both libraries: the config's ``default_scope`` ('mmseg' or 'mmpretrain')
picks the registries. The flags are those of mmseg's and mmpretrain's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--auto-scale-lr] [--no-pin-memory] [--no-persistent-workers]
                                 [--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}]

Distributed: ``tools/dist_train.sh CONFIG GPUS`` (torchrun) or ``tools/slurm_train.sh``.
On a machine without GPUs the same commands run several CPU processes: the backend becomes
gloo, the process group is initialised by wider_mm (mmengine's ``init_dist`` calls
``torch.cuda.set_device``, which fails without a GPU), the DDP wrapper gets no device ids,
and SyncBN (CUDA-only in torch) is reverted to BN, whose running statistics are averaged
over the processes after every iteration; the log says so. Collectives time out after
``env_cfg.dist_cfg.timeout`` seconds (default 1800), so a stuck process fails the run.
That launch logic, shared with ``tools/test.py``, is in ``wider_mm/engine/launch.py``.
Checkpoints are written atomically with the random-number states (an interrupted run
resumes bit-exactly) and ``load_from`` is strict (``load_from_strict=False`` for a partial
load): ``wider_mm/engine/checkpoint.py``.
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from mmengine.config import DictAction

from wider_mm.engine.checkpoint import resolve_resume
from wider_mm.engine.launch import (
    build_runner,
    check_data_roots,
    close_distributed,
    enable_amp,
    enable_auto_scale_lr,
    is_distributed,
    load_config,
    prepare_runtime,
    register_scope,
    run_tool,
    scope_of,
    set_loader_flags,
    set_work_dir,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (mmseg's / mmpretrain's ``tools/train.py`` flags)."""
    parser = argparse.ArgumentParser(description='Train a wider_mm (mmseg or mmpretrain) model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or (no value) from the newest loadable '
        'checkpoint in the work dir (damaged ones are skipped; never trains from scratch over '
        'checkpoints); weights, optimizer, scheduler, iteration and random state continue',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument(
        '--no-validate', action='store_true', help='do not evaluate during training'
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help="scale the lr by the actual batch over the config's auto_scale_lr.base_batch_size",
    )
    parser.add_argument(
        '--no-pin-memory', action='store_true', help='dataloaders without pin_memory'
    )
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='dataloaders without persistent_workers',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100 '
        'model.backbone.widen_factor=0.125 (key="[a,b]" for lists)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank (torch >= 2) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


# ----------------------------------------------------------------------------- training
def main(argv: Optional[Sequence[str]] = None):
    """Run training; return the Runner (None in distributed runs, which release it)."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    scope = scope_of(cfg)
    register_scope(scope)
    set_work_dir(cfg, args.work_dir, args.config)

    notes: List[str] = enable_amp(cfg) if args.amp else []
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    set_loader_flags(
        cfg,
        pin_memory=False if args.no_pin_memory else None,
        persistent_workers=False if args.no_persistent_workers else None,
    )

    # the newest loadable checkpoint (or FILE); never starts over existing checkpoints
    notes += resolve_resume(cfg, args.resume)

    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    runner = build_runner(cfg, prepare_runtime(cfg), notes)
    runner.train()
    if is_distributed():
        del runner  # see close_distributed
        close_distributed()
        return None
    return runner


if __name__ == '__main__':
    run_tool(main, 'train.py')
