"""Tests of ``WiderEncoderDecoder``'s build-time check of head channels against the backbone.

A wrong ``in_channels`` must fail when the model is built, with a message that gives the
numbers (what the head expects, what the backbone emits at which out_indices, the value to
set), for the decode head, auxiliary heads (single or list) and multi-level heads.
"""

import copy

import pytest
from mmseg.registry import MODELS

from wider_mm.models.segmentors.channel_check import WiderEncoderDecoder, channel_errors

WIDEN = 1 / 32
# WiderResNet-16 A1 at 1/32 width, stride 8, out_indices (2, 3, 4, 6): B3, B4, B5, B7.
BACKBONE = dict(
    type='WiderResNet',
    depth=16,
    variant='a1',
    output_stride=8,
    widen_factor=WIDEN,
    out_indices=(2, 3, 4, 6),
)
EMITTED = (8, 16, 32, 128)  # 256, 512, 1024, 4096 channels x 1/32


def _fcn(in_channels, in_index, **kw):
    return dict(
        type='FCNHead',
        in_channels=in_channels,
        in_index=in_index,
        channels=8,
        num_convs=1,
        concat_input=False,
        num_classes=3,
        **kw,
    )


def _model(decode_head, auxiliary_head=None, **kw) -> dict:
    cfg = dict(
        type='WiderEncoderDecoder', backbone=copy.deepcopy(BACKBONE), decode_head=decode_head
    )
    if auxiliary_head is not None:
        cfg['auxiliary_head'] = auxiliary_head
    cfg.update(kw)
    return cfg


def test_backbone_publishes_the_channels_used_below():
    assert MODELS.build(BACKBONE).out_channels == EMITTED


def test_matching_heads_build():
    model = MODELS.build(
        _model(
            _fcn(128, 3),
            auxiliary_head=[_fcn(32, 2), _fcn(16, 1)],
        )
    )
    assert isinstance(model, WiderEncoderDecoder)
    assert channel_errors(model.backbone, [('decode_head', model.decode_head)]) == []


def test_decode_head_mismatch_names_the_numbers():
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(_fcn(4096, 3)))
    msg = str(e.value)
    assert 'decode_head (FCNHead) has in_channels=4096' in msg
    assert str(EMITTED) in msg  # what the backbone emits
    assert 'out_indices=(2, 3, 4, 6)' in msg
    assert 'in_index=3 receives 128' in msg
    assert 'Set decode_head.in_channels=128' in msg


def test_auxiliary_head_mismatch_is_reported():
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(_fcn(128, 3), auxiliary_head=_fcn(1024, 2)))
    msg = str(e.value)
    assert 'auxiliary_head (FCNHead) has in_channels=1024' in msg
    assert 'Set auxiliary_head.in_channels=32' in msg
    assert 'decode_head' not in msg  # the decode head is right


def test_auxiliary_head_list_names_the_index():
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(_fcn(128, 3), auxiliary_head=[_fcn(32, 2), _fcn(512, 1)]))
    msg = str(e.value)
    assert 'auxiliary_head[1] (FCNHead) has in_channels=512' in msg
    assert 'Set auxiliary_head[1].in_channels=16' in msg
    assert 'auxiliary_head[0]' not in msg


def test_multi_level_head_gets_the_list_to_use():
    head = dict(
        type='UPerHead',
        in_channels=[256, 512, 1024, 4096],  # full-width numbers at 1/32 width
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2),
        channels=8,
        num_classes=3,
    )
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(head))
    msg = str(e.value)
    assert 'decode_head (UPerHead) has in_channels=[256, 512, 1024, 4096]' in msg
    assert 'in_index=[0, 1, 2, 3] receives [8, 16, 32, 128]' in msg
    assert 'Set decode_head.in_channels=[8, 16, 32, 128]' in msg
    head['in_channels'] = list(EMITTED)
    MODELS.build(_model(head))


def test_multi_level_subset_and_negative_index():
    head = dict(
        type='UPerHead',
        in_channels=[16, 128],
        in_index=[1, -1],
        pool_scales=(1,),
        channels=8,
        num_classes=3,
    )
    MODELS.build(_model(head))
    head['in_channels'] = [16, 32]
    with pytest.raises(ValueError, match=r'receives \[16, 128\]'):
        MODELS.build(_model(head))


def test_every_mismatch_is_listed_at_once():
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(_fcn(4096, 3), auxiliary_head=_fcn(1024, 2)))
    msg = str(e.value)
    assert 'decode_head.in_channels=128' in msg and 'auxiliary_head.in_channels=32' in msg


def test_in_index_out_of_range():
    with pytest.raises(ValueError) as e:
        MODELS.build(_model(_fcn(128, 4)))
    msg = str(e.value)
    assert 'in_index=4 is out of range' in msg and 'emits 4 outputs' in msg
    assert 'out_indices=(2, 3, 4, 6)' in msg


def test_skipped_when_a_neck_changes_the_channels():
    """With a neck the heads read the neck's outputs: no (false) error."""
    model = MODELS.build(
        _model(
            dict(
                type='FPNHead',
                in_channels=[16, 16, 16, 16],
                in_index=[0, 1, 2, 3],
                feature_strides=[4, 8, 8, 8],
                channels=8,
                num_classes=3,
            ),
            neck=dict(type='FPN', in_channels=list(EMITTED), out_channels=16, num_outs=4),
        )
    )
    assert model.with_neck


def test_backbones_without_published_channels_are_not_checked():
    """mmseg's own backbones publish no out_channels: nothing to check against."""
    resnet = dict(
        type='ResNetV1c',
        depth=18,
        out_indices=(3,),
        base_channels=8,
        stem_channels=8,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
    )
    model = MODELS.build(
        dict(type='WiderEncoderDecoder', backbone=resnet, decode_head=_fcn(9999, 0))
    )
    assert channel_errors(model.backbone, [('decode_head', model.decode_head)]) == []
