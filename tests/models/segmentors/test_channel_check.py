"""Tests of the build-time channel check (:func:`check_segmentor`, ``WiderEncoderDecoder``).

A wrong ``in_channels`` (decode head of any type, auxiliary heads, DeepLabV3+'s
``c1_in_channels``, a neck, a head after a neck) must fail with one line naming the module
and the numbers to use, for plain mmseg ``EncoderDecoder`` models and any backbone; a
correct model must pass; the check must leave the model's state exactly as it was.
"""

import copy
import logging
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


def _rand(channels, side):
    """The dry input expected: seed 0 of a private CPU generator."""
    return torch.rand(1, channels, side, side, generator=torch.Generator().manual_seed(0))


def _stub(backbone, mean=None, params=()):
    """A stand-in segmentor holding only what ``dry_input`` reads."""
    seg = nn.Module()
    seg.backbone = backbone
    if mean is not None:
        seg.data_preprocessor = SimpleNamespace(mean=mean)
    for i, p in enumerate(params):
        seg.register_parameter(f'p{i}', p)
    return seg


def test_dry_input_side_follows_the_published_strides():
    dry = channel_check.dry_input
    assert torch.equal(dry(_build(_fcn(128, 3))), _rand(3, 32))  # strides (4, 8, 8, 8)
    assert torch.equal(dry(_stub(SimpleNamespace(out_strides=(16, 64)))), _rand(3, 128))
    assert torch.equal(dry(_stub(nn.Identity())), _rand(3, 64))  # none published
    assert torch.equal(dry(_stub(nn.Identity()), 40), _rand(3, 40))


def test_dry_input_channels_from_the_backbone_else_the_preprocessor():
    dry = channel_check.dry_input
    assert torch.equal(dry(_stub(SimpleNamespace(in_channels=4))), _rand(4, 64))
    assert torch.equal(dry(_stub(nn.Identity(), mean=torch.zeros(5))), _rand(5, 64))
    assert torch.equal(dry(_stub(nn.Identity(), mean=[0.0, 0.0])), _rand(3, 64))


def test_dry_input_takes_the_first_float_parameter_s_device_and_dtype():
    dry = channel_check.dry_input
    index = nn.Parameter(torch.zeros(1, dtype=torch.long), requires_grad=False)
    x = dry(_stub(nn.Identity(), params=[index, nn.Parameter(torch.zeros(1, dtype=torch.float64))]))
    assert x.dtype == torch.float64 and torch.equal(x, _rand(3, 64).double())
    x = dry(_stub(nn.Identity(), params=[nn.Parameter(torch.zeros(1, device='meta'))]))
    assert x.device.type == 'meta' and x.shape == (1, 3, 64, 64)
    x = dry(_stub(nn.Identity()))  # no parameter: CPU, float32
    assert x.device.type == 'cpu' and x.dtype == torch.float32
    with torch.device('meta'):  # drawn on the CPU whatever the default device
        x = dry(_stub(nn.Identity()))
    assert torch.equal(x, _rand(3, 64))


def test_the_dry_input_side_can_be_set():
    model = _build(_fcn(128, 3))
    shapes = []
    model.backbone.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape)))
    assert segmentor_channel_errors(model, size=40) == []
    check_segmentor(model, size=48)
    assert shapes == [(1, 3, 40, 40), (1, 3, 48, 48)]


def test_layer_mismatch_per_layer_kind():
    lm = channel_check._layer_mismatch
    assert lm(nn.Conv2d(4, 2, 1), torch.zeros(1, 3, 5, 5)) == (4, 3)
    assert lm(nn.Conv2d(4, 2, 1), torch.zeros(3, 5, 5)) is None  # unbatched: not compared
    assert lm(nn.Conv2d(4, 2, 1), [torch.zeros(1, 3, 5, 5)]) is None
    assert lm(nn.BatchNorm1d(4), torch.zeros(2, 3)) == (4, 3)
    assert lm(nn.BatchNorm1d(4), torch.zeros(2, 4)) is None
    assert lm(nn.BatchNorm2d(4), torch.zeros(1, 6, 5, 5)) == (4, 6)
    assert lm(nn.GroupNorm(2, 4), torch.zeros(1, 6, 5, 5)) == (4, 6)
    assert lm(nn.Linear(5, 2), torch.zeros(3)) == (5, 3)
    assert lm(nn.Linear(5, 2), torch.zeros(5)) is None
    assert lm(nn.Linear(5, 2), torch.zeros(5, 3)) == (5, 3)


