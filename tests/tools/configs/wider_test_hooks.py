"""A hook the tool tests load into training processes (``custom_imports``)."""

import atexit
import os
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _save_thread_names(path: str) -> None:
    names = sorted(
        open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')
    )
    with open(path, 'w') as f:
        f.write('\n'.join(names))


@HOOKS.register_module(force=True)
class DumpBNStatsHook(Hook):
    """At the end of training, each process saves its BN running statistics, and at exit
    (after tools/train.py has returned) the names of its threads."""

    def after_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        stats = {n: b.clone() for n, b in model.named_buffers() if 'running_' in n}
        rank = get_rank()
        torch.save(stats, osp.join(runner.work_dir, f'bn_stats_rank{rank}.pth'))
        if osp.isdir('/proc/self/task'):
            atexit.register(
                _save_thread_names, osp.join(runner.work_dir, f'threads_at_exit_rank{rank}.txt')
            )
