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
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        feats = seg.backbone(x)
        want_feats = ref(x)
        # ADE's head: conv6a (3x3, dilation 12) + ReLU, then linear21 (3x3, dilation 12)
        t = torch.relu(torch.conv2d(want_feats, head['w6'], head['b6'], padding=12, dilation=12))
        want = torch.conv2d(t, head['w21'], head['b21'], padding=12, dilation=12)
        logits = seg.decode_head(feats)
    assert feats[0].shape == want_feats.shape == (2, 256, 6, 6)
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