def test_layer_message_names_the_part_to_fix():
    model = _build(_fcn(128, 3))
    model.decode_head.conv_seg = torch.nn.Conv2d(5, 3, 1)
    assert segmentor_channel_errors(model) == [
        'decode_head.conv_seg (Conv2d) expects 5 input channels but receives 8; fix the '
        'channel arguments of decode_head so that it gets 8'
    ]
    # called with keyword arguments only: nothing to compare
    assert channel_check._Probe._layer('decode_head.conv_seg', nn.Conv2d(5, 3, 1), ()) is None


def test_a_skipped_check_logs_the_stage_and_the_error_s_first_line(monkeypatch):
    logged = []
    monkeypatch.setattr(channel_check, 'print_log', lambda msg, **kw: logged.append((msg, kw)))

    def boom(*args):
        raise RuntimeError('first line\nsecond line')

    def silent(*args):
        raise RuntimeError()

    model = _build(_fcn(128, 3), auxiliary_head=_fcn(32, 2))
    model.decode_head.forward = boom
    model.auxiliary_head.forward = silent
    assert segmentor_channel_errors(model) == []
    model = _build(_fcn(128, 3))
    model.backbone.forward = boom
    assert segmentor_channel_errors(model) == []
    warn = dict(logger='current', level=logging.WARNING)
    skipped = 'wider_mm: channel check skipped for {}: the dry forward failed with RuntimeError: {}'
    assert logged == [
        (skipped.format('decode_head', 'first line'), warn),
        (skipped.format('auxiliary_head', ''), warn),
        (skipped.format('backbone/neck', 'first line'), warn),
    ]


def test_every_misfit_is_one_line_of_the_error():
    with pytest.raises(ValueError) as e:
        check_segmentor(_build(_fcn(4096, 3), auxiliary_head=_fcn(1024, 2)))
    assert str(e.value) == (
        f'EncoderDecoder: decode_head (FCNHead) has in_channels=4096 but {SOURCE}, so '
        'in_index=3 receives 128; set decode_head.in_channels=128\n'
        f'  auxiliary_head (FCNHead) has in_channels=1024 but {SOURCE}, so in_index=2 '
        'receives 32; set auxiliary_head.in_channels=32'
    )


def test_in_index_range_messages_whole():
    assert _errors(_fcn(8, -4)) == []  # counted from the end: the first output
    assert _errors(_fcn(128, 4)) == [
        f'decode_head (FCNHead) in_index=4 is out of range: {SOURCE}, 4 outputs; use '
        "in_index within 0..3 or add blocks to the backbone's out_indices"
    ]
    neck = dict(type='MultiLevelNeck', in_channels=list(EMITTED), out_channels=12)
    assert _errors(_fcn(12, 4), neck=neck) == [
        'decode_head (FCNHead) in_index=4 is out of range: the neck (MultiLevelNeck) emits '
        '(12, 12, 12, 12) channels, 4 outputs; use in_index within 0..3'
    ]


def test_resize_concat_message_whole():
    assert _errors(_fcn([8, 32], [0, 1], input_transform='resize_concat')) == [
        f'decode_head (FCNHead) has in_channels=40 but {SOURCE}, so in_index=[0, 1] '
        'receives [8, 16] (sum 24); set decode_head.in_channels=[8, 16]'
    ]


def test_channels_only_of_lists_of_nchw_tensors():
    ch = channel_check._channels
    assert ch([torch.zeros(1, 2, 3, 3), torch.zeros(1, 5, 1, 1)]) == [2, 5]
    assert ch([torch.zeros(1, 2, 3)]) is None
    assert ch(torch.zeros(1, 2, 3, 3)) is None


