"""Tests of the build-time channel check (:func:`check_segmentor`, ``WiderEncoderDecoder``).

A wrong ``in_channels`` (decode head of any type, auxiliary heads, DeepLabV3+'s
``c1_in_channels``, a neck, a head after a neck) must fail with one line naming the module
and the numbers to use, for plain mmseg ``EncoderDecoder`` models and any backbone; a
correct model must pass; the check must leave the model's state exactly as it was.
"""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmseg.registry import MODELS

from wider_mm.models.segmentors import channel_check
from wider_mm.models.segmentors.channel_check import (
    WiderEncoderDecoder,
    check_segmentor,
    segmentor_channel_errors,
)

# WiderResNet-16 A1 at 1/32 width, stride 8, out_indices (2, 3, 4, 6): B3, B4, B5, B7.
BACKBONE = dict(
    type='WiderResNet',
    depth=16,
    variant='a1',
    output_stride=8,
    widen_factor=1 / 32,
    out_indices=(2, 3, 4, 6),
)
EMITTED = (8, 16, 32, 128)  # 256, 512, 1024, 4096 channels x 1/32
SOURCE = f'the backbone (WiderResNet) emits {EMITTED} channels at out_indices=(2, 3, 4, 6)'


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


def _build(decode_head, auxiliary_head=None, type='EncoderDecoder', **kw):
    cfg = dict(type=type, backbone=copy.deepcopy(BACKBONE), decode_head=decode_head, **kw)
    if auxiliary_head is not None:
        cfg['auxiliary_head'] = auxiliary_head
    return MODELS.build(cfg)


def _errors(*args, **kw):
    return segmentor_channel_errors(_build(*args, **kw))


def test_backbone_emits_the_channels_used_below():
    m = MODELS.build(BACKBONE).eval()
    assert m.out_channels == EMITTED
    assert tuple(o.shape[1] for o in m(torch.rand(1, 3, 32, 32))) == EMITTED


# (head config with the right in_channels, key to break, wrong value, expected fix)
HEADS = {
    'FCNHead': (_fcn(128, 3), 'in_channels', 4096, '128'),
    'PSPHead': (
        dict(type='PSPHead', in_channels=128, in_index=3, channels=8, pool_scales=(1, 2, 3, 6)),
        'in_channels',
        2048,
        '128',
    ),
    'ASPPHead': (
        dict(type='ASPPHead', in_channels=128, in_index=3, channels=8, dilations=(1, 12, 24)),
        'in_channels',
        512,
        '128',
    ),
    'DepthwiseSeparableASPPHead': (
        dict(
            type='DepthwiseSeparableASPPHead',
            in_channels=128,
            in_index=3,
            channels=8,
            dilations=(1, 12),
            c1_in_channels=8,
            c1_channels=4,
        ),
        'in_channels',
        4096,
        '128',
    ),
    'UPerHead': (
        dict(
            type='UPerHead',
            in_channels=list(EMITTED),
            in_index=[0, 1, 2, 3],
            pool_scales=(1, 2),
            channels=8,
        ),
        'in_channels',
        [256, 512, 1024, 4096],
        '[8, 16, 32, 128]',
    ),
    'FCNHead resize_concat': (
        _fcn([8, 16], [0, 1], input_transform='resize_concat'),
        'in_channels',
        [8, 32],
        '[8, 16]',
    ),
}


@pytest.mark.parametrize('kind', list(HEADS))
def test_every_head_type(kind):
    head, key, wrong, fix = HEADS[kind]
    head = dict(head, num_classes=3)
    head_type = head['type']
    assert _errors(head) == []
    bad = dict(head, **{key: wrong})
    with pytest.raises(ValueError) as e:
        check_segmentor(_build(bad))
    msg = str(e.value)
    assert msg.startswith(f'EncoderDecoder: decode_head ({head_type}) has in_channels=')
    assert SOURCE in msg
    assert f'receives {fix}' in msg and f'set decode_head.in_channels={fix}' in msg
    assert '\n' not in msg


def test_deeplabv3plus_c1_in_channels():
    head = dict(HEADS['DepthwiseSeparableASPPHead'][0], num_classes=3, c1_in_channels=256)
    (msg,) = _errors(head)
    assert msg.startswith('decode_head (DepthwiseSeparableASPPHead) has c1_in_channels=256')
    assert 'low-level input inputs[0] has 8 channels' in msg
    assert 'set decode_head.c1_in_channels=8' in msg
    assert 'in_channels=128' not in msg  # the main input is right


