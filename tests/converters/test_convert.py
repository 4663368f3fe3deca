"""The converters tied to the models: each released naming, converted, loads strictly into
WiderResNet (and the mmpretrain / mmseg model) and reproduces the reference port's output.

The references (tests/converters/wrn_ports.py) are independent re-implementations of the
PSA, MAP and NVIDIA ports and of the authors' MXNet graph, run at 1/16 width here; the
full-width runs of the acceptance checks are in test_wrn2mm_cli.py.
"""

import copy
from collections import OrderedDict
from pathlib import Path

import mxnet_writer as mw
import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint
from wrn_ports import (
    InPlaceABNRef,
    PortWiderResNet,
    PsaNet,
    max_rel_err,
    port_to_ade,
    psa_to_ade,
    randomize,
    set_bn_eps,
    wrap_torch,
)

from wider_mm.converters import (
    SOURCES,
    ConversionError,
    convert_file,
    convert_state_dict,
    detect_format,
)
from wider_mm.converters.sources import DEPTH_UNITS
from wider_mm.models.backbones.wider_resnet import DEPTHS, WiderResNet

DIV = 16
NAMES_A1 = Path(__file__).resolve().parents[1] / 'data' / 'mxnet_a1_param_names.txt'
LEAKY = dict(type='LeakyReLU', negative_slope=0.01)
TOL = 1e-4  # of the output's scale (the acceptance criterion)


def backbone_only(state):
    """Backbone keys without a 'backbone.' prefix (head keys ignored, as in acceptance)."""
    return OrderedDict(
        (k[len('backbone.') :] if k.startswith('backbone.') else k, v)
        for k, v in state.items()
        if not k.startswith(('head.', 'decode_head.'))
    )


def wrn(**kwargs):
    return WiderResNet(widen_factor=1 / DIV, out_indices=(6,), **kwargs).eval()


def from_meta(meta, **extra):
    args = {k: v for k, v in meta['backbone'].items() if k != 'type'}
    return WiderResNet(out_indices=(6,), **{**args, **extra}).eval()


def compare(model, state, ref_out, x):
    model.load_state_dict(backbone_only(state), strict=True)
    with torch.no_grad():
        out = model(x)[0]
    assert out.shape == ref_out.shape
    assert ref_out.abs().max() > 1e-2  # a meaningful signal, not zeros
    return max_rel_err(out, ref_out)[1]


# ------------------------------------------------------------------ the four PyTorch cases
PORT_CASES = {
    'psa': (lambda: PsaNet(div=DIV), False, dict(depth=38, variant='a1', output_stride=8)),
    'nvidia-a2-s8': (
        lambda: PortWiderResNet(div=DIV, a2=True, dilation=True),
        True,
        dict(depth=38, variant='a2', output_stride=8, contract_dilation=False, pool_padding=1),
    ),
    'nvidia-a': (
        lambda: PortWiderResNet(div=DIV),
        True,
        dict(depth=38, variant='a', pool_padding=1),
    ),
    'mapillary-a': (
        lambda: PortWiderResNet(div=DIV, norm_act=InPlaceABNRef),
        True,
        dict(depth=38, variant='a', pool_padding=1, act_cfg=LEAKY),
    ),
}


def port_case(case, seed=0):
    make, dp, args = PORT_CASES[case]
    ref = randomize(make(), seed).eval()
    ckpt = wrap_torch(ref, data_parallel=dp)
    state = ckpt['state_dict'] if dp else ckpt
    return ref, state, args


@pytest.mark.parametrize('case', list(PORT_CASES))
def test_port_matches_reference(case):
    ref, state, args = port_case(case)
    src = case.split('-')[0]
    assert detect_format(state)[0] == src
    conv = convert_state_dict(state, src)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        ref_out = ref(x) if case == 'psa' else ref.features(x)
    assert compare(wrn(**args), conv.state_dict, ref_out, x) < TOL
    if case != 'nvidia-a':  # the meta's arguments are the ones that reproduce the port
        assert compare(from_meta(conv.meta), conv.state_dict, ref_out, x) < TOL


@pytest.mark.parametrize(
    'case,wrong',
    [
        ('psa', dict(contract_dilation=False)),
        ('nvidia-a2-s8', dict(contract_dilation=True)),
        ('nvidia-a', dict(variant='a1')),
        ('mapillary-a', dict(act_cfg=dict(type='ReLU'))),
    ],
)
def test_wrong_arguments_change_the_output(case, wrong):
    """Control: the comparison is sensitive to the semantics the meta records."""
    ref, state, args = port_case(case)
    conv = convert_state_dict(state, case.split('-')[0])
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        ref_out = ref(x) if case == 'psa' else ref.features(x)
    assert compare(wrn(**{**args, **wrong}), conv.state_dict, ref_out, x) > 1e-3


