"""Checkpoints under faults, resume and strict loading (wider_mm/engine/checkpoint.py).

A real ``tools/train.py`` process with dropout on is SIGKILLed inside the write of a
checkpoint (``configs/pause_in_save.py`` blocks it there); ``--resume`` then continues, and
the resumed iterations' losses must equal the ones the killed process had computed for the
same iterations before it was killed, bit for bit. The other cases run ``tools/train.py``
in this process on the checkpoints of that run.
"""

from __future__ import annotations

import errno
import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from wider_mm.engine.checkpoint import (
    AtomicLocalBackend,
    CheckpointError,
    SafeCheckpointHook,
    WiderRunner,
    load_state,
    read_checkpoint,
    resolve_resume,
    write_atomic,
)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
CONFIGS = Path(__file__).resolve().parent / 'configs'
RESUME_CFG = CONFIGS / 'tiny_voc_resume.py'
PAUSE_CFG = CONFIGS / 'tiny_voc_pause.py'


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'wider_ckpt_tools_{name}', TOOLS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


train_tool = _load_tool('train')


def _data_opts(data: Path) -> list:
    root = data / 'VOCdevkit' / 'VOC2012'
    return [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def _env(**extra) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONWARNINGS='ignore',
        PYTHONPATH=os.pathsep.join([str(CONFIGS), os.environ.get('PYTHONPATH', '')]),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _train_cmd(cfg: Path, work: Path, data: Path, *extra: str) -> list:
    return [
        sys.executable,
        str(TOOLS / 'train.py'),
        str(cfg),
        '--work-dir',
        str(work),
        *extra,
        '--cfg-options',
        *_data_opts(data),
    ]


def _train_records(work: Path) -> list:
    """Per run (oldest first): {iteration: the logged training scalars but timings}."""
    runs = []
    for f in sorted(glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))):
        rows = [json.loads(line) for line in Path(f).read_text().splitlines()]
        runs.append(
            {
                r['iter']: {k: v for k, v in r.items() if 'time' not in k}
                for r in rows
                if 'loss' in r
            }
        )
    return runs


def _log(work: Path) -> str:
    return ''.join(Path(f).read_text() for f in sorted(glob.glob(str(work / '*' / '*.log'))))


def _inproc(data: Path, *extra: str) -> list:
    # a fresh visualizer per in-process run (mmengine keeps instances by name)
    return ['--cfg-options', *_data_opts(data), f'visualizer.name=v{uuid.uuid4().hex[:8]}', *extra]


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('ckpt_data') / 'demo'
    _load_tool('make_demo_data').make_demo_data(
        str(out), num_train=4, num_val=2, num_test=1, size=(48, 32), seed=1
    )
    return out


