"""``adapt_to_device`` on a Config, and ``AverageBNStatsHook`` across two CPU processes."""

import os
import socket
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config

from wider_mm.engine import launch
from wider_mm.engine.launch import DIST_TIMEOUT, AverageBNStatsHook, adapt_to_device


def _cfg(launcher='pytorch', **extra) -> Config:
    norm = dict(type='SyncBN', requires_grad=True)
    return Config(
        dict(
            launcher=launcher,
            model=dict(
                type='EncoderDecoder',
                backbone=dict(type='WiderResNet', norm_cfg=norm),
                decode_head=dict(type='ASPPHead', norm_cfg=dict(norm)),
                auxiliary_head=[dict(type='FCNHead', norm_cfg=dict(type='MMSyncBN'))],
            ),
            **extra,
        )
    )


def test_single_process_config_is_left_alone(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = _cfg(launcher='none')
    before = cfg.to_dict()
    runtime = adapt_to_device(cfg)
    assert runtime.notes == [] and runtime.average_bn_stats is False
    assert cfg.model.to_dict() == before['model'] and 'model_wrapper_cfg' not in cfg


def test_cpu_processes_get_gloo_plain_bn_and_averaged_statistics(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = _cfg(sync_bn='torch', env_cfg=dict(dist_cfg=dict(backend='nccl')))
    runtime = adapt_to_device(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.env_cfg.dist_cfg.timeout == DIST_TIMEOUT
    model = cfg.model
    assert model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert model.decode_head.norm_cfg.type == 'BN'
    assert model.auxiliary_head[0].norm_cfg.type == 'BN'
    assert cfg.sync_bn is None
    wrapper = cfg.model_wrapper_cfg
    assert wrapper.type == 'MMDistributedDataParallel' and wrapper.device_ids is None
    assert wrapper.broadcast_buffers is False and wrapper.find_unused_parameters is False
    assert runtime.average_bn_stats is True
    changed = runtime.notes[-1]
    for path in (
        'model.backbone.norm_cfg',
        'model.decode_head.norm_cfg',
        'model.auxiliary_head.0.norm_cfg',
        "sync_bn='torch'",
    ):
        assert path in changed
    assert any("'nccl' -> 'gloo'" in n for n in runtime.notes)


def test_cpu_processes_without_syncbn_keep_their_settings(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = _cfg(
        env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=60)),
        model_wrapper_cfg=dict(type='MMDistributedDataParallel', broadcast_buffers=True),
        find_unused_parameters=True,
    )
    cfg.model = dict(type='EncoderDecoder', backbone=dict(type='WiderResNet'))
    runtime = adapt_to_device(cfg)
    assert cfg.env_cfg.dist_cfg.timeout == 60 and cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.broadcast_buffers is True
    assert cfg.model_wrapper_cfg.find_unused_parameters is True
    assert runtime.average_bn_stats is False and runtime.notes == []


def test_gpu_processes_keep_syncbn_and_get_a_timeout(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg()
    runtime = adapt_to_device(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.env_cfg.dist_cfg.timeout == DIST_TIMEOUT and 'backend' not in cfg.env_cfg.dist_cfg
    assert runtime.average_bn_stats is False and len(runtime.notes) == 1


def _rank_stats(rank: int) -> dict:
    """Distinct BN statistics per rank (rank 0's are not the mean)."""
    g = torch.Generator().manual_seed(10 + rank)
    return dict(
        mean=torch.randn(4, generator=g) * (rank + 1), var=torch.rand(4, generator=g) + rank
    )


def _average_in_process(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    bn = torch.nn.BatchNorm2d(4)
    stats = _rank_stats(rank)
    bn.running_mean.copy_(stats['mean'])
    bn.running_var.copy_(stats['var'])
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), bn)
    AverageBNStatsHook().after_train_iter(SimpleNamespace(model=model), 0)
    torch.save(dict(mean=bn.running_mean, var=bn.running_var), f'{out}/rank{rank}.pth')
    dist.destroy_process_group()


def test_bn_statistics_become_the_mean_over_processes(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    # fork: the children need no fresh import of the stack (CPU tensors only)
    mp.start_processes(
        _average_in_process, args=(2, port, str(tmp_path)), nprocs=2, start_method='fork'
    )
    per_rank = [_rank_stats(r) for r in (0, 1)]
    for rank in (0, 1):
        got = torch.load(tmp_path / f'rank{rank}.pth')
        for key in ('mean', 'var'):
            want = (per_rank[0][key] + per_rank[1][key]) / 2
            torch.testing.assert_close(got[key], want)


def test_hook_does_nothing_in_one_process():
    bn = torch.nn.BatchNorm2d(2)
    bn.running_mean.fill_(3.0)
    AverageBNStatsHook().after_train_iter(SimpleNamespace(model=bn), 0)
    assert torch.equal(bn.running_mean, torch.full((2,), 3.0))


@pytest.mark.parametrize('name', ['SyncBN', 'MMSyncBN', 'SyncBatchNorm'])
def test_every_syncbn_spelling_is_reverted(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(launcher='pytorch', model=dict(norm_cfg=dict(type=name))))
    assert name in launch.SYNC_BN_TYPES
    assert adapt_to_device(cfg).average_bn_stats and cfg.model.norm_cfg.type == 'BN'