FEATS = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 5, 2, 2)]
STUB_SEG = SimpleNamespace(backbone=nn.Identity(), with_neck=False)  # no out_indices
STUB_SOURCE = 'the backbone (Identity) emits (2, 5) channels'


def _head(**kw):
    return SimpleNamespace(**{'in_index': 0, 'in_channels': 2, **kw})


def test_heads_outside_the_contract_are_not_checked():
    hm = channel_check.head_mismatch
    assert hm(STUB_SEG, 'decode_head', SimpleNamespace(in_channels=2), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', _head(in_index=None), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', SimpleNamespace(in_index=0), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', _head(), 'not a list') is None
    assert hm(STUB_SEG, 'decode_head', _head(in_channels=3), FEATS) == (
        f'decode_head (SimpleNamespace) has in_channels=3 but {STUB_SOURCE}, so in_index=0 '
        'receives 2; set decode_head.in_channels=2'
    )


def test_low_level_input_follows_c1_in_index():
    hm = channel_check.head_mismatch

    def head(c1_in, **kw):
        return _head(c1_bottleneck=nn.Sequential(nn.Conv2d(c1_in, 1, 1)), **kw)

    assert hm(STUB_SEG, 'decode_head', head(5, c1_in_index=1), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', head(2), FEATS) is None  # default: inputs[0]
    assert hm(STUB_SEG, 'decode_head', head(4, c1_in_index=2), FEATS) is None  # out of range
    assert hm(STUB_SEG, 'decode_head', _head(c1_bottleneck=nn.Identity()), FEATS) is None
    c1 = (
        'decode_head (SimpleNamespace) has c1_in_channels=4 but its low-level input '
        'inputs[{}] has {} channels ({}); set decode_head.c1_in_channels={} (or change which '
        'output comes first)'
    )
    assert hm(STUB_SEG, 'decode_head', head(4, c1_in_index=1), FEATS) == c1.format(
        1, 5, STUB_SOURCE, 5
    )
    assert hm(STUB_SEG, 'decode_head', head(4, c1_in_index=-2), FEATS) == c1.format(
        -2, 2, STUB_SOURCE, 2
    )
    assert hm(STUB_SEG, 'decode_head', head(4, in_channels=3), FEATS) == (
        f'decode_head (SimpleNamespace) has in_channels=3 but {STUB_SOURCE}, so in_index=0 '
        'receives 2; set decode_head.in_channels=2; ' + c1.format(0, 2, STUB_SOURCE, 2)
    )


def test_head_mismatch_on_its_own():
    """Public: the message also where the head's own forward would not fail."""
    hm = channel_check.head_mismatch
    assert hm(STUB_SEG, 'decode_head', _head(in_index=-2), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', _head(in_index=[0, 1], in_channels=[2, 5]), FEATS) is None
    assert hm(STUB_SEG, 'decode_head', _head(in_index=[0, 1], in_channels=[2, 4]), FEATS) == (
        f'decode_head (SimpleNamespace) has in_channels=[2, 4] but {STUB_SOURCE}, so '
        'in_index=[0, 1] receives [2, 5]; set decode_head.in_channels=[2, 5]'
    )


def test_cascade_stages_get_the_previous_output(monkeypatch):
    logged = []
    monkeypatch.setattr(channel_check, 'print_log', lambda msg, **kw: logged.append(msg))
    ocr = dict(
        type='OCRHead', in_channels=128, in_index=3, channels=8, ocr_channels=8, num_classes=3
    )
    cfg = dict(num_stages=2, type='CascadeEncoderDecoder')
    model = _build([_fcn(32, 2), ocr], **cfg)
    got = []
    model.decode_head[1].register_forward_pre_hook(lambda m, args: got.append(len(args)))
    assert segmentor_channel_errors(model) == [] and got == [2] and logged == []

    def boom(*args):
        raise RuntimeError('not a channel problem')

    # the first stage fails: the next one is skipped, the auxiliary head still checked
    model = _build([_fcn(32, 2), ocr], auxiliary_head=_fcn(1024, 2), **cfg)
    model.decode_head[0].forward = boom
    (msg,) = segmentor_channel_errors(model)
    assert msg.startswith('auxiliary_head (FCNHead) has in_channels=1024')
