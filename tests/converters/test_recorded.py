"""wider_mm.converters.recorded: a converted checkpoint's recorded backbone arguments are
compared with the model it is loaded into (directly and through the backbone's
``Pretrained`` init_cfg), and its tensors with the model those arguments build."""

import functools

import pytest
import torch
import torch.nn as nn
from wrn_ports import InPlaceABNRef, PortWiderResNet, PsaNet, to_ade, wrap_torch

from wider_mm.converters import (
    ConversionError,
    RecordedArgsError,
    check_converted_shapes,
    check_recorded_args,
    convert_state_dict,
)
from wider_mm.converters.recorded import find_backbone, model_shapes, recorded_args
from wider_mm.models.backbones.wider_resnet import WiderResNet

DIV = 16
ADE_BN = dict(type='BN', eps=1.001e-5, requires_grad=True)
LEAKY = dict(type='LeakyReLU', negative_slope=0.01)
A_FILE = 'ilsvrc-cls_rna-a_cls1000_ep-0001.params'
A1_FILE = 'ilsvrc-cls_rna-a1_cls1000_ep-0001.params'


def _ckpt(conv):
    return dict(meta=conv.meta, state_dict=conv.state_dict)


@functools.cache
def _ade_params():
    return to_ade(WiderResNet(widen_factor=1 / DIV).state_dict())


VOC_FILE = 'voc_rna-a1_cls21_s8_ep-0001.params'


def _voc_seg_params() -> dict:
    """The authors' VOC segmentation file, with a head that takes 255 channels, not 256."""
    seg = dict(_ade_params())
    seg['arg:conv6a_weight'] = torch.zeros(32, 255, 3, 3)
    seg['arg:conv6a_bias'] = torch.zeros(32)
    seg['arg:linear21_weight'] = torch.zeros(21, 32, 3, 3)
    seg['arg:linear21_bias'] = torch.zeros(21)
    return seg