def test_auxiliary_heads_single_and_list():
    assert _errors(_fcn(128, 3), auxiliary_head=[_fcn(32, 2), _fcn(16, 1)]) == []
    (msg,) = _errors(_fcn(128, 3), auxiliary_head=_fcn(1024, 2))
    assert msg.startswith('auxiliary_head (FCNHead) has in_channels=1024')
    assert 'set auxiliary_head.in_channels=32' in msg
    (msg,) = _errors(_fcn(128, 3), auxiliary_head=[_fcn(32, 2), _fcn(512, 1)])
    assert msg.startswith('auxiliary_head[1] (FCNHead) has in_channels=512')
    assert 'in_index=1 receives 16; set auxiliary_head[1].in_channels=16' in msg


def test_every_mismatch_is_listed_at_once():
    errors = _errors(_fcn(4096, 3), auxiliary_head=[_fcn(1024, 2), _fcn(16, 1)])
    assert len(errors) == 2
    assert 'set decode_head.in_channels=128' in errors[0]
    assert 'set auxiliary_head[0].in_channels=32' in errors[1]


def test_in_index_out_of_range():
    (msg,) = _errors(_fcn(128, 4))
    assert 'decode_head (FCNHead) in_index=4 is out of range' in msg
    assert '4 outputs; use in_index within 0..3' in msg and SOURCE in msg


FPN_HEAD = dict(
    type='FPNHead',
    in_channels=[16] * 4,
    in_index=[0, 1, 2, 3],
    feature_strides=[4, 8, 8, 8],
    channels=8,
    num_classes=3,
)


def _fpn(in_channels):
    return dict(type='FPN', in_channels=in_channels, out_channels=16, num_outs=4)


def test_neck_and_heads_after_it():
    assert _errors(FPN_HEAD, neck=_fpn(list(EMITTED))) == []
    (msg,) = _errors(FPN_HEAD, neck=_fpn([256, 512, 1024, 4096]))
    assert msg == (
        f'neck (FPN) has in_channels=[256, 512, 1024, 4096] but {SOURCE}; '
        'set neck.in_channels=[8, 16, 32, 128]'
    )
    # the head reads the neck's outputs (16 channels each), not the backbone's
    (msg,) = _errors(dict(FPN_HEAD, in_channels=[32] * 4), neck=_fpn(list(EMITTED)))
    assert 'decode_head (FPNHead) has in_channels=[32, 32, 32, 32]' in msg
    assert 'the neck (FPN) emits (16, 16, 16, 16) channels' in msg
    assert 'set decode_head.in_channels=[16, 16, 16, 16]' in msg


def test_multilevel_neck_with_a_head_after_it():
    neck = dict(type='MultiLevelNeck', in_channels=list(EMITTED), out_channels=12)
    assert _errors(_fcn(12, 2), neck=neck) == []
    (msg,) = _errors(_fcn(12, 2), neck=dict(neck, in_channels=[8, 16, 32, 4096]))
    assert msg.startswith('neck (MultiLevelNeck) has in_channels=[8, 16, 32, 4096]')
    assert msg.endswith('set neck.in_channels=[8, 16, 32, 128]')
    (msg,) = _errors(_fcn(128, 2), neck=neck)
    assert 'the neck (MultiLevelNeck) emits (12, 12, 12, 12) channels' in msg
    assert msg.endswith('set decode_head.in_channels=12')


def test_cascade_decode_heads():
    ocr = dict(
        type='OCRHead', in_channels=128, in_index=3, channels=8, ocr_channels=8, num_classes=3
    )
    cfg = dict(num_stages=2, type='CascadeEncoderDecoder')
    assert _errors([_fcn(32, 2), ocr], **cfg) == []
    (msg,) = _errors([_fcn(32, 2), dict(ocr, in_channels=512)], **cfg)
    assert msg.startswith('decode_head[1] (OCRHead) has in_channels=512')
    assert 'set decode_head[1].in_channels=128' in msg


RESNET = dict(
    type='ResNetV1c',
    depth=18,
    out_indices=(2, 3),
    base_channels=8,
    stem_channels=8,
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
)


def test_plain_encoder_decoder_with_an_mmseg_backbone():
    """mmseg's ResNet publishes no channels: they are measured (ResNet-18 at 1/8: 32, 64)."""
    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=RESNET,
            decode_head=_fcn(512, 1),
            auxiliary_head=_fcn(32, 0),
        )
    )
    with pytest.raises(ValueError) as e:
        check_segmentor(model)
    assert str(e.value) == (
        'EncoderDecoder: decode_head (FCNHead) has in_channels=512 but the backbone '
        '(ResNetV1c) emits (32, 64) channels at out_indices=(2, 3), so in_index=1 receives '
        '64; set decode_head.in_channels=64'
    )