def test_mapillary_gamma_is_abs_plus_eps():
    ref, state, _ = port_case('mapillary-a')
    conv = convert_state_dict(state, 'mapillary')
    raw = state['module.mod3.block2.convs.bn2.weight']
    assert (raw < 0).any()  # the randomisation makes some gammas negative
    got = conv.state_dict['block3.unit2.norm2.weight']
    torch.testing.assert_close(got, raw.abs() + 1e-5, rtol=0, atol=0)
    # without it the InPlace-ABN weights are wrong in plain BN
    plain = OrderedDict(conv.state_dict)
    for s, t in conv.renamed:
        if t.endswith('.weight') and state[s].dim() == 1:
            plain[t] = state[s].clone()
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        ref_out = ref.features(x)
    assert compare(wrn(depth=38, variant='a', act_cfg=LEAKY), plain, ref_out, x) > 1e-3


@pytest.mark.parametrize('case', ['nvidia-a', 'mapillary-a'])
def test_classifier_into_mmpretrain(case):
    from mmpretrain.registry import MODELS

    make, _, args = PORT_CASES[case]
    norm_act = InPlaceABNRef if case.startswith('mapillary') else None
    ref = PortWiderResNet(div=DIV, classes=10, **({'norm_act': norm_act} if norm_act else {}))
    ref = randomize(ref, 3).eval()
    src = case.split('-')[0]
    conv = convert_state_dict(
        wrap_torch(ref, True)['state_dict'], src, variant='a', output_stride=32
    )
    meta = conv.meta
    assert meta['task'] == 'classification' and meta['num_classes'] == 10
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in conv.state_dict)
    model = MODELS.build(
        dict(
            _scope_='mmpretrain',
            type='ImageClassifier',
            backbone=meta['backbone'],
            neck=dict(type='GlobalAveragePooling'),
            head=meta['head'],
        )
    ).eval()
    model.load_state_dict(conv.state_dict, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        err = max_rel_err(model(x, mode='tensor'), ref(x))[1]
    assert err < TOL


# ------------------------------------------------------------------ the authors' MXNet files
# The ADE files are made from the reference ports, never from WiderResNet: PSA's resnet38d
# (a port of ADE's Model A1, stride 8) and the MAP/NV layout with ADE's unpadded pools (Model
# A); their forwards are the reference outputs.
def test_ade_naming_is_the_released_one():
    """The test side's ADE naming of the PSA port reproduces the 193 keys of the released A1
    model, and the converter consumes exactly those (with the ImageNet classifier)."""
    assert NAMES_A1.is_file(), f'{NAMES_A1} is missing: it is part of the repository'
    names = NAMES_A1.read_text().split()
    assert len(names) == 193
    src = psa_to_ade(PsaNet(div=DIV).state_dict())
    assert set(src) == set(names) - {'arg:linear1000_weight', 'arg:linear1000_bias'}
    state = OrderedDict(
        (n, src.get(n, torch.zeros(1000, 256) if n.endswith('weight') else torch.zeros(1000)))
        for n in names
    )
    conv = convert_state_dict(state, 'mxnet', name_hint='ilsvrc-cls_rna-a1_cls1000_ep-0001')
    assert len(conv.renamed) == 193
    assert conv.meta['task'] == 'classification' and conv.meta['num_classes'] == 1000
    assert conv.meta['backbone']['variant'] == 'a1'
    assert conv.meta['backbone']['output_stride'] == 32
    assert conv.meta['backbone']['norm_cfg']['eps'] == 1.001e-5


@pytest.mark.parametrize('version', ['legacy', 'V1', 'V2', 'V3'])
def test_ade_segmentation_file_into_mmseg(tmp_path, version):
    """An ADE-named VOC segmentation .params (the PSA port's weights) -> converted -> the
    full mmseg segmentor, loaded strictly by mmengine, gives the port's logits."""
    from mmseg.registry import MODELS

    ref = set_bn_eps(randomize(PsaNet(div=DIV))).eval()
    params = psa_to_ade(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    head = dict(
        w6=torch.randn(32, 256, 3, 3, generator=g) * 0.02,
        b6=torch.randn(32, generator=g) * 0.1,
        w21=torch.randn(21, 32, 3, 3, generator=g) * 0.05,
        b21=torch.randn(21, generator=g) * 0.1,
    )
    params['arg:conv6a_weight'], params['arg:conv6a_bias'] = head['w6'], head['b6']
    params['arg:linear21_weight'], params['arg:linear21_bias'] = head['w21'], head['b21']
    path = tmp_path / 'voc_rna-a1_cls21_s8_ep-0001.params'
    mw.save(path, {k: v.numpy() for k, v in params.items()}, version, ctx=(2, 0))
    conv = convert_file(str(path), str(tmp_path / 'voc.pth'))
    meta = conv.meta
    assert meta['task'] == 'segmentation' and meta['num_classes'] == 21
    assert meta['backbone']['output_stride'] == 8 and meta['backbone']['contract_dilation']
    seg = MODELS.build(
        dict(
            _scope_='mmseg',
            type='EncoderDecoder',
            backbone=meta['backbone'],
            decode_head=dict(meta['decode_head'], loss_decode=dict(type='CrossEntropyLoss')),
        )
    ).eval()
    load_checkpoint(seg, str(tmp_path / 'voc.pth'), strict=True)
    x = torch.randn(2, 3, 112, 112)  # 14x14 features: the dilation-12 taps reach them
    with torch.no_grad():
        feats = seg.backbone(x)
        want_feats = ref(x)
        # ADE's head: conv6a (3x3, dilation 12) + ReLU, then linear21 (3x3, dilation 12)
        t = torch.relu(torch.conv2d(want_feats, head['w6'], head['b6'], padding=12, dilation=12))
        want = torch.conv2d(t, head['w21'], head['b21'], padding=12, dilation=12)
        logits = seg.decode_head(feats)
    assert feats[0].shape == want_feats.shape == (2, 256, 14, 14)
    assert max_rel_err(feats[0], want_feats)[1] < TOL
    assert logits.shape == want.shape and max_rel_err(logits, want)[1] < TOL


def test_ade_model_a_classification_needs_pool_padding_0(tmp_path):
    from mmpretrain.registry import MODELS

    ref = PortWiderResNet(div=DIV, classes=1000, pool_padding=0)
    ref = set_bn_eps(randomize(ref, 2)).eval()
    params = port_to_ade(ref.state_dict())
    assert {'arg:linear1000_weight', 'arg:linear1000_bias'} <= set(params)
    path = tmp_path / 'ilsvrc-cls_rna-a_cls1000_ep-0001.params'
    mw.save(
        path,
        {
            k: v.numpy().astype(np.float16) if 'linear' in k else v.numpy()
            for k, v in params.items()
        },
        'V1',
    )
    conv = convert_file(str(path), None)
    meta = conv.meta
    assert meta['backbone']['variant'] == 'a' and meta['backbone']['pool_padding'] == 0
    assert conv.state_dict['head.fc.weight'].dtype == torch.float32  # stored as float16
    cfg = dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=meta['backbone'],
        neck=dict(type='GlobalAveragePooling'),
        head=meta['head'],
    )
    model = MODELS.build(cfg).eval()
    model.load_state_dict(conv.state_dict, strict=True)
    with torch.no_grad():  # the classifier as stored: float16 values
        ref.classifier.fc.weight.copy_(ref.classifier.fc.weight.half().float())
        ref.classifier.fc.bias.copy_(ref.classifier.fc.bias.half().float())
    x = torch.randn(2, 3, 64, 64)  # 5 pools: 64 -> 31 -> 15 -> 7 -> 3 -> 1 with padding 0
    with torch.no_grad():
        assert model.backbone(x)[-1].shape == ref.features(x).shape == (2, 256, 1, 1)
        want = ref(x)
        assert max_rel_err(model(x, mode='tensor'), want)[1] < TOL
        cfg['backbone'] = dict(meta['backbone'], pool_padding=1)
        wrong = MODELS.build(cfg).eval()
        wrong.load_state_dict(conv.state_dict, strict=True)
        assert max_rel_err(wrong(x, mode='tensor'), want)[1] > 1e-3


# ------------------------------------------------------------------ strictness and bookkeeping
def test_depth_table_matches_the_model():
    assert DEPTH_UNITS == {tuple(u): d for d, u in DEPTHS.items()}


def test_num_batches_tracked_are_produced():
    _, state, _ = port_case('psa')
    state = OrderedDict((k, v) for k, v in state.items() if 'num_batches' not in k)
    conv = convert_state_dict(state, 'psa')
    nbt = [k for k in conv.state_dict if k.endswith('num_batches_tracked')]
    assert len(nbt) == len(conv.added) == 2 * 3 + 2 * 3 + 2 * 6 + 2 * 3 + 3 + 3 + 1
    assert all(conv.state_dict[k].dtype == torch.int64 and conv.state_dict[k] == 0 for k in nbt)
    wrn(depth=38, variant='a1', output_stride=8).load_state_dict(conv.state_dict, strict=True)


def test_leftover_keys_fail_listing_them_unless_dropped():
    _, state, _ = port_case('psa')
    state['f8_3.weight'] = torch.zeros(4, 32, 1, 1)  # PSA's AffinityNet layers: no model here
    state['f9.weight'] = torch.zeros(28, 56, 1, 1)
    with pytest.raises(ConversionError, match='left over') as e:
        convert_state_dict(state, 'psa')
    assert e.value.leftover == ['f8_3.weight', 'f9.weight']
    assert str(e.value).endswith(
        'source keys left over (not part of the psa naming; pass --drop REGEX to discard them '
        'on purpose) 2: f8_3.weight, f9.weight'
    )
    assert '\n' not in str(e.value)  # one line
    conv = convert_state_dict(state, 'psa', drop=[r'^f8_', r'^f9\.'])
    assert conv.dropped == ['f8_3.weight', 'f9.weight']
    # PSA's classifier fc8 is converted (configs/classification/psa), or dropped on request
    state = dict(port_case('psa')[1], **{'fc8.weight': torch.zeros(20, 256, 1, 1)})
    assert convert_state_dict(state, 'psa').state_dict['head.fc.weight'].shape == (20, 256)
    assert convert_state_dict(state, 'psa', drop=[r'^fc8\.']).meta['task'] == 'backbone'


@pytest.mark.parametrize('n', [1, 30, 31, 45])
def test_key_listings_show_the_first_30(n):
    from wider_mm.converters.convert import _listing

    keys = [f'k{i}' for i in range(n)]
    more = f', ... ({n - 30} more)' if n > 30 else ''
    assert _listing(iter(keys)) == f'{n}: ' + ', '.join(keys[:30]) + more
    assert _listing(['a', 'b']) == '2: a, b'


def test_missing_and_unexpected_keys():
    _, state, _ = port_case('nvidia-a')
    partial = copy.copy(state)
    del partial['module.mod4.block3.convs.bn2.0.running_var']
    del partial['module.mod6.block1.proj_conv.weight']
    with pytest.raises(ConversionError, match='not produced') as e:
        convert_state_dict(partial, 'nvidia')
    assert e.value.missing == ['block4.unit3.norm2.running_var', 'block6.unit1.shortcut.weight']
    extra = copy.copy(state)
    extra['module.mod2.block2.proj_conv.weight'] = torch.zeros(8, 8, 1, 1)
    with pytest.raises(ConversionError, match='outside the WiderResNet structure') as e:
        convert_state_dict(extra, 'nvidia')
    assert e.value.unexpected == ['block2.unit2.shortcut.weight']
    no_b7 = {k: v for k, v in state.items() if '.mod7.' not in k}
    with pytest.raises(ConversionError, match='no unit of block B7'):
        convert_state_dict(no_b7, 'nvidia')


def test_wrong_source_and_clashes():
    _, state, _ = port_case('mapillary-a')
    with pytest.raises(ConversionError, match="as 'nvidia'") as e:
        convert_state_dict(state, 'nvidia')
    assert any('.bn1.weight' in k for k in e.value.leftover)
    both = OrderedDict(state)
    both['mod1.conv1.weight'] = state['module.mod1.conv1.weight']
    with pytest.raises(ConversionError, match='same target'):
        convert_state_dict(both, 'mapillary')
    with pytest.raises(ConversionError, match='unknown source'):
        convert_state_dict(state, 'caffe')


def test_detect_format_refuses_foreign_and_converted_keys():
    with pytest.raises(ConversionError, match='unrecognised checkpoint'):
        detect_format(['conv1.weight', 'layer1.0.bn1.weight'])
    with pytest.raises(ConversionError, match='already in wider_mm naming'):
        detect_format(['backbone.stem.weight', 'backbone.block2.unit1.conv1.weight'])
    _, state, _ = port_case('nvidia-a2-s8')
    name, found = detect_format(state)
    assert name == 'nvidia' and "'module.'" in found and 'of 228 keys' in found


def test_detect_format_messages_in_full():
    with pytest.raises(ConversionError) as e:
        detect_format([])
    assert str(e.value) == 'the checkpoint holds no parameters'
    keys = ['conv1.weight', 'layer1.0.bn1.weight', 'fc.weight', 'fc.bias', 'bn1.weight', 'x']
    with pytest.raises(ConversionError) as e:
        detect_format(keys)
    assert str(e.value) == (
        'unrecognised checkpoint: none of the known namings (mxnet, psa, mapillary, nvidia) '
        f'fits its keys (first keys: {keys[:5]}). Known stems: MXNet arg:conv1a_weight, PSA '
        'conv1a.weight, MAP/NVIDIA [module.]mod1.conv1.weight'
    )
    for prefix in ('', 'module.', 'backbone.'):
        with pytest.raises(ConversionError) as e:
            detect_format([f'{prefix}stem.weight', f'{prefix}block2.unit1.conv1.weight'])
        assert str(e.value) == (
            'the keys are already in wider_mm naming (stem.weight, block2.unit1....): nothing '
            'to convert; load the file directly'
        )
    # a 'stem.weight' alone (another network's layer) is not wider_mm naming
    assert detect_format(['stem.weight', 'conv1a.weight'])[0] == 'psa'


def test_detect_format_needs_a_stem_and_prefers_it():
    """The source whose stem key is present wins over one with more hits but no stem; hits
    without any stem are not a detection; ties go to the first candidate."""
    map_units = ['mod2.block1.bn1.weight', 'mod2.block1.bn1.bias']  # MAP's norm1, not a stem
    assert detect_format(['conv1a.weight', *map_units])[0] == 'psa'
    with pytest.raises(ConversionError, match='unrecognised checkpoint'):
        detect_format(map_units)
    keys = ['module.mod1.conv1.weight', 'module.mod2.block1.convs.conv1.weight']
    assert detect_format(keys) == (
        'mapillary',
        f"mapillary: {SOURCES['mapillary'].title}; 2 of 2 keys fit its naming, prefixes "
        "['module.'] (e.g. 'module.mod1.conv1.weight')",
    )
    assert detect_format(keys, ('nvidia', 'mapillary'))[0] == 'nvidia'
    assert detect_format(['mod1.conv1.weight'])[0] == 'mapillary'  # one key is enough
    assert detect_format(['conv1a.weight', 'fc9.weight']) == (
        'psa',
        f"psa: {SOURCES['psa'].title}; 1 of 2 keys fit its naming (e.g. 'conv1a.weight')",
    )


@pytest.mark.parametrize(
    'name,hints',
    [
        ('ilsvrc-cls_rna-a_cls1000_ep-0001.params', dict(variant='a')),
        ('voc_rna-a1_cls21_s8_ep-0001.params', dict(variant='a1', output_stride=8)),
        ('cityscapes_rna-a1_cls19_s16_ep-0001.params', dict(variant='a1', output_stride=16)),
        ('ade_rna-a2_s32', dict(variant='a2', output_stride=32)),
        ('model_s8x_rna-a1x.params', {}),  # only whole fields
        ('', {}),
        (None, {}),
    ],
)
def test_variant_and_output_stride_from_the_file_name(name, hints):
    from wider_mm.converters.convert import _name_hints

    assert _name_hints(name) == hints


def test_all_sources_listed():
    assert sorted(SOURCES) == ['mapillary', 'mxnet', 'nvidia', 'psa']


def test_config_snippet_writes_lists_as_tuples():
    """A checkpoint of non-standard depth records its unit counts (a list) in the meta."""
    from wider_mm.converters import config_snippet

    backbone = dict(type='WiderResNet', arch=dict(units=[1, 1, 2, 1, 1, 1]), out_indices=[6])
    snippet = config_snippet(dict(task='backbone', backbone=backbone), 'c.pth')
    assert snippet == (
        'model = dict(\n'
        "    backbone=dict(type='WiderResNet', arch=dict(units=(1, 1, 2, 1, 1, 1)), "
        "out_indices=(6,), init_cfg=dict(type='Pretrained', checkpoint='c.pth')))"
    )


def test_config_snippet_of_each_task_in_full():
    from wider_mm.converters import config_snippet

    backbone = dict(type='WiderResNet', depth=38)
    head = dict(type='LinearClsHead', num_classes=7, in_channels=4096)
    meta = dict(task='classification', backbone=backbone, head=head)
    assert config_snippet(meta, 'c.pth') == (
        '# mmpretrain ImageClassifier (as a pretrained backbone elsewhere: init_cfg='
        "dict(type='Pretrained', checkpoint='c.pth', prefix='backbone.'))\n"
        'model = dict(\n'
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='WiderResNet', depth=38),\n"
        "    neck=dict(type='GlobalAveragePooling'),\n"
        "    head=dict(type='LinearClsHead', num_classes=7, in_channels=4096))\n"
        "load_from = 'c.pth'"
    )
    decode_head = dict(type='WiderHead', in_channels=4096, channels=512, num_classes=21)
    meta = dict(task='segmentation', backbone=backbone, decode_head=decode_head)
    assert config_snippet(meta, 'c.pth') == (
        '# mmseg segmentor (evaluate: tools/test.py CONFIG CHECKPOINT)\n'
        'model = dict(\n'
        "    backbone=dict(type='WiderResNet', depth=38),\n"
        "    decode_head=dict(type='WiderHead', in_channels=4096, channels=512, num_classes=21))\n"
        "load_from = 'c.pth'"
    )


