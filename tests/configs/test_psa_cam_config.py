"""configs/classification/psa: PSA's CAM classifier on mmpretrain's VOC dataset and metrics.

At 1/16 width on generated VOC-layout data (wider_mm/datasets/demo.py): the config trains
through mmengine's Runner with mmpretrain's real ``VOC`` dataset, pipeline and VOC
multi-label metrics, initialised strictly from a backbone checkpoint (its ``Pretrained``
init), with PSA's frozen layers left untouched; its loss is PSA's
``multilabel_soft_margin_loss`` and its optimizer groups are PSA's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from wider_mm import WiderResNet
from wider_mm.datasets.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs/classification/psa/wrn38a1-d8-psa_1xb16-15e_voc12aug-448x448.py'
DEMO = ROOT / 'configs/demo/wrn38a1-w16-d8-psa_2xb8-300i_demo-voc-128x96.py'
CLASSES = ('aeroplane', 'bird', 'car', 'person')
SMALL = 1 / 16


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmpretrain')


@pytest.fixture(scope='module')
def voc(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp('voc') / 'demo'
    make_demo_data(str(out), 6, 4, 0, (64, 48), layouts=('voc',))
    return str(out / 'VOCdevkit' / 'VOC2012')


def backbone_checkpoint(cfg: Config, path: Path) -> str:
    """A 'pre-trained' trunk: random weights, BN statistics measured on random images
    (PSA freezes BN, so a trunk needs real statistics to train stably)."""
    args = {k: v for k, v in cfg.model.backbone.items() if k not in ('type', 'init_cfg')}
    net = WiderResNet(**{**args, 'norm_eval': False, 'frozen_stages': -1}).train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    with torch.no_grad():
        net(torch.randn(4, 3, 48, 48))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in net.state_dict().items()}}, path)
    return str(path)


def small(voc: str, tmp_path: Path) -> Config:
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.widen_factor = SMALL
    cfg.model.backbone.init_cfg.checkpoint = backbone_checkpoint(cfg, tmp_path / 'in1k.pth')
    cfg.model.head.update(in_channels=int(4096 * SMALL), num_classes=len(CLASSES))
    cfg.data_preprocessor.num_classes = len(CLASSES)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=voc, metainfo=dict(classes=CLASSES))
    cfg.train_dataloader.dataset.image_set_path = 'ImageSets/Segmentation/train.txt'
    pipe = cfg.train_dataloader.dataset.pipeline
    next(t for t in pipe if t.type == 'RandomResize').scale = (64, 64)
    next(t for t in pipe if t.type == 'RandomCrop').crop_size = 48
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler.end = 1
    # lr 0.1 is for ImageNet weights; random ones at 1/16 width diverge with it
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.work_dir = str(tmp_path / 'work')
    cfg.log_level = 'WARNING'
    cfg.default_hooks.checkpoint = None
    return cfg


def test_trains_on_voc_with_psas_frozen_layers(voc, tmp_path):
    cfg = small(voc, tmp_path)
    trunk = torch.load(cfg.model.backbone.init_cfg.checkpoint)['state_dict']
    runner = Runner.from_cfg(cfg)
    rec = _Recorder()
    runner.register_hook(rec)
    runner.train()
    metrics = runner.val_loop.run()
    assert len(rec.losses) == 3 and all(torch.isfinite(torch.tensor(rec.losses)))
    before, after = rec.initial, runner.model.state_dict()
    assert all(torch.equal(before[k], v) for k, v in trunk.items())  # strict Pretrained init
    frozen = [k for k in trunk if k.startswith(('backbone.stem', 'backbone.block2'))]
    frozen += [k for k in trunk if '.norm' in k]  # every BN: affine and statistics
    assert frozen and all(torch.equal(trunk[k], after[k]) for k in frozen)
    trained = ['backbone.block3.unit1.conv1.weight', 'backbone.block7.unit1.conv3.weight']
    assert all(not torch.equal(before[k], after[k]) for k in [*trained, 'head.fc.weight'])
    for key in ('multi-label/mAP', 'multi-label/f1-score', 'multi-label/f1-score_micro'):
        assert key in metrics  # mmpretrain's VOC metrics


class _Recorder(Hook):
    """The weights after initialisation, and the loss of every iteration."""

    def __init__(self):
        self.losses, self.initial = [], None

    def before_train(self, runner):
        self.initial = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))


def test_loss_is_psas_multilabel_soft_margin_loss():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    cfg = Config.fromfile(str(CONFIG))
    head = MODELS.build(dict(cfg.model.head, in_channels=8))
    feats = (torch.randn(3, 8),)
    labels = [[0, 4], [19], []]
    samples = [DataSample().set_gt_label(torch.tensor(lb, dtype=torch.long)) for lb in labels]
    onehot = torch.zeros(3, 20)
    for i, lb in enumerate(labels):
        onehot[i, lb] = 1
    head.eval()  # no dropout: the same logits for both
    ours = head.loss(feats, samples)['loss']
    assert torch.allclose(ours, F.multilabel_soft_margin_loss(head(feats), onehot))


def test_optimizer_groups_are_psas(voc, tmp_path):
    cfg = small(voc, tmp_path)
    cfg.optim_wrapper.optimizer.lr = 0.1
    runner = Runner.from_cfg(cfg)
    optim = runner.build_optim_wrapper(cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in runner.model.named_parameters()}
    groups = {names[id(p)]: g for g in optim.param_groups for p in g['params']}
    assert groups['head.fc.weight']['lr'] == pytest.approx(1.0)  # new layer x10
    assert groups['backbone.block3.unit1.conv1.weight']['lr'] == pytest.approx(0.1)
    assert groups['backbone.block3.unit1.conv1.weight']['weight_decay'] == pytest.approx(5e-4)
    assert optim.defaults['momentum'] == pytest.approx(5e-4)  # PSA's SGD(params, lr, wd)
    trainable = {n for n, p in runner.model.named_parameters() if p.requires_grad}
    assert not any('.norm' in n or n.startswith('backbone.stem') for n in trainable)


def test_demo_config_builds_from_the_recipe():
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(str(DEMO))
    assert cfg.model.head.type == 'MultiLabelCAMHead' and cfg.cam_cfg.flip is True
    cfg.model.backbone.widen_factor = SMALL
    cfg.model.head.in_channels = int(4096 * SMALL)
    model = MODELS.build(cfg.model)
    assert model.head.fc.out_features == len(CLASSES) and model.backbone.output_stride == 8
