"""WiderResNet inside mmseg's and mmpretrain's own models and configs (CPU, small widths)."""

import os.path as osp

import mmseg
import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.structures import SegDataSample

from wider_mm import WiderResNet

W = 1 / 32
C_FINAL = WiderResNet(widen_factor=W).out_channels[0]  # 128: published, not hard-coded


def _seg_batch(n: int = 2, size: int = 32, classes: int = 4):
    inputs = [torch.randint(0, 255, (3, size, size), dtype=torch.uint8) for _ in range(n)]
    samples = []
    for _ in range(n):
        shape = (size, size)
        s = SegDataSample(metainfo=dict(img_shape=shape, pad_shape=shape, ori_shape=shape))
        s.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, size, size)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _train_step_and_grads(model, data) -> dict:
    model.train()
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    return losses


def test_in_mmseg_encoder_decoder_with_mmseg_head():
    with DefaultScope.overwrite_default_scope('mmseg'):
        _mmseg_encoder_decoder()


def _mmseg_encoder_decoder():
    model = SEG_MODELS.build(
        ConfigDict(
            type='EncoderDecoder',
            train_cfg=dict(),
            test_cfg=dict(mode='whole'),
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                size=(32, 32),
            ),
            backbone=dict(type='WiderResNet', widen_factor=W, output_stride=8, out_indices=(4, 6)),
            decode_head=dict(
                type='FCNHead',
                in_channels=C_FINAL,
                in_index=1,
                channels=16,
                num_classes=4,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0),
            ),
            auxiliary_head=dict(
                type='FCNHead',
                in_channels=WiderResNet(widen_factor=W, out_indices=(4,)).out_channels[0],
                in_index=0,
                channels=8,
                num_classes=4,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4),
            ),
        )
    )
    losses = _train_step_and_grads(model, _seg_batch())
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert model.backbone.stem.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_seg_batch(n=1), False)
        pred = model(**data, mode='predict')[0]
    assert pred.pred_sem_seg.data.shape == (1, 32, 32)


def test_in_mmseg_own_config_by_override():
    with DefaultScope.overwrite_default_scope('mmseg'):
        _mmseg_own_config()


def _mmseg_own_config():
    cfg_path = osp.join(
        osp.dirname(mmseg.__file__),
        '.mim/configs/deeplabv3/deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    )
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(
        {
            'model.pretrained': None,
            'model.backbone': dict(
                _delete_=True,
                type='WiderResNet',
                widen_factor=W,
                output_stride=8,
                out_indices=(5, 6),
            ),
            'model.decode_head.in_channels': C_FINAL,
            'model.decode_head.in_index': 1,
            'model.decode_head.channels': 16,
            'model.auxiliary_head.in_channels': C_FINAL // 2,
            'model.auxiliary_head.in_index': 0,
            'model.auxiliary_head.channels': 8,
            'model.data_preprocessor.size': (32, 32),
        }
    )
    model = revert_sync_batchnorm(SEG_MODELS.build(cfg.model))
    assert isinstance(model.backbone, WiderResNet)
    losses = _train_step_and_grads(model, _seg_batch(classes=19))
    assert 'decode.loss_ce' in losses


def test_in_mmpretrain_image_classifier():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        _mmpretrain_classifier()


def _mmpretrain_classifier():
    model = PRETRAIN_MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10),
            backbone=dict(type='WiderResNet', variant='a', widen_factor=W),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=C_FINAL,
                loss=dict(type='CrossEntropyLoss'),
            ),
        )
    )
    data = dict(
        inputs=[torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8) for _ in range(2)],
        data_samples=[DataSample().set_gt_label(i) for i in range(2)],
    )
    model.train()
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(data, False), mode='predict')
    assert out[0].pred_score.shape == (10,)