@pytest.mark.parametrize('case', ['psa', 'nvidia-a'])
def test_config_snippet_is_valid_python_with_the_meta_arguments(case):
    from wider_mm.converters import config_snippet

    make, dp, _ = PORT_CASES[case]
    ref = PortWiderResNet(div=DIV, classes=7) if case == 'nvidia-a' else make()
    state = wrap_torch(ref, dp)
    conv = convert_state_dict(state['state_dict'] if dp else state, case.split('-')[0])
    ns = {}
    exec(config_snippet(conv.meta, 'ckpt.pth'), ns)
    backbone = dict(ns['model']['backbone'])
    if case == 'psa':
        assert backbone.pop('init_cfg') == dict(type='Pretrained', checkpoint='ckpt.pth')
    else:
        assert ns['load_from'] == 'ckpt.pth' and ns['model']['head']['num_classes'] == 7
    assert backbone == conv.meta['backbone']


# ------------------------------------------------------------------ what the meta records
def ade_state(task):
    """The PSA port's weights in ADE names, with ADE's VOC head or ImageNet classifier."""
    state = psa_to_ade(PsaNet(div=DIV).state_dict())
    if task == 'segmentation':
        state['arg:conv6a_weight'] = torch.zeros(32, 256, 3, 3)
        state['arg:conv6a_bias'] = torch.zeros(32)
        state['arg:linear21_weight'] = torch.zeros(21, 32, 3, 3)
        state['arg:linear21_bias'] = torch.zeros(21)
    else:
        state['arg:linear1000_weight'] = torch.zeros(1000, 256)
        state['arg:linear1000_bias'] = torch.zeros(1000)
    return state


