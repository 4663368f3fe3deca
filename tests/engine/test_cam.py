"""CAMs of wider_mm.engine.cam against PSA's own formula, on a converted PSA checkpoint.

The reference below is PSA's inference (jiwoon-ahn/psa ``infer_cls.py`` with
``VOC12ClsDatasetMSF`` and ``resnet38_cls.Net.forward_cam``) written out on the test side,
run on the PSA-layout network of tests/converters/wrn_ports.py (1/16 width).
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from PIL import Image

from wider_mm.engine.cam import CAMSettings, build_model, build_split, multiscale_cam
from wider_mm.zoo.convert import convert_release

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'converters'))
from wrn_ports import PsaNet, randomize  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs/classification/psa/wrn38a1-d8-psa_1xb16-15e_voc12aug-448x448.py'
DIV = 16
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def psa_cams(net, fc8, img: Image.Image, label: np.ndarray, scales=(1.0, 0.5, 1.5, 2.0)):
    """PSA: PIL-bicubic scales + flips, ReLU(conv(feature, fc8)), upsampled, summed, / max."""
    w, h = img.size
    views = []
    for s in scales:
        size = (round(w * s), round(h * s))
        arr = np.asarray(img.resize(size, resample=Image.BICUBIC))  # PSA's CUBIC (alias)
        x = np.empty_like(arr, np.float32)
        for c in range(3):
            x[..., c] = (arr[..., c] / 255.0 - MEAN[c]) / STD[c]
        x = x.transpose(2, 0, 1)
        views += [x, np.flip(x, -1).copy()]
    cams = []
    for i, v in enumerate(views):
        with torch.no_grad():
            cam = F.relu(F.conv2d(net(torch.from_numpy(v)[None]), fc8))
            cam = F.interpolate(cam, (h, w), mode='bilinear', align_corners=False)[0]
        cam = cam.numpy() * label.reshape(-1, 1, 1)
        cams.append(np.flip(cam, -1) if i % 2 == 1 else cam)
    total = np.sum(cams, axis=0)
    norm = total / (np.max(total, (1, 2), keepdims=True) + 1e-5)
    return {i: norm[i] for i in range(len(label)) if label[i] > 1e-5}


def small_config(**head) -> Config:
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.update(widen_factor=1 / DIV, init_cfg=None)
    cfg.model.head.update(in_channels=4096 // DIV, **head)
    return cfg


def sample_image() -> np.ndarray:
    """An RGB image of odd size (PSA's rounding of scaled sizes) with some structure."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    img[10:30, 5:25] //= 3
    img[2:12, 30:44, 0] = 255
    return img


@pytest.fixture(scope='module')
def psa_checkpoint(tmp_path_factory):
    """A PSA-layout res38_cls.pth (trunk + fc8, as PSA's train_cls.py saves it), converted.

    fc8 is random but orthogonal to the test image's mean feature, so that every class map
    is positive on part of the image only (random weights on the non-negative features
    would give maps that are all zero or nearly constant).
    """
    tmp = tmp_path_factory.mktemp('psa')
    net = randomize(PsaNet(div=DIV), seed=3).eval()
    with torch.no_grad():
        mean = net(torch.from_numpy(_normalise(sample_image()))[None]).mean((0, 2, 3))
    g = torch.Generator().manual_seed(4)
    fc8 = torch.randn(20, 4096 // DIV, generator=g)
    fc8 = (fc8 - (fc8 @ mean)[:, None] * mean / mean.dot(mean))[:, :, None, None]
    state = dict(net.state_dict(), **{'fc8.weight': fc8})
    torch.save(state, tmp / 'res38_cls.pth')
    # as tools/model_converters/wrn2mm.py does: the registry knows the file by its name
    conv, ident = convert_release(str(tmp / 'res38_cls.pth'), str(tmp / 'psa_cls.pth'))
    assert ident.entry.name == 'res38_cls.pth' and conv.meta['task'] == 'classification'
    assert conv.meta['head'] == dict(
        type='MultiLabelCAMHead', bias=False, in_channels=4096 // DIV, num_classes=20
    )
    assert 'head.fc.bias' not in conv.state_dict
    assert conv.meta['zoo_model'] == CONFIG.stem
    assert conv.meta['dataset_meta']['classes'][:2] == ['aeroplane', 'bicycle']
    return net, fc8, str(tmp / 'psa_cls.pth')


def test_converted_psa_checkpoint_gives_psas_cams(psa_checkpoint):
    net, fc8, ckpt = psa_checkpoint
    model = build_model(small_config(), ckpt)
    img = sample_image()
    labels = [2, 7, 14]
    ours = multiscale_cam(model, np.ascontiguousarray(img[..., ::-1]), labels)  # BGR in
    label = np.zeros(20, np.float32)
    label[labels] = 1
    ref = psa_cams(net, fc8, Image.fromarray(img), label)
    assert ours.shape == (3, 37, 45) and ours.dtype == np.float32
    for k, c in enumerate(labels):
        assert ref[c].max() > 0.99 and (ref[c] < 0.5).mean() > 0.05  # a real map
        assert np.abs(ours[k] - ref[c]).max() < 1e-4, c
    # single scale, no flip: PSA's formula with one view
    one = multiscale_cam(model, np.ascontiguousarray(img[..., ::-1]), [7], (1.0,), flip=False)
    view = F.relu(F.conv2d(net(torch.from_numpy(_normalise(img))[None]), fc8))[0, 7]
    view = F.interpolate(view[None, None], (37, 45), mode='bilinear', align_corners=False)[0, 0]
    want = (view / (view.max() + 1e-5)).detach().numpy()
    assert np.abs(one[0] - want).max() < 1e-4


def _normalise(img):
    x = (img / 255.0 - np.array(MEAN)) / np.array(STD)
    return x.transpose(2, 0, 1).astype(np.float32)


def test_no_labels_gives_no_maps(psa_checkpoint):
    model = build_model(small_config(), psa_checkpoint[2])
    assert multiscale_cam(model, np.zeros((9, 11, 3), np.uint8), []).shape == (0, 9, 11)


def test_checkpoint_of_another_model_fails_naming_it(psa_checkpoint, tmp_path):
    with pytest.raises(ValueError) as e:
        build_model(small_config(num_classes=4), psa_checkpoint[2])  # 20-class fc8
    msg = str(e.value)
    assert 'does not fit the model (ImageClassifier): 1 shape mismatches (checkpoint vs ' in msg
    assert '[head.fc.weight: (20, 256) vs (4, 256)]' in msg and '\n' not in msg
    assert msg.endswith(
        'check that config and checkpoint belong together (depth, variant, widths, classes)'
    )


def test_settings_from_config_and_overrides():
    cfg = Config.fromfile(str(CONFIG))
    s = CAMSettings.from_config(cfg)
    assert s.scales == [1.0, 0.5, 1.5, 2.0] and s.flip and len(s.thresholds) == 19
    s = CAMSettings.from_config(cfg, scales=[1], flip=False, thresholds=None)
    assert s.scales == [1.0] and not s.flip and len(s.thresholds) == 19
    with pytest.raises(ValueError, match='positive'):
        CAMSettings.from_config(cfg, scales=[0])
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        CAMSettings.from_config(cfg, thresholds=[1.5])
    cfg.cam_cfg['scale'] = 2
    with pytest.raises(ValueError, match="unknown keys \\['scale'\\]"):
        CAMSettings.from_config(cfg)


def test_missing_split_names_the_list(tmp_path):
    cfg = Config.fromfile(str(CONFIG))
    cfg.test_dataloader.dataset.data_root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match='ImageSets/Segmentation/train_aug.txt'):
        build_split(cfg, 'train_aug', CAMSettings.from_config(cfg))
