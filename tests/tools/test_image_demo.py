"""tools/image_demo.py and wider_mm.inference: converted and trained checkpoints on images.

A segmentation and a classification checkpoint are written in the authors' MXNet layout at
1/16 width, registered as released files by their MD5, converted by wrn2mm.py and run
through image_demo.py with no config given (their meta names it); their predictions are
labelled with their ``dataset_meta``. A checkpoint trained on the demo data runs through
mmseg's ``MMSegInferencer``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from common import load_tool
from PIL import Image

from wider_mm.datasets.demo import make_demo_data
from wider_mm.inference import build_inferencer, list_images
from wider_mm.models.backbones.wider_resnet import WiderResNet
from wider_mm.zoo import RELEASED, config_of, md5sum

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests' / 'converters'))
import mxnet_writer as mw  # noqa: E402
from wrn_ports import to_ade  # noqa: E402

W = 1 / 16
VOC_SEG = 'widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504'
IMAGENET_CLS = 'wrn38a1_8xb32_in1k-test320'


image_demo = load_tool('image_demo', 'demo_image_demo')
wrn2mm = load_tool('model_converters/wrn2mm', 'demo_wrn2mm')


def _mxnet_file(path: Path, head: dict, seed: int = 0) -> Path:
    """Random (BN-sane) weights of a 1/16-width A1 in the authors' layout, plus ``head``."""
    g = torch.Generator().manual_seed(seed)
    state = {
        k: torch.randn(v.shape, generator=g) * 0.05
        for k, v in to_ade(WiderResNet(widen_factor=W).state_dict()).items()
    }
    state = {k: (v.abs() + 0.5 if 'moving_var' in k else v) for k, v in state.items()}
    state.update({k: torch.randn(s, generator=g) * 0.05 for k, s in head.items()})
    mw.save(path, {k: v.numpy() for k, v in state.items()}, 'V2')
    return path


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('demo') / 'demo'
    make_demo_data(str(out), num_train=1, num_val=2, num_test=1, size=(48, 32))
    return out / 'VOCdevkit' / 'VOC2012' / 'JPEGImages'


def _convert(tmp_path: Path, src: Path, task: str, dataset: str, stride: int, zoo: str) -> Path:
    """``src`` through tools/model_converters/wrn2mm.py, registered as a released A1 file."""
    entry = dict(origin='fixture', format='mxnet', task=task, dataset=dataset, zoo_model=zoo)
    entry['backbone'] = dict(variant='a1', output_stride=stride)
    RELEASED.register(dict(entry, name=f'fixture_{src.name}', md5=md5sum(str(src))))
    try:
        dst = tmp_path / 'converted.pth'
        assert wrn2mm.main([str(src), str(dst)]) == 0
    finally:
        RELEASED.remove(f'fixture_{src.name}')
    return dst


def test_converted_segmentation_checkpoint_alone(images, tmp_path, capsys):
    c, h = int(4096 * W), int(512 * W)
    src = _mxnet_file(
        tmp_path / 'seg.params',
        {
            'arg:conv6a_weight': (h, c, 3, 3),
            'arg:conv6a_bias': (h,),
            'arg:linear21_weight': (21, h, 3, 3),
            'arg:linear21_bias': (21,),
        },
    )
    ckpt = _convert(tmp_path, src, 'segmentation', 'voc', 8, VOC_SEG)
    out = tmp_path / 'out'
    assert image_demo.main([str(images / '*.jpg'), str(ckpt), '--out-dir', str(out)]) == 0
    n = len(list_images(str(images)))
    assert f'{n} images segmented' in capsys.readouterr().out

    from mmseg.datasets import PascalVOCDataset

    voc = PascalVOCDataset.METAINFO
    inferencer = build_inferencer(str(ckpt), device='cpu')
    assert list(inferencer.model.dataset_meta['classes']) == list(voc['classes'])
    for img in list_images(str(images)):
        stem = Path(img).stem
        overlay = Image.open(out / 'vis' / Path(img).name)
        labels = Image.open(out / 'labels' / f'{stem}.png')
        assert overlay.size == labels.size == Image.open(img).size
        assert labels.mode == 'P'  # the checkpoint's (VOC) palette, not mmseg's default
        assert labels.getpalette()[: 3 * 21] == [c for rgb in voc['palette'] for c in rgb]
        assert np.array(labels).max() < 21


def test_converted_classification_checkpoint_topk(images, tmp_path):
    c = int(4096 * W)
    src = _mxnet_file(
        tmp_path / 'cls.params',
        {'arg:linear1000_weight': (1000, c), 'arg:linear1000_bias': (1000,)},
    )
    ckpt = _convert(tmp_path, src, 'classification', 'imagenet', 32, IMAGENET_CLS)
    out = tmp_path / 'out'
    first = sorted(images.glob('*.jpg'))[0]
    assert image_demo.main([str(first), str(ckpt), '--out-dir', str(out), '--topk', '3']) == 0
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

    (rec,) = json.loads((out / 'predictions.json').read_text())
    top = rec['topk']
    assert len(top) == 3 and [t['score'] for t in top] == sorted(
        (t['score'] for t in top), reverse=True
    )
    assert all(t['class'] == IMAGENET_CATEGORIES[t['index']] for t in top)
    assert Image.open(out / 'vis' / f'{first.stem}.png').size == Image.open(first).size


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert image_demo.main([str(tmp_path / 'none*.jpg'), 'x.pth', '--out-dir', 'o']) == 1
    assert 'no images' in capsys.readouterr().err
    img = tmp_path / 'a.png'
    Image.new('RGB', (8, 8)).save(img)
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': {}}, plain)
    assert image_demo.main([str(img), str(plain), '--out-dir', str(tmp_path / 'o')]) == 1
    assert 'names no config' in capsys.readouterr().err


@pytest.fixture(scope='module')
def demo_trained(images, tmp_path_factory) -> Path:
    """mmengine's Runner (what tools/train.py runs): 2 iterations of the (tiny) demo config."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    work = tmp_path_factory.mktemp('trained')
    cfg = Config.fromfile(ROOT / 'tests' / 'tools' / 'configs' / 'tiny_voc.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(images.parent)
    cfg.merge_from_dict(
        {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 100, 'visualizer.name': 'demo_vis'}
    )
    cfg.work_dir = str(work)
    Runner.from_cfg(cfg).train()
    return work / 'iter_2.pth'


def test_demo_trained_checkpoint_through_mmseg_inferencer(demo_trained, images):
    from mmseg.apis import MMSegInferencer

    inferencer = MMSegInferencer(model=config_of(str(demo_trained)), weights=str(demo_trained))
    classes = ('background', 'aeroplane', 'bird', 'car', 'person')
    assert tuple(inferencer.model.dataset_meta['classes']) == classes
    img = sorted(images.glob('*.jpg'))[0]
    pred = inferencer(str(img))['predictions']
    assert pred.shape == np.array(Image.open(img)).shape[:2] and pred.max() < len(classes)