@pytest.mark.parametrize('task,stride', [('segmentation', 8), ('classification', 32)])
def test_ade_output_stride_without_a_hint_in_the_file_name(task, stride):
    """ADE's segmentation models run at stride 8, its classifiers at 32 (unless the name
    says '_s16' ...); the VOC head is the paper's: 3x3 convs of dilation 12, no BN."""
    meta = convert_state_dict(ade_state(task), 'mxnet', name_hint='model.params').meta
    assert meta['task'] == task and meta['backbone']['output_stride'] == stride
    if task == 'segmentation':
        assert meta['decode_head'] == dict(
            type='WiderHead',
            in_channels=256,
            channels=32,
            num_classes=21,
            dilation=12,
            norm_cfg=None,
        )


PORT_KEYS = {'nvidia': 'nvidia-a', 'mapillary': 'mapillary-a', 'psa': 'psa'}


@pytest.mark.parametrize(
    'case,name,variant,want',
    [
        (
            'mxnet',
            'voc_rna-a1_cls21.params',
            None,
            "guessed variant 'a1' from the file name 'voc_rna-a1_cls21.params' ({}); pass "
            '--variant if the file was renamed',
        ),
        (
            'mxnet',
            'model.params',
            None,
            "guessed variant 'a1' ({}; the file name 'model.params' does not say); pass "
            '--variant if wrong',
        ),
        ('nvidia', 'model.pth', None, "guessed variant 'a2' ({}); pass --variant if wrong"),
        ('mapillary', None, None, "guessed variant 'a' ({}); pass --variant if wrong"),
        ('nvidia', 'model.pth', 'a', None),  # told, not guessed
        ('psa', 'model.pth', None, None),  # one variant only
    ],
)
def test_a_guessed_variant_says_why_and_how_to_override_it(case, name, variant, want):
    state = ade_state('classification') if case == 'mxnet' else port_case(PORT_KEYS[case])[1]
    meta = convert_state_dict(state, case, name_hint=name, variant=variant).meta
    if want is None:
        assert 'guessed' not in meta
    else:
        assert meta['guessed'] == {'variant': want.format(SOURCES[case].variant_guess)}


