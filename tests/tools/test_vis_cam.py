"""Grad-CAM on this project's classification configs through mmpretrain's own ``vis_cam.py``.

mmpretrain 1.2.0 ships ``tools/visualization/vis_cam.py`` inside its package (``.mim``); it
needs the ``grad-cam`` package (``<1.5``: it passes ``use_cuda=``). The script runs as
``__main__`` on the tiny classification config and its ``main`` on the PSA config at 1/16 width,
each with a random checkpoint saved here from the built model; the CAMs must vary over the
image (a target layer without a spatial map, or a 1x1 one, gives an error or a constant map).
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
from pathlib import Path

import cv2
import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build in mmpretrain's registries, as a fresh process of these tools does (earlier
    tests of the session may have left mmseg's scope current)."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


ROOT = Path(__file__).resolve().parents[2]
VIS_CAM = Path(mmpretrain.__file__).parent / '.mim/tools/visualization/vis_cam.py'
TINY_CLS = Path(__file__).resolve().parent / 'configs/tiny_cls.py'
PSA = ROOT / 'configs/classification/psa/wrn38a1-d8-psa_1xb16-15e_voc12aug-448x448.py'
# tiny_cls is at output stride 32: 64x64 gives a 2x2 map (its own 32x32 crop gives 1x1,
# a constant CAM); the PSA config at 1/16 width, stride 8: 48x64 gives 6x8.
TINY_OPTS = [
    'test_dataloader.dataset.pipeline.1.scale=64',
    'test_dataloader.dataset.pipeline.2.crop_size=64',
]
PSA_OPTS = ['model.backbone.widen_factor=0.0625', 'model.head.in_channels=256']


def _checkpoint(config: Path, opts: list[str], path: Path) -> Path:
    """Save the randomly initialised model of ``config`` (with ``opts``) as a checkpoint."""
    from mmpretrain.registry import MODELS

    parser = argparse.ArgumentParser()  # parsed as vis_cam.py parses its --cfg-options
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *opts]).cfg_options)
    cfg.model.backbone.init_cfg = None  # no ImageNet file: random weights
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg.model, _scope_='mmpretrain'))
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _image(path: Path, h: int, w: int) -> np.ndarray:
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return img


def test_command_line_on_tiny_config(tmp_path, monkeypatch, capsys):
    ckpt = _checkpoint(TINY_CLS, TINY_OPTS, tmp_path / 'tiny.pth')
    img = _image(tmp_path / 'img.png', 64, 64)
    out = tmp_path / 'gradcam.png'
    argv = [str(VIS_CAM), str(tmp_path / 'img.png'), str(TINY_CLS), str(ckpt)]
    argv += ['--method', 'GradCAM', '--save-path', str(out), '--cfg-options', *TINY_OPTS]
    # `python vis_cam.py ...` in this process (a fresh interpreter would add ~10 s of imports)
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path(str(VIS_CAM), run_name='__main__')
    # with no --target-layers it takes the last norm layer, the BN of the final feature
    assert 'last norm layer "backbone.norm_out"' in capsys.readouterr().out
    vis = cv2.imread(str(out))
    assert vis is not None and vis.shape == img.shape
    # vis = (heatmap + image) / const: per channel an affine function of the image plus the
    # heatmap; a constant CAM (constant heatmap) would leave only quantisation in the residual
    for c in range(3):
        x = np.stack([img[..., c].ravel(), np.ones(img[..., c].size)], 1).astype(float)
        y = vis[..., c].ravel().astype(float)
        residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        assert residual.std() > 5, f'channel {c}: the saved overlay shows a constant CAM'


@pytest.mark.parametrize('method', ['GradCAM', 'GradCAM++'])
def test_psa_config_act_out(tmp_path, monkeypatch, method):
    spec = importlib.util.spec_from_file_location('mmpretrain_vis_cam', VIS_CAM)
    vis_cam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vis_cam)
    ckpt = _checkpoint(PSA, PSA_OPTS, tmp_path / 'psa.pth')
    _image(tmp_path / 'img.png', 48, 64)
    cams = []
    show = vis_cam.show_cam_grad
    monkeypatch.setattr(
        vis_cam, 'show_cam_grad', lambda cam, *a, **k: (cams.append(cam), show(cam, *a, **k))
    )
    argv = ['vis_cam.py', str(tmp_path / 'img.png'), str(PSA), str(ckpt), '--method', method]
    argv += ['--target-layers', 'backbone.act_out', '--target-category', '3']
    argv += ['--save-path', str(tmp_path / 'cam.png'), '--cfg-options', *PSA_OPTS]
    monkeypatch.setattr(sys, 'argv', argv)
    vis_cam.main()
    (cam,) = cams
    assert cam.shape == (1, 48, 64)  # at image resolution
    # normalised to [0, 1] by grad-cam: a map that varies spans it, a constant one is all 0
    assert cam.min() == 0 and cam.max() > 0.99, f'constant CAM (max {cam.max()})'
    assert cv2.imread(str(tmp_path / 'cam.png')).shape == (48, 64, 3)