def test_wider_encoder_decoder_checks_when_built():
    model = _build(_fcn(128, 3), type='WiderEncoderDecoder')
    assert isinstance(model, WiderEncoderDecoder)
    with pytest.raises(ValueError, match=r'set decode_head.in_channels=128'):
        _build(_fcn(4096, 3), type='WiderEncoderDecoder')


def test_custom_layers_get_a_layer_level_message():
    """A head outside BaseDecodeHead's contract: the first misfit layer is named."""
    model = _build(_fcn(128, 3))
    model.decode_head.conv_seg = torch.nn.Conv2d(5, 3, 1)
    (msg,) = segmentor_channel_errors(model)
    assert msg.startswith('decode_head.conv_seg (Conv2d) expects 5 input channels but receives 8')


def test_the_check_changes_no_state():
    torch.manual_seed(0)
    model = _build(
        HEADS['DepthwiseSeparableASPPHead'][0] | dict(num_classes=3),
        auxiliary_head=_fcn(32, 2),
        type='EncoderDecoder',
    )
    model.backbone.frozen_stages = 1
    model.train()  # frozen stem and B2 in eval, the rest in training mode
    model(torch.rand(2, 3, 32, 32), mode='tensor')  # non-trivial running statistics
    params = [p for p in model.parameters() if p.requires_grad]
    params[0].grad = torch.ones_like(params[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}
    assert len(set(modes.values())) == 2
    grads = [p.requires_grad for p in model.parameters()]
    rng = torch.get_rng_state()

    grad_enabled = []
    hook = model.decode_head.register_forward_pre_hook(
        lambda *_: grad_enabled.append(torch.is_grad_enabled())
    )
    assert segmentor_channel_errors(model) == []
    hook.remove()
    assert grad_enabled == [False]  # ran, without building a graph
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert [p.requires_grad for p in model.parameters()] == grads
    assert torch.equal(params[0].grad, torch.ones_like(params[0]))
    assert all(p.grad is None for p in params[1:])
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model._forward_pre_hooks and not any(m._forward_pre_hooks for m in model.modules())


def test_state_is_restored_when_the_check_fails():
    model = _build(_fcn(4096, 3)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError):
        check_segmentor(model)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not any(m._forward_pre_hooks for m in model.modules())


def test_other_failures_are_left_to_the_real_forward(monkeypatch):
    """A dry-forward failure that is no channel misfit is logged, not raised."""
    logged = []
    monkeypatch.setattr(channel_check, 'print_log', lambda msg, **kw: logged.append(msg))
    model = _build(_fcn(128, 3))

    def boom(inputs):
        raise RuntimeError('not a channel problem')

    model.decode_head.forward = boom
    assert segmentor_channel_errors(model) == []
    (msg,) = logged
    assert 'channel check skipped for decode_head' in msg and 'not a channel problem' in msg


def test_wrapped_and_non_segmentor_models():
    class Wrapper(torch.nn.Module):  # like DDP / SegTTAModel: the model is .module
        def __init__(self, module):
            super().__init__()
            self.module = module

    with pytest.raises(ValueError, match='set decode_head.in_channels=128'):
        check_segmentor(Wrapper(_build(_fcn(4096, 3))))
    check_segmentor(torch.nn.Conv2d(3, 3, 1))  # not a segmentor: nothing to check


def test_a_neck_missing_an_input_gets_one_entry_per_output():
    (msg,) = _errors(FPN_HEAD, neck=_fpn([8, 16, 32]))
    assert msg == (
        f'neck (FPN) has in_channels=[8, 16, 32] but {SOURCE}; '
        'set neck.in_channels=[8, 16, 32, 128] (one entry per backbone output)'
    )


def test_necks_without_a_list_of_in_channels_are_not_checked():
    """A neck without ``in_channels``, or with a single number, takes what it gets."""
    feats = [torch.zeros(1, c, 2, 2) for c in EMITTED]
    for neck in (nn.Identity(), SimpleNamespace(in_channels=16)):
        assert channel_check.neck_mismatch(SimpleNamespace(neck=neck), feats) is None


def test_wider_encoder_decoder_takes_positional_arguments():
    model = WiderEncoderDecoder(copy.deepcopy(BACKBONE), _fcn(128, 3))
    assert type(model.backbone).__name__ == 'WiderResNet' and model.decode_head.in_channels == 128