def test_meta_says_what_made_it_and_from_what():
    meta = convert_state_dict(port_case('nvidia-a')[1], 'nvidia', name_hint='nv.pth').meta
    assert meta['converted_by'] == 'wider_mm.converters (tools/model_converters/wrn2mm.py)'
    assert meta['source'] == dict(format='nvidia', title=SOURCES['nvidia'].title, file='nv.pth')


def test_a_non_standard_depth_is_recorded_as_its_unit_counts():
    ref = randomize(PortWiderResNet(structure=(1, 1, 2, 1, 1, 1), div=DIV)).eval()
    state = wrap_torch(ref, True)['state_dict']
    conv = convert_state_dict(state, 'nvidia', variant='a', output_stride=32)
    backbone = conv.meta['backbone']
    assert 'depth' not in backbone and backbone['arch'] == dict(units=[1, 1, 2, 1, 1, 1])
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        ref_out = ref.features(x)
    assert compare(from_meta(conv.meta), conv.state_dict, ref_out, x) < TOL


@pytest.mark.parametrize(
    'stem,want',
    [
        ((64, 3, 3, 3), {}),  # the released width and RGB input: the defaults
        ((4, 3, 3, 3), dict(widen_factor=1 / 16)),
        ((64, 4, 3, 3), dict(in_channels=4)),  # e.g. RGB + depth
        ((128, 1, 3, 3), dict(widen_factor=2.0, in_channels=1)),
    ],
)
def test_width_and_input_channels_from_the_stem(stem, want):
    state = dict(port_case('psa')[1], **{'conv1a.weight': torch.zeros(stem)})
    backbone = convert_state_dict(state, 'psa').meta['backbone']
    got = {k: backbone[k] for k in ('widen_factor', 'in_channels') if k in backbone}
    assert got == want


