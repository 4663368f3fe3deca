"""The anchors' flags of tools/train.py and tools/test.py that this project adds, and mim.

``train.py --auto-scale-lr --no-pin-memory --no-persistent-workers`` change what mmengine's
Runner builds; ``test.py --out-item metrics`` writes the metrics to ``--out``; ``mim train
mmsegmentation`` runs mmseg's own train.py on the demo config.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from wider_mm.engine.launch import enable_auto_scale_lr, set_loader_flags

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / 'configs' / 'demo' / 'wider_wrn38a1-w8-d8_2xb8-400i_demo-voc-128x96.py'
TINY = ROOT / 'tests' / 'tools' / 'configs' / 'tiny_voc.py'


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'flags_{name}', ROOT / 'tools' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


train_tool, test_tool, demo_data = _tool('train'), _tool('test'), _tool('make_demo_data')


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('flags') / 'demo'
    demo_data.make_demo_data(str(out), num_train=2, num_val=2, num_test=1, size=(48, 32))
    return out / 'VOCdevkit' / 'VOC2012'


def _roots(root: Path) -> list:
    return [f'{k}.dataset.data_root={root}' for k in ('train_dataloader', 'val_dataloader')] + [
        f'test_dataloader.dataset.data_root={root}'
    ]


def test_train_flags_parse_and_change_the_config():
    args = train_tool.parse_args(
        [str(TINY), '--auto-scale-lr', '--no-pin-memory', '--no-persistent-workers']
    )
    assert args.auto_scale_lr and args.no_pin_memory and args.no_persistent_workers
    cfg = Config.fromfile(TINY)
    with pytest.raises(SystemExit, match='auto_scale_lr=dict\\(base_batch_size=N\\)'):
        enable_auto_scale_lr(cfg)  # the demo config has none: a message naming the fix
    cfg.merge_from_dict({'auto_scale_lr.base_batch_size': 16})
    enable_auto_scale_lr(cfg)
    assert cfg.auto_scale_lr.enable is True
    for name in ('train_dataloader', 'val_dataloader'):
        cfg[name].pin_memory = cfg[name].persistent_workers = True
    assert set_loader_flags(cfg, pin_memory=False, persistent_workers=False)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[name].pin_memory is False and cfg[name].persistent_workers is False
    assert set_loader_flags(cfg) == []  # no flag, no change


def test_train_auto_scale_lr_scales_the_runners_lr(data, tmp_path):
    runner = train_tool.main(
        [
            str(TINY),
            '--work-dir',
            str(tmp_path / 'work'),
            '--auto-scale-lr',
            '--no-pin-memory',
            '--cfg-options',
            *_roots(data),
            'auto_scale_lr.base_batch_size=16',
            'train_cfg.max_iters=1',
            'train_cfg.val_interval=100',
            'param_scheduler=[]',
            'visualizer.name=flags_vis',
        ]
    )
    base = Config.fromfile(TINY).optim_wrapper.optimizer.lr
    lr = runner.optim_wrapper.optimizer.param_groups[0]['lr']
    assert lr == pytest.approx(base * 2 / 16)  # 1 process x batch 2 over base_batch_size 16
    assert runner.train_dataloader.pin_memory is False
    return runner


def test_test_out_item_metrics_writes_the_metrics(data, tmp_path):
    work = tmp_path / 'work'
    runner = test_train_auto_scale_lr_scales_the_runners_lr(data, tmp_path)
    ckpt = work / 'iter_1.pth'
    assert ckpt.is_file()
    del runner
    out = tmp_path / 'metrics.json'
    record = test_tool.main(
        [
            str(TINY),
            str(ckpt),
            '--work-dir',
            str(tmp_path / 'test'),
            '--out',
            str(out),
            '--out-item',
            'metrics',
            '--cfg-options',
            *_roots(data),
            'visualizer.name=flags_vis_test',
        ]
    )
    written = json.loads(out.read_text())
    assert written == record['metrics'] and 'mIoU' in written
    with pytest.raises(SystemExit, match='--out-item metrics needs --out FILE'):
        test_tool.main([str(TINY), str(ckpt), '--out-item', 'metrics'])


@pytest.mark.skipif(
    shutil.which('mim', path=os.path.dirname(sys.executable)) is None,
    reason='openmim is not installed (tools/install.sh installs it)',
)
def test_mim_train_runs_the_demo_config(data, tmp_path):
    mim = shutil.which('mim', path=os.path.dirname(sys.executable))
    work = tmp_path / 'mim'
    proc = subprocess.run(
        [
            mim,
            'train',
            'mmsegmentation',
            str(DEMO),
            '--gpus',
            '0',
            '--work-dir',
            str(work),
            '--cfg-options',
            *_roots(data),
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=2',
            'train_dataloader.batch_size=2',
            'param_scheduler=[]',
        ],
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore'),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (work / 'iter_2.pth').is_file()
    assert 'mIoU' in proc.stdout + proc.stderr  # mmseg's own train.py validated at iter 2