@pytest.fixture(scope='module')
def killed(data, tmp_path_factory) -> dict:
    """A 6-iteration run (checkpoint + validation every 2) SIGKILLed inside the write of
    iter_6.pth, then continued with ``--resume`` up to the same 6 iterations."""
    base = tmp_path_factory.mktemp('killed')
    work, paused, out = base / 'work', base / 'paused', base / 'killed_run.txt'
    with open(out, 'w') as f:
        proc = subprocess.Popen(
            _train_cmd(PAUSE_CFG, work, data),
            cwd=ROOT,
            env=_env(PAUSE_AT='iter_6.pth.tmp', PAUSED=paused),
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 180
        while not paused.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert paused.exists(), f'no write of iter_6.pth to kill:\n{out.read_text()[-3000:]}'
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    after_kill = dict(
        files=sorted(p.name for p in work.iterdir() if p.is_file()),
        last=(work / 'last_checkpoint').read_text().strip(),
    )
    resumed = subprocess.run(
        _train_cmd(RESUME_CFG, work, data, '--resume'),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return dict(work=work, after_kill=after_kill, resume_log=resumed.stdout + resumed.stderr)


def test_kill_inside_a_checkpoint_write_leaves_a_resumable_work_dir(killed):
    work, after = killed['work'], killed['after_kill']
    # killed with iter_6's bytes written to the temporary file, not yet renamed: iter_4 (the
    # one max_keep_ckpts=1 keeps) is still there, whole, and last_checkpoint names it
    assert 'iter_6.pth' not in after['files'] and 'iter_6.pth.tmp' in after['files']
    assert 'iter_4.pth' in after['files'] and 'iter_2.pth' not in after['files']
    assert after['last'] == str(work / 'iter_4.pth')
    log = killed['resume_log']
    assert f'resuming from {work / "iter_4.pth"} (last_checkpoint)' in log
    assert f'removed {work / "iter_6.pth.tmp"}, left by an interrupted write' in log
    assert 'random-number states restored' in log
    files = sorted(p.name for p in work.iterdir() if p.is_file())
    assert 'iter_6.pth' in files and 'iter_4.pth' not in files
    assert not [f for f in files if f.endswith('.tmp')]
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_6.pth')
    ckpt = read_checkpoint(str(work / 'iter_6.pth'))
    assert ckpt['meta']['iter'] == 6 and len(ckpt['meta']['rng_states']) == 1


def test_resumed_losses_equal_the_uninterrupted_run_bit_for_bit(killed):
    first, resumed = _train_records(killed['work'])
    assert sorted(first) == [1, 2, 3, 4, 5, 6]  # iterations 5, 6 ran before the kill
    assert sorted(resumed) == [5, 6]
    for it in (5, 6):
        assert resumed[it] == first[it], f'iteration {it}: {resumed[it]} != {first[it]}'
    # dropout draws differ between iterations (the comparison above is not trivially true)
    assert first[5]['loss'] != first[6]['loss']


@pytest.fixture
def copied(killed, tmp_path) -> Path:
    """A work dir holding the killed run's final checkpoint and nothing else."""
    work = tmp_path / 'copied'
    work.mkdir()
    shutil.copy(killed['work'] / 'iter_6.pth', work / 'iter_6.pth')
    return work


def test_resume_without_last_checkpoint_skips_a_truncated_newest(copied, data):
    good = (copied / 'iter_6.pth').read_bytes()
    (copied / 'iter_8.pth').write_bytes(good[: len(good) // 2])  # a write cut short
    train_tool.main(
        [
            str(RESUME_CFG),
            '--work-dir',
            str(copied),
            '--resume',
            '--no-validate',
            *_inproc(data, 'train_cfg.max_iters=7', 'default_hooks.checkpoint.max_keep_ckpts=-1'),
        ]
    )
    log = _log(copied)
    skip = [line for line in log.splitlines() if 'skipped' in line]
    assert len(skip) == 1, skip
    assert f'{copied / "iter_8.pth"} is not a readable checkpoint (truncated or corrupt' in skip[0]
    assert (
        f'resuming from {copied / "iter_6.pth"} (newest loadable checkpoint; the work dir '
        'has no last_checkpoint)'
    ) in log
    (run,) = _train_records(copied)
    assert sorted(run) == [7]  # continued, not started over
    assert (copied / 'iter_6.pth').read_bytes() == good  # nothing overwritten
    assert len((copied / 'iter_8.pth').read_bytes()) == len(good) // 2
    assert (copied / 'last_checkpoint').read_text().strip() == str(copied / 'iter_7.pth')


def test_resume_continues_with_the_checkpoints_seed(copied):
    """Before the Runner builds the data loaders (whose samplers and workers take the seed),
    not after, as mmengine re-seeds."""
    seed = read_checkpoint(str(copied / 'iter_6.pth'))['meta']['seed']
    cfg = Config(dict(work_dir=str(copied), randomness=dict(seed=None, deterministic=False)))
    resolve_resume(cfg, 'auto')
    assert cfg.resume is True and cfg.load_from == str(copied / 'iter_6.pth')
    assert cfg.randomness == dict(seed=seed, deterministic=False)
    cfg.randomness.seed = seed + 1
    notes = resolve_resume(cfg, str(copied / 'iter_6.pth'))
    assert cfg.randomness.seed == seed and f'continuing with {seed}' in notes[-1]


def test_resume_refuses_when_no_checkpoint_loads(copied, data):
    good = (copied / 'iter_6.pth').read_bytes()
    for name in ('iter_6.pth', 'iter_4.pth'):
        (copied / name).write_bytes(good[:1000])
    with pytest.raises(CheckpointError) as e:
        train_tool.main([str(RESUME_CFG), '--work-dir', str(copied), '--resume', *_inproc(data)])
    msg = str(e.value)
    assert '\n' not in msg and 'refusing to train from scratch' in msg
    assert 'iter_6.pth, iter_4.pth' in msg
    assert sorted(p.name for p in copied.iterdir()) == ['iter_4.pth', 'iter_6.pth']
    # a file given with --resume that does not load: one line naming it
    with pytest.raises(CheckpointError, match='iter_4.pth is not a readable checkpoint') as e:
        train_tool.main(
            [str(RESUME_CFG), '--work-dir', str(copied), '--resume', str(copied / 'iter_4.pth')]
        )
    assert '\n' not in str(e.value)


def test_strict_load_from_of_another_width_fails_listing_keys(copied, data):
    with pytest.raises(CheckpointError) as e:
        train_tool.main(
            [
                str(RESUME_CFG),
                '--work-dir',
                str(copied / 'wide'),
                *_inproc(
                    data,
                    f'load_from={copied / "iter_6.pth"}',
                    'model.backbone.widen_factor=0.0625',
                    'model.decode_head.in_channels=256',
                ),
            ]
        )
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(f'{copied / "iter_6.pth"} does not fit the model')
    assert 'shape mismatches (checkpoint vs model) [backbone.' in msg and 'more]' in msg
    assert 'load_from_strict=False' in msg
    assert not glob.glob(str(copied / 'wide' / '*.pth'))


def test_partial_load_when_asked_says_what_was_loaded(copied, data):
    ckpt = read_checkpoint(str(copied / 'iter_6.pth'))['state_dict']
    runner = train_tool.main(
        [
            str(RESUME_CFG),
            '--work-dir',
            str(copied / 'partial'),
            *_inproc(
                data,
                f'load_from={copied / "iter_6.pth"}',
                'load_from_strict=False',
                'model.decode_head.channels=16',  # the head's layers change shape
                'train_cfg.max_iters=0',  # load, train nothing: the weights stay as loaded
            ),
        ]
    )
    state = runner.model.state_dict()
    head = [k for k in ckpt if k.startswith('decode_head.') and state[k].shape != ckpt[k].shape]
    assert head, 'the test should change some head shapes'
    for k, v in state.items():
        if k.startswith('backbone.'):
            assert torch.equal(v, ckpt[k]), k
    summary = [line for line in _log(copied / 'partial').splitlines() if 'partial load' in line]
    assert len(summary) == 1
    loaded = len(state) - len(head)
    assert f'loaded {loaded} of {len(state)} model tensors' in summary[0]
    assert f'{len(head)} shape mismatches' in summary[0] and head[0] in summary[0]


def test_plain_mmseg_tools_get_it_from_the_config(data, tmp_path):
    """mmseg's tools/train.py builds ``runner_type`` from the registry: WiderRunner brings
    the safe checkpoint hook (also in place of the one mmengine adds by default)."""
    from mmengine.registry import RUNNERS

    from wider_mm.engine.launch import register_scope

    register_scope('mmseg')

    cfg = Config.fromfile(str(RESUME_CFG))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in _inproc(data)[1:]))
    cfg.work_dir, cfg.runner_type = str(tmp_path), 'WiderRunner'
    runner = RUNNERS.build(cfg)
    assert type(runner) is WiderRunner
    hooks = [h for h in runner.hooks if isinstance(h, SafeCheckpointHook)]
    assert len(hooks) == 1 and hooks[0].max_keep_ckpts == 1
    del cfg.default_hooks['checkpoint']
    cfg.visualizer.name = f'v{uuid.uuid4().hex[:8]}'
    assert any(isinstance(h, SafeCheckpointHook) for h in RUNNERS.build(cfg).hooks)


# ----------------------------------------------------------------------------- units
def test_converted_checkpoint_must_match_the_recorded_backbone_arguments():
    from wider_mm import WiderResNet

    model = WiderResNet(depth=16, variant='a1', widen_factor=1 / 32)
    recorded = dict(type='WiderResNet', depth=16, variant='a', widen_factor=1 / 32)
    ckpt = dict(state_dict=model.state_dict(), meta=dict(backbone=recorded))
    with pytest.raises(CheckpointError) as e:  # Model A weights, an A1 model
        load_state(model, ckpt, 'a.pth')
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith('a.pth: ') and "variant: the weights need 'a'" in msg
    assert 'load_from_ignore_recorded' in msg
    assert load_state(model, ckpt, 'a.pth', ignore_recorded=['variant']).exact  # on purpose


def _small_wrn():
    from wider_mm import WiderResNet

    return WiderResNet(depth=16, widen_factor=1 / 16)


def test_load_state_strips_module_and_takes_the_keys_under_a_prefix():
    src, model = _small_wrn(), _small_wrn()
    dp = {f'module.{k}': v for k, v in src.state_dict().items()}  # DataParallel's
    assert load_state(model, dp, 'dp.pth').exact
    seg = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    seg['decode_head.conv.weight'] = torch.zeros(1)
    for prefix in ('backbone', 'backbone.'):
        model = _small_wrn()
        assert load_state(model, dict(state_dict=seg), 'seg.pth', prefix=prefix).exact
        for k, v in src.state_dict().items():
            assert torch.equal(model.state_dict()[k], v), k
    with pytest.raises(CheckpointError, match=r"^seg.pth: no key starts with prefix 'head.'$"):
        load_state(model, seg, 'seg.pth', prefix='head')
    with pytest.raises(CheckpointError, match='unexpected keys'):  # no prefix: all of them
        load_state(model, seg, 'seg.pth')


@pytest.mark.parametrize('drop,extra', [(1, 0), (0, 1), (6, 0), (5, 0), (2, 7)])
def test_missing_or_unexpected_keys_alone_fail_and_are_listed(drop, extra):
    src = _small_wrn()
    state = src.state_dict()
    # (BN fills in a missing num_batches_tracked itself: not a missing key)
    names = [k for k in state if not k.endswith('num_batches_tracked')][:drop]
    for k in names:
        state.pop(k)
    extras = [f'extra{i}.weight' for i in range(extra)]
    state.update({k: torch.zeros(1) for k in extras})
    with pytest.raises(CheckpointError) as e:
        load_state(_small_wrn(), state, 'x.pth', fix='FIX')
    msg = str(e.value)

    def listed(keys):
        return (
            '['
            + ', '.join(keys[:5])
            + (f' and {len(keys) - 5} more' if len(keys) > 5 else '')
            + ']'
        )

    parts = [f'{len(names)} missing keys {listed(names)}'] if drop else []
    parts += [f'{extra} unexpected keys {listed(extras)}'] if extra else []
    assert msg == (
        f'x.pth does not fit the model (WiderResNet): {", ".join(parts)}. If it is a released '
        'Wider ResNet checkpoint (MXNet, PSA, MAP, NVIDIA), convert it first with '
        'tools/model_converters/wrn2mm.py; otherwise FIX'
    )


def test_recorded_arguments_are_checked_before_the_shapes():
    from wider_mm import WiderResNet

    deep = WiderResNet(depth=20, widen_factor=1 / 16)
    recorded = dict(type='WiderResNet', depth=20, variant='a1', widen_factor=1 / 16)
    ckpt = dict(state_dict=deep.state_dict(), meta=dict(backbone=recorded))
    with pytest.raises(CheckpointError) as e:  # WRN-20 weights, a WRN-16 model
        load_state(_small_wrn(), ckpt, 'deep.pth', ignore_option=None)
    msg = str(e.value)
    assert 'depth: the weights need 20, the model has 16; set model.backbone.depth=20' in msg
    assert 'ignore_recorded' not in msg and 'does not fit' not in msg


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / 'iter_2.pth'
    target.write_bytes(b'old')

    def full_disk(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(CheckpointError, match='No space left on device; the files written'):
        write_atomic(str(target), b'new checkpoint')
    assert target.read_bytes() == b'old' and sorted(os.listdir(tmp_path)) == ['iter_2.pth']


class _Runner:
    """What CheckpointHook._save_best_checkpoint uses of a Runner; ``save_checkpoint``
    records which files exist while it writes."""

    def __init__(self, work_dir: Path) -> None:
        import logging

        self.work_dir, self.epoch, self.iter = str(work_dir), 0, 0
        self.message_hub = MessageHub.get_instance(f'ckpt_test_{uuid.uuid4().hex}')
        self.logger = logging.getLogger('ckpt_test')
        self.seen = []

    def save_checkpoint(self, out_dir, filename, *args, backend_args=None, **kwargs):
        from mmengine.fileio import get_file_backend

        self.seen.append(sorted(os.listdir(out_dir)))
        get_file_backend(out_dir, backend_args=backend_args).put(b'ckpt', f'{out_dir}/{filename}')


def test_previous_best_is_removed_after_the_new_best_is_written(tmp_path):
    runner = _Runner(tmp_path)
    hook = SafeCheckpointHook(interval=1, by_epoch=False, save_best='acc')
    hook.before_train(runner)
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    runner.iter = 2
    hook.after_val_epoch(runner, dict(acc=0.5))
    runner.iter = 4
    hook.after_val_epoch(runner, dict(acc=0.7))
    # while the best of iteration 4 was written, the one of iteration 2 was still there
    assert runner.seen[-1] == ['best_acc_iter_2.pth']
    assert sorted(os.listdir(tmp_path)) == ['best_acc_iter_4.pth']