def test_a_unit_numbered_0_is_outside_the_structure():
    """MAP/NV number units from 1 (mod7.block1); a block0 is the one problem reported."""
    _, state, _ = port_case('nvidia-a')
    state = OrderedDict((k.replace('.mod7.block1.', '.mod7.block0.'), v) for k, v in state.items())
    with pytest.raises(ConversionError, match='outside the WiderResNet structure') as e:
        convert_state_dict(state, 'nvidia')
    assert e.value.missing == [] and e.value.leftover == []
    assert e.value.unexpected and all(k.startswith('block7.unit0.') for k in e.value.unexpected)


def test_the_order_of_the_source_keys_does_not_matter():
    """A file may list its arrays in any order (here: last unit first, branch 2b2 before 2a)."""
    _, state, _ = port_case('psa')
    want = convert_state_dict(state, 'psa')
    got = convert_state_dict(OrderedDict(reversed(list(state.items()))), 'psa')
    assert got.state_dict.keys() == want.state_dict.keys() and got.meta == want.meta


# ------------------------------------------------------------------ bad values and structures
def nan_inf():
    """A stem of 108 values, 3 of them not finite."""
    t = torch.zeros(4, 3, 3, 3)
    t[0, 0, 0, :2] = float('nan')
    t[3, 2, 2, 2] = float('inf')
    return t