def ade(name=A1_FILE, classes=0, **kwargs):
    """An ADE (MXNet-named) checkpoint, converted (optionally with a classifier)."""
    params = dict(_ade_params())
    if classes:
        params[f'arg:linear{classes}_weight'] = torch.zeros(classes, 4096 // DIV)
        params[f'arg:linear{classes}_bias'] = torch.zeros(classes)
    return _ckpt(convert_state_dict(params, 'mxnet', name_hint=name, **kwargs))


@functools.cache
def port(kind):
    if kind == 'psa':
        return _ckpt(convert_state_dict(PsaNet(div=DIV).state_dict(), 'psa'))
    ref = PortWiderResNet(div=DIV, norm_act=InPlaceABNRef)
    return _ckpt(convert_state_dict(wrap_torch(ref, True)['state_dict'], 'mapillary'))


CKPTS = {
    'ade-a': lambda: ade(A_FILE),
    'ade-a1': lambda: ade(A1_FILE),
    'psa': lambda: port('psa'),
    'map': lambda: port('map'),
}
ADE_A = dict(variant='a', pool_padding=0, norm_cfg=ADE_BN)
ADE_A1 = dict(variant='a1', norm_cfg=ADE_BN)
PSA = dict(variant='a1', output_stride=8)
MAP = dict(variant='a', act_cfg=LEAKY)


def wrn(**kwargs):
    return WiderResNet(**{'widen_factor': 1 / DIV, **kwargs})


@pytest.mark.parametrize(
    'ckpt,model,arg',
    [
        ('ade-a', ADE_A, None),
        ('ade-a', dict(ADE_A, pool_padding=1), 'pool_padding'),  # the case
        ('ade-a', dict(ADE_A, variant='a1'), 'variant'),
        ('ade-a', dict(ADE_A, norm_cfg=dict(type='BN')), 'norm_cfg.eps'),
        ('ade-a', dict(ADE_A, norm_cfg=dict(type='BN', eps=1e-3)), 'norm_cfg.eps'),
        ('ade-a', dict(ADE_A, output_stride=8), None),  # the output stride is free
        ('ade-a1', dict(ADE_A1, pool_padding=1), None),  # no pool in A1: padding is moot
        ('ade-a1', dict(ADE_A1, output_stride=8, contract_dilation=False), None),  # not dilated
        ('ade-a1', dict(ADE_A1, depth=20), 'depth'),
        ('ade-a1', dict(ADE_A1, widen_factor=1 / 8), 'widen_factor'),
        ('ade-a1', dict(ADE_A1, in_channels=4), 'in_channels'),
        ('psa', PSA, None),
        ('psa', dict(PSA, contract_dilation=False), 'contract_dilation'),
        ('psa', dict(PSA, contract_dilation=False, output_stride=32), None),
        ('map', MAP, None),
        ('map', dict(MAP, act_cfg=dict(type='LeakyReLU', inplace=True)), None),  # same slope
        ('map', dict(MAP, act_cfg=dict(type='ReLU')), 'act_cfg'),
        ('map', dict(MAP, act_cfg=dict(type='LeakyReLU', negative_slope=0.1)), 'act_cfg'),
        ('map', dict(MAP, pool_padding=0), 'pool_padding'),
    ],
)
def test_recorded_arguments_against_the_model(ckpt, model, arg):
    ckpt = CKPTS[ckpt]()
    model = wrn(**model)
    if arg is None:
        check_recorded_args(ckpt, model)
        return
    with pytest.raises(RecordedArgsError) as e:
        check_recorded_args(ckpt, model)
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and '\n' not in msg
    assert msg.count('the weights need') == 1 and f'{arg}: the weights need' in msg
    assert f'set model.backbone.{arg}=' in msg
    if arg == 'pool_padding':  # both values, and the fix
        have = model.pool_padding
        need = ckpt['meta']['backbone']['pool_padding']
        assert f'need {need}, the model has {have}' in msg
        assert f'model.backbone.pool_padding={need} ' in msg
    check_recorded_args(ckpt, model, ignore=[arg])  # on purpose


def test_every_difference_is_named_on_one_line():
    with pytest.raises(RecordedArgsError) as e:
        check_recorded_args(CKPTS['map'](), wrn(variant='a1', act_cfg=dict(type='ReLU')))
    msg = str(e.value)
    assert "variant: the weights need 'a', the model has 'a1'" in msg
    assert "act_cfg: the weights need dict(type='LeakyReLU', negative_slope=0.01)" in msg
    assert '\n' not in msg


def test_a_guessed_variant_says_it_was_guessed():
    renamed = ade('model-a.params')  # a Model A file under another name
    assert renamed['meta']['backbone']['variant'] == 'a1'
    assert '--variant' in renamed['meta']['guessed']['variant']
    with pytest.raises(RecordedArgsError, match=r'converter guessed variant .a1.') as e:
        check_recorded_args(renamed, wrn(**ADE_A))
    assert '--variant' in str(e.value)
    told = ade('model-a.params', variant='a')
    assert 'guessed' not in told['meta']
    check_recorded_args(told, wrn(**ADE_A))


def test_unrecorded_checkpoints_and_other_models_pass():
    model = wrn(**dict(ADE_A, pool_padding=1))
    check_recorded_args({'state_dict': {}}, model)  # plain checkpoint
    check_recorded_args({'meta': {'epoch': 3}, 'state_dict': {}}, model)  # mmengine's
    check_recorded_args(CKPTS['ade-a'](), nn.Conv2d(1, 1, 1))  # no WiderResNet


def test_the_backbone_is_found_inside_models():
    class Segmentor(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = wrn(**dict(ADE_A, pool_padding=1))

    class Wrapped(nn.Module):  # like DistributedDataParallel / MMDistributedDataParallel
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    seg = Segmentor()
    assert find_backbone(seg) is seg.backbone and find_backbone(Wrapped(seg)) is seg.backbone
    with pytest.raises(RecordedArgsError, match='pool_padding'):
        check_recorded_args(CKPTS['ade-a'](), Wrapped(seg))


# ------------------------------------------------------------------ the Pretrained init_cfg
def test_pretrained_init_cfg_checks_the_recorded_arguments(tmp_path):
    ckpt = ade(A_FILE, classes=10)  # a classifier: backbone keys under 'backbone.'
    path = tmp_path / 'wrn38a.pth'
    torch.save(ckpt, path)

    def init(model_args, **cfg):
        cfg = dict(type='Pretrained', checkpoint=str(path), prefix='backbone.', **cfg)
        model = wrn(**{**ADE_A, **model_args}, init_cfg=cfg)
        model.init_weights()
        return model

    with pytest.raises(ValueError, match=r'pool_padding: the weights need 0, the model has 1'):
        init(dict(pool_padding=1))
    init(dict(pool_padding=1), ignore_recorded=['pool_padding'])  # on purpose
    model = init({})
    torch.testing.assert_close(model.stem.weight, ckpt['state_dict']['backbone.stem.weight'])


# ------------------------------------------------------------------ shapes when converting
def test_model_shapes_are_the_models():
    meta = ade(A1_FILE, classes=10)['meta']
    ref = {f'backbone.{k}': tuple(v.shape) for k, v in wrn(**ADE_A1).state_dict().items()}
    ref.update({'head.fc.weight': (10, 4096 // DIV), 'head.fc.bias': (10,)})
    assert model_shapes(meta) == ref
    # full width: built on the meta device (no memory), shapes only
    full = dict(meta, backbone={k: v for k, v in meta['backbone'].items() if k != 'widen_factor'})
    shapes = model_shapes(full)
    assert shapes['backbone.block7.unit1.conv3.weight'] == (4096, 2048, 1, 1)
    assert shapes['head.fc.weight'] == (10, 4096)


def test_a_wrong_tensor_shape_fails_naming_key_and_shapes():
    ckpt = port('psa')
    state = dict(ckpt['state_dict'])
    check_converted_shapes(state, ckpt['meta'])
    state['block4.unit2.conv1.weight'] = torch.zeros(32, 32, 1, 1)
    with pytest.raises(ConversionError) as e:
        check_converted_shapes(state, ckpt['meta'])
    msg = str(e.value)
    assert msg.startswith('block4.unit2.conv1.weight: the checkpoint gives shape (32, 32, 1, 1)')
    assert 'needs (32, 32, 3, 3)' in msg and '\n' not in msg


def test_head_shapes_are_checked_against_the_backbone():
    params = dict(_ade_params())
    params['arg:linear10_weight'] = torch.zeros(10, 300)  # backbone gives 256 channels
    params['arg:linear10_bias'] = torch.zeros(10)
    conv = convert_state_dict(params, 'mxnet', name_hint=A1_FILE)
    with pytest.raises(
        ConversionError, match=r'head.fc.weight: .* shape \(10, 300\).* \(10, 256\)'
    ):
        check_converted_shapes(conv.state_dict, conv.meta)
    seg = _voc_seg_params()
    conv = convert_state_dict(seg, 'mxnet', name_hint=VOC_FILE)
    with pytest.raises(ConversionError, match=r'decode_head.conv.conv.weight: .*\(32, 256, 3, 3\)'):
        check_converted_shapes(conv.state_dict, conv.meta)
    seg['arg:conv6a_weight'] = torch.zeros(32, 256, 3, 3)
    conv = convert_state_dict(seg, 'mxnet', name_hint=VOC_FILE)
    check_converted_shapes(conv.state_dict, conv.meta)


def test_converted_ports_pass_the_shape_check():
    for ckpt in (port('psa'), port('map'), ade(A_FILE, classes=5)):
        check_converted_shapes(ckpt['state_dict'], ckpt['meta'])


def test_malformed_recorded_arguments_are_one_error():
    ckpt = ade(A1_FILE)
    ckpt['meta'] = dict(ckpt['meta'], backbone=dict(ckpt['meta']['backbone'], widen_factor='x'))
    with pytest.raises(RecordedArgsError, match=r"meta\['backbone'\] is malformed"):
        check_recorded_args(ckpt, wrn(**ADE_A1))


# ------------------------------------------------------------------ each argument, in full
def _rec(**backbone):
    """A checkpoint recording only these arguments (what is absent takes its default)."""
    return dict(meta=dict(backbone=dict(type='WiderResNet', **backbone)), state_dict={})


def _refusal(ckpt, model):
    with pytest.raises(RecordedArgsError) as e:
        check_recorded_args(ckpt, model)
    return str(e.value)


def test_the_whole_message():
    ckpt = CKPTS['map']()  # no file name; the variant was guessed
    guess = ckpt['meta']['guessed']['variant']
    msg = _refusal(ckpt, wrn(variant='a1', act_cfg=dict(type='ReLU')))
    assert msg == (
        'the checkpoint converted from a converted checkpoint records backbone arguments '
        "the model does not have: variant: the weights need 'a', the model has 'a1'; set "
        f"model.backbone.variant='a' in the config (the converter {guess}); act_cfg: the "
        'weights need '
        "dict(type='LeakyReLU', negative_slope=0.01), the model has dict(type='ReLU'); set "
        "model.backbone.act_cfg=dict(type='LeakyReLU', negative_slope=0.01) in the config"
    )
    named = CKPTS['ade-a']()  # the source file is named
    assert _refusal(named, wrn(**dict(ADE_A, pool_padding=1))).startswith(
        f'the checkpoint converted from {A_FILE} records backbone arguments'
    )


@pytest.mark.parametrize(
    'record,model,want',
    [
        # absent: full width, RGB
        (dict(depth=38), dict(), 'widen_factor: the weights need 1.0, the model has 0.0625'),
        (
            dict(depth=38, widen_factor=1 / DIV),
            dict(in_channels=4),
            'in_channels: the weights need 3, the model has 4',
        ),
        (
            dict(depth=38, widen_factor=1 / DIV, in_channels=4),
            dict(),
            'in_channels: the weights need 4, the model has 3',
        ),
        (
            dict(depth=38, widen_factor=1 / DIV),
            dict(depth=20),
            'depth: the weights need 38, the model has 20',
        ),
        (
            dict(arch=dict(units=[1, 1, 1, 1, 1, 1]), widen_factor=1 / DIV),
            dict(arch=dict(units=(1, 1, 2, 1, 1, 1))),
            'arch: the weights need dict(units=[1, 1, 1, 1, 1, 1]), '
            'the model has dict(units=[1, 1, 2, 1, 1, 1])',
        ),
        (
            dict(depth=38, widen_factor=1 / DIV),
            dict(arch=dict(units=(1, 1, 2, 1, 1, 1))),
            'depth: the weights need 38, the model has (1, 1, 2, 1, 1, 1)',
        ),
        (
            dict(depth=38, widen_factor=1 / DIV, act_cfg=dict(type='LeakyReLU')),
            dict(),
            "act_cfg: the weights need dict(type='LeakyReLU', negative_slope=0.01), "
            "the model has dict(type='ReLU')",
        ),
    ],
)
def test_each_argument_with_both_values(record, model, want):
    msg = _refusal(_rec(**record), wrn(**model))
    assert f'{want};' in msg and msg.count('the weights need') == 1


@pytest.mark.parametrize(
    'record,model',
    [
        # weights not trained dilated (output stride absent: 32): the convention is free
        (
            dict(depth=38, widen_factor=1 / DIV, contract_dilation=True),
            dict(output_stride=8, contract_dilation=False),
        ),
        (dict(arch=dict(stem_channels=64), widen_factor=1 / DIV), dict()),  # no units: free
        (dict(depth=38, widen_factor=1 / DIV * (1 + 1e-8)), dict()),  # rounding in the record
        (dict(depth=38, widen_factor=1 / DIV, norm_cfg=dict(eps=1e-5 * (1 + 1e-8))), dict()),
    ],
)
def test_what_is_not_a_difference(record, model):
    check_recorded_args(_rec(**record), wrn(**model))


def test_only_mappings_record_arguments():
    for ckpt in (None, 'x.pth', ['meta'], {'meta': 'x'}, {'meta': {'backbone': 'x'}}):
        assert recorded_args(ckpt) is None
    assert recorded_args(_rec(depth=16)) == dict(type='WiderResNet', depth=16)


def test_malformed_message_names_the_error_and_the_record():
    msg = _refusal(_rec(depth=38, widen_factor='x'), wrn())
    assert msg.startswith("the checkpoint's meta['backbone'] is malformed (TypeError: ")
    assert msg.endswith(
        "): dict(type='WiderResNet', depth=38, widen_factor='x'); convert the released "
        'file again with wrn2mm.py'
    )


def test_shape_messages_in_full():
    params = dict(_ade_params())
    params['arg:linear10_weight'] = torch.zeros(10, 4096 // DIV)
    params['arg:linear10_bias'] = torch.zeros(10)
    conv = convert_state_dict(params, 'mxnet', name_hint=A1_FILE)
    desc = "WiderResNet(depth=38, variant='a1', widen_factor=0.0625)"
    tail = (
        f'but {desc}, the model its recorded arguments build, needs {{}}{{}}; the checkpoint '
        'is corrupt, or its layers do not share one width'
    )

    def refusal(**changed):
        state = dict(conv.state_dict, **changed)
        with pytest.raises(ConversionError) as e:
            check_converted_shapes(state, conv.meta, conv.renamed)
        return str(e.value)

    assert refusal(
        **{
            'backbone.block4.unit2.conv1.weight': torch.zeros(32, 32, 1, 1),
            'head.fc.weight': torch.zeros(10, 300),
        }
    ) == (
        'backbone.block4.unit2.conv1.weight (from arg:res4b1_branch2a_weight): the '
        'checkpoint gives shape (32, 32, 1, 1), '
        + tail.format('(32, 32, 3, 3)', ' (and 1 more tensors)')
    )
    assert refusal(**{'head.fc.weight': torch.zeros(10, 300)}) == (
        'head.fc.weight (from arg:linear10_weight): the checkpoint gives shape (10, 300), '
        + tail.format('(10, 256)', '')
    )
    state = dict(conv.state_dict, extra=torch.zeros(1))
    del state['backbone.norm_out.bias']
    with pytest.raises(ConversionError) as e:
        check_converted_shapes(state, conv.meta)
    assert str(e.value) == (
        f"the converted keys do not match {desc}: 1 missing ['backbone.norm_out.bias'], "
        "1 unexpected ['extra']"
    )


def test_shape_messages_name_the_source_of_a_head_key_and_lone_missing_keys():
    seg = _voc_seg_params()
    conv = convert_state_dict(seg, 'mxnet', name_hint=VOC_FILE)
    with pytest.raises(ConversionError) as e:
        check_converted_shapes(conv.state_dict, conv.meta, conv.renamed)
    assert str(e.value).startswith(
        'decode_head.conv.conv.weight (from arg:conv6a_weight): the checkpoint gives shape '
        '(32, 255, 3, 3), '
    )
    state = dict(port('psa')['state_dict'])
    del state['stem.weight']
    with pytest.raises(ConversionError, match=r"1 missing \['stem.weight'\], 0 unexpected \[\]"):
        check_converted_shapes(state, port('psa')['meta'])


def test_model_shapes_without_a_prefix_and_of_arguments_that_build_nothing():
    meta = dict(backbone=dict(type='WiderResNet', depth=16, widen_factor=1 / DIV), task='backbone')
    shapes = model_shapes(meta)  # no 'prefix': the backbone's own keys
    assert shapes == {k: tuple(v.shape) for k, v in wrn(depth=16).state_dict().items()}
    with pytest.raises(ConversionError) as e:
        model_shapes(dict(meta, backbone=dict(type='WiderResNet', depth=99)))
    msg = str(e.value)
    assert msg.startswith('the recorded arguments WiderResNet(depth=99) do not build a model (')
    assert 'depth' in msg and msg.endswith('); the checkpoint is corrupt')
    bad = dict(type='WiderResNet', arch=dict(units=[1]), in_channels=4, norm_cfg=None)
    with pytest.raises(ConversionError) as e:
        model_shapes(dict(meta, backbone=bad))
    assert str(e.value).startswith(
        'the recorded arguments WiderResNet(arch=dict(units=[1]), in_channels=4) do not'
    )


def test_the_source_key_is_named_without_a_recorded_prefix():
    conv = convert_state_dict(PsaNet(div=DIV).state_dict(), 'psa')
    meta = {k: v for k, v in conv.meta.items() if k != 'prefix'}
    state = dict(conv.state_dict, **{'block4.unit2.conv1.weight': torch.zeros(32, 32, 1, 1)})
    with pytest.raises(ConversionError, match=r'^block4.unit2.conv1.weight \(from b4_1.conv_'):
        check_converted_shapes(state, meta, conv.renamed)


def test_model_shapes_of_a_classifier_inside_an_mmseg_run():
    """The classifier head is built in mmpretrain's scope even where mmseg's is the default
    (tools/test.py of a segmentation config loading a converted ImageNet checkpoint)."""
    from mmengine.registry import DefaultScope

    meta = ade(A1_FILE, classes=10)['meta']
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert model_shapes(meta)['head.fc.weight'] == (10, 4096 // DIV)
