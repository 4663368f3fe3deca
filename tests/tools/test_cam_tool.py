"""tools/cam.py and tools/dist_cam.sh on generated VOC-layout data (CPU, gloo).

A 2-process run writes the same CAM files, index and scores as one process (same threads per
process, so the same float sums); the record is one the leaderboard reads, placing a
full-VOC CAM mIoU beside PSA's published one; bad input is a one-line error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from common import load_tool
from mmengine.config import Config

from wider_mm.datasets.demo import make_demo_data
from wider_mm.evaluation import leaderboard as board

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
DEMO = ROOT / 'configs/demo/wrn38a1-w16-d8-psa_2xb8-300i_demo-voc-128x96.py'
SMALL = ['model.backbone.widen_factor=0.0625', 'model.head.in_channels=256']


cam_tool = load_tool('cam')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Demo data (5 train images) and a random 1/16-width checkpoint of the demo config."""
    from mmpretrain.registry import MODELS

    tmp = tmp_path_factory.mktemp('cam')
    make_demo_data(str(tmp / 'demo'), 5, 2, 0, (64, 48), layouts=('voc',))
    cfg = Config.fromfile(str(DEMO))
    cfg.model.backbone.widen_factor = 1 / 16
    cfg.model.head.in_channels = 256
    torch.manual_seed(0)
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor, _scope_='mmpretrain')
    )
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp / 'cls.pth')
    root = tmp / 'demo/VOCdevkit/VOC2012'
    return dict(
        tmp=tmp, ckpt=tmp / 'cls.pth', opts=[*SMALL, f'test_dataloader.dataset.data_root={root}']
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_processes_write_what_one_writes(setup):
    tmp = setup['tmp']
    one = cam_tool.main(
        [str(DEMO), str(setup['ckpt']), '--out-dir', str(tmp / 'one'), '--cfg-options']
        + setup['opts']
    )
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(_free_port()), PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        ['bash', str(TOOLS / 'dist_cam.sh'), str(DEMO), str(setup['ckpt']), '2']
        + ['--out-dir', str(tmp / 'two'), '--cfg-options', *setup['opts']],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.name for p in (tmp / 'one/cams').glob('*.npy'))
    assert len(files) == 5 and files == sorted(p.name for p in (tmp / 'two/cams').glob('*.npy'))
    for f in files:
        assert (tmp / 'one/cams' / f).read_bytes() == (tmp / 'two/cams' / f).read_bytes(), f
    index = json.loads((tmp / 'one/cams.json').read_text())
    assert index == json.loads((tmp / 'two/cams.json').read_text())
    two = json.loads((tmp / 'two/metrics.json').read_text())
    assert (one['world_size'], two['world_size']) == (1, 2)
    for key in ('metrics', 'per_class', 'sweep', 'num_images', 'evaluated_images'):
        assert one[key] == two[key], key
    # one float16 map per labelled class, at image resolution, normalised to max ~1
    name, classes = next((n, c) for n, c in index['images'].items() if c)
    cams = np.load(tmp / 'one/cams' / f'{name}.npy')
    assert cams.dtype == np.float16 and cams.shape == (len(classes), 48, 64)
    assert np.allclose(cams.reshape(len(classes), -1).max(1), 1, atol=1e-3)
    assert len(list((tmp / 'one/overlays').glob('*.png'))) == 5
    assert {'cam_miou.json', 'cam_miou.md', 'cam_miou.png'} <= {
        p.name for p in (tmp / 'one').iterdir()
    }
    assert one['metrics']['CAM mIoU'] == max(s['mIoU'] for s in one['sweep'])


def test_leaderboard_puts_the_cam_miou_beside_psas(setup, tmp_path):
    rec = json.loads((setup['tmp'] / 'one/metrics.json').read_text())
    rows = board.build_rows([dict(rec, _run='demo')])
    ours = [r for r in rows if r['source'] == 'ours']
    assert [(r['metric'], r['split'], r['value']) for r in ours] == [
        ('CAM mIoU', 'train', rec['metrics']['CAM mIoU'])
    ]
    assert ours[0]['published'] == '' and 'not comparable' in ours[0]['published_setting']
    full = dict(rec, _run='voc', dataset=dict(rec['dataset'], classes=['c'] * 21))
    row = next(r for r in board.build_rows([full]) if r['source'] == 'ours')
    assert row['published'] == 47.7  # PSA, VOC 2012 train
    val = dict(full, split='val')
    row = next(r for r in board.build_rows([val]) if r['source'] == 'ours')
    assert row['published'] == 47.2


def test_bad_input_is_one_line(setup, tmp_path, capsys):
    base = [str(DEMO), str(setup['ckpt']), '--out-dir', str(tmp_path / 'x')]
    with pytest.raises(SystemExit, match="split 'trainaug': no image list"):
        cam_tool.main([*base, '--split', 'trainaug', '--cfg-options', *setup['opts']])
    with pytest.raises(SystemExit, match='scales must be positive'):
        cam_tool.main([*base, '--scales', '0', '--cfg-options', *setup['opts']])
    with pytest.raises(SystemExit, match='does not fit the model'):
        cam_tool.main([*base, '--cfg-options', *setup['opts'], 'model.head.num_classes=3'])
    with pytest.raises(SystemExit, match='does not exist'):
        cam_tool.main([str(DEMO), str(tmp_path / 'none.pth'), '--out-dir', str(tmp_path)])
    used = tmp_path / 'used'
    used.mkdir()
    (used / 'old.npy').write_bytes(b'')
    with pytest.raises(SystemExit, match='is not empty'):
        cam_tool.main([str(DEMO), str(setup['ckpt']), '--out-dir', str(used)])