LONG_DOUBLE = np.dtype(np.longdouble)


@pytest.mark.parametrize(
    'key,value,want',
    [
        ('conv1a.weight', None, 'conv1a.weight: the source holds an empty (shapeless) array here'),
        (
            'conv1a.weight',
            np.zeros((4, 3, 3, 3), np.int32),
            'conv1a.weight: expected floating-point values, got int32',
        ),
        pytest.param(
            'conv1a.weight',
            np.zeros((4, 3, 3, 3), LONG_DOUBLE),
            f'conv1a.weight: expected floating-point values, got {LONG_DOUBLE}',
            marks=pytest.mark.skipif(LONG_DOUBLE.itemsize <= 8, reason='long double is double'),
        ),
        ('conv1a.weight', [[0.0]], 'conv1a.weight: expected an array or tensor, got list'),
        (
            'conv1a.weight',
            torch.zeros(4, 3, 3, 3, dtype=torch.int64),
            'conv1a.weight: expected floating-point values, got torch.int64',
        ),
        (
            'conv1a.weight',
            nan_inf(),
            'conv1a.weight: 3 of its 108 values are NaN or infinite; the checkpoint is corrupt',
        ),
        (
            'conv1a.weight',
            torch.zeros(4, 27),
            'stem.weight: expected a 4-D tensor, got shape (4, 27); the checkpoint is corrupt',
        ),
        (
            'b2.bn_branch2a.num_batches_tracked',
            torch.zeros(2, dtype=torch.int64),
            'b2.bn_branch2a.num_batches_tracked: a BatchNorm counter must be one number, got '
            'shape (2,)',
        ),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_it(key, value, want):
    state = dict(port_case('psa')[1], **{key: value})
    with pytest.raises(ConversionError) as e:
        convert_state_dict(state, 'psa')
    assert str(e.value) == want


def test_arrays_are_copied_only_where_torch_cannot_share_them():
    """Native, writable float32 arrays are used in place (no second copy of a large file);
    big-endian and read-only ones (e.g. a view of a read-only buffer) become native copies."""
    _, state, _ = port_case('psa')
    arr = state['conv1a.weight'].numpy().copy()
    frozen = arr.copy()
    frozen.flags.writeable = False
    for value, shared in ((arr, True), (arr.astype('>f4'), False), (frozen, False)):
        got = convert_state_dict(dict(state, **{'conv1a.weight': value}), 'psa')
        stem = got.state_dict['stem.weight']
        assert stem.dtype == torch.float32 and np.array_equal(stem.numpy(), arr)
        assert np.shares_memory(stem.numpy(), value) == shared


def test_batchnorm_counters_become_int64_scalars():
    _, state, _ = port_case('psa')
    state['b2.bn_branch2a.num_batches_tracked'] = torch.tensor([7], dtype=torch.int32)
    got = convert_state_dict(state, 'psa').state_dict['block2.unit1.norm1.num_batches_tracked']
    assert got.dtype == torch.int64 and got.shape == () and got == 7


def test_every_clash_is_listed():
    _, state, _ = port_case('mapillary-a')
    both = OrderedDict(state)
    for k in ('module.mod1.conv1.weight', 'module.mod2.block1.bn1.weight'):
        both[k[len('module.') :]] = state[k]
    with pytest.raises(ConversionError) as e:
        convert_state_dict(both, 'mapillary')
    assert str(e.value) == (
        'several source keys map to the same target (e.g. keys with and without a prefix): 2: '
        'mod1.conv1.weight -> stem.weight, mod2.block1.bn1.weight -> block2.unit1.norm1.weight'
    )


def test_all_problems_are_given_in_one_line():
    _, state, _ = port_case('psa')
    state['f9.weight'] = torch.zeros(28, 56, 1, 1)
    del state['b4_2.bn_branch2b1.running_var']
    with pytest.raises(ConversionError) as e:
        convert_state_dict(state, 'psa')
    assert str(e.value) == (
        f"cannot convert as 'psa' ({SOURCES['psa'].title}): source keys left over (not part of "
        'the psa naming; pass --drop REGEX to discard them on purpose) 1: f9.weight; target '
        'keys not produced (truncated or partial checkpoint, or the wrong --src?) 1: '
        'block4.unit3.norm2.running_var'
    )


@pytest.mark.parametrize(
    'keep,want',
    [
        (lambda k: '.mod2.' not in k, 'block2.* (no unit of block B2 at all)'),
        (lambda k: '.mod7.' not in k, 'block7.* (no unit of block B7 at all)'),
        (  # its norms and convs lost, only the shortcut left: how many convs is unknown
            lambda k: '.mod7.' not in k or 'proj_conv' in k,
            'block7.unit*.norm*/conv* (no conv of block B7 at all)',
        ),
        (
            lambda k: '.mod2.' not in k or 'proj_conv' in k,
            'block2.unit*.norm*/conv* (no conv of block B2 at all)',
        ),
    ],
)
def test_a_lost_block_is_named_as_such(keep, want):
    _, state, _ = port_case('nvidia-a')
    with pytest.raises(ConversionError, match='not produced') as e:
        convert_state_dict({k: v for k, v in state.items() if keep(k)}, 'nvidia')
    assert e.value.missing == [want] and e.value.unexpected == []


@pytest.mark.parametrize('dtype', ['<f2', '<f4', '<f8', '>f8'])
def test_numpy_floats_of_every_width_torch_has_convert(dtype):
    """float16/32/64 arrays (either byte order) convert, to the float32 values they hold."""
    state = port_case('psa')[1]
    arrays = {k: v.numpy().astype(dtype) if v.is_floating_point() else v for k, v in state.items()}
    got = convert_state_dict(arrays, 'psa').state_dict['stem.weight']
    want = torch.from_numpy(arrays['conv1a.weight'].astype('=f4'))
    assert got.dtype == torch.float32 and torch.equal(got, want)
