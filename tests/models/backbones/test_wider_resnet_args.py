"""WiderResNet: ``out_indices`` contract and argument errors that name the problem and the fix.

``out_channels``, ``out_strides``, ``output_shape()`` and ``feature_info`` must describe
exactly what ``forward`` returns; unsorted or repeated ``out_indices`` are refused (outputs
come in block order, as in mmseg's ResNet).
"""

import pytest
import torch

from wider_mm.models.backbones.wider_resnet import WiderResNet

SMALL = dict(depth=16, widen_factor=1 / 16)


@pytest.mark.parametrize('out_indices', [(6,), (2, 6), (0, 1, 5), (1, 2, 3, 4, 5, 6), 3, [4, 6]])
def test_published_shapes_are_what_forward_returns(out_indices):
    m = WiderResNet(output_stride=8, out_indices=out_indices, **SMALL).eval()
    with torch.no_grad():
        outs = m(torch.rand(1, 3, 32, 32))
    assert len(outs) == len(m.out_indices) == len(m.out_channels) == len(m.out_strides)
    assert tuple(o.shape[1] for o in outs) == m.out_channels
    assert tuple(32 // o.shape[-1] for o in outs) == m.out_strides
    assert list(m.output_shape()) == list(m.out_indices)
    for o, i in zip(outs, m.out_indices):
        assert m.output_shape()[i] == dict(channels=o.shape[1], stride=32 // o.shape[-1])
        assert m.feature_info[i]['num_chs'] == o.shape[1]


@pytest.mark.parametrize(
    'out_indices,fix',
    [((6, 2), '(2, 6)'), ((6, 6), '(6,)'), ((2, 4, 3), '(2, 3, 4)'), ((3, 3, 6), '(3, 6)')],
)
def test_unsorted_or_repeated_out_indices_are_refused_with_the_fix(out_indices, fix):
    with pytest.raises(ValueError) as e:
        WiderResNet(out_indices=out_indices, **SMALL)
    msg = str(e.value)
    assert f'out_indices={out_indices}' in msg and 'block order' in msg
    assert f'use out_indices={fix} (heads choose outputs and their order by in_index)' in msg
    assert '\n' not in msg


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(frozen_stages='2'), r"frozen_stages must be an int in -1..6 .*got '2'"),
        (dict(frozen_stages=2.0), r'frozen_stages must be an int'),
        (dict(out_indices='6'), r"out_indices must be a sequence of block indices, got '6'"),
        (dict(out_indices=(True,)), r'out_indices must be .* in 0..6'),
        (dict(out_indices=(2.0, 6)), r'out_indices must be .* in 0..6'),
        (dict(widen_factor=0), r'widen_factor must be a number > 0'),
        (dict(widen_factor=-0.5), r'widen_factor must be a number > 0'),
        (dict(widen_factor='1/8'), r"widen_factor must be a number > 0 .*got '1/8'"),
        (dict(in_channels=0), r'in_channels must be a positive int'),
        (dict(frozen_stages=-2), r'frozen_stages must be an int in -1..6'),
        (dict(contract_dilation='yes'), r"contract_dilation must be True or False, got 'yes'"),
        (dict(drop_rates=(0.3,)), r'drop_rates must be two rates in \[0, 1\)'),
        (dict(drop_rates=(0.3, 0.5, 0.5)), r'drop_rates must be two rates'),
        (dict(drop_rates=0.3), r'drop_rates must be two rates'),
        (dict(drop_rates=(0.3, 1.0)), r'drop_rates must be two rates'),
        (dict(norm_eval='False'), r"norm_eval must be True or False, got 'False'"),
        (dict(with_cp=1), r'with_cp must be True or False'),
        (dict(pool_padding=True), r'pool_padding must be 0 or 1'),
        (
            dict(norm_cfg=dict(type='Foo')),
            r"norm_cfg type 'Foo' is not a registered layer; use one of BN, SyncBN, GN, IN",
        ),
        (dict(norm_cfg=dict(type=None)), r'norm_cfg type None is not a registered layer'),
        (
            dict(norm_cfg=dict(type=torch.nn.BatchNorm2d), act_cfg=dict(type='Relu')),
            r"act_cfg type 'Relu' is not a registered layer",
        ),
        (dict(norm_cfg='BN'), r"norm_cfg must be a dict with a 'type' key, e.g. dict\(type='BN'\)"),
        (dict(norm_cfg=dict(requires_grad=True)), r"norm_cfg must be a dict with a 'type' key"),
        (
            dict(norm_cfg=dict(type='LN')),
            r"'LN' does not normalise the channels .* use one of BN, SyncBN, GN, IN \(GN with",
        ),
        (
            dict(norm_cfg=dict(type='BN', epsilon=1e-5)),
            r"norm_cfg=.*'epsilon'.* cannot be built: TypeError: .*unexpected keyword",
        ),
        (
            dict(act_cfg=dict(type='Relu')),
            r"act_cfg type 'Relu' is not a registered layer; use one of ReLU, LeakyReLU, PReLU, "
            r'ELU, GELU, SiLU \(or register',
        ),
        (
            dict(act_cfg=dict(type='LeakyReLU', slope=0.01)),
            r"act_cfg=.*'slope'.* cannot be built: TypeError",
        ),
    ],
)
def test_bad_arguments_name_the_problem_and_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        WiderResNet(**{**SMALL, **kwargs})
    assert str(e.value).startswith('WiderResNet: ') and '\n' not in str(e.value)


def test_gn_without_num_groups_names_the_groups_that_fit():
    # widths at 1/16: 4, 8, ..., 256 -> num_groups must divide 4
    with pytest.raises(ValueError) as e:
        WiderResNet(norm_cfg=dict(type='GN'), **SMALL)
    msg = str(e.value)
    assert 'GN needs num_groups dividing every normalised width [4, 8,' in msg
    assert 'got num_groups=None' in msg
    assert "use e.g. norm_cfg=dict(type='GN', num_groups=4) (divisors: [1, 2, 4])" in msg
    for groups in (32, 0, -4):
        with pytest.raises(ValueError, match=rf'got num_groups={groups}; .*num_groups=4\)'):
            WiderResNet(norm_cfg=dict(type='GN', num_groups=groups), **SMALL)
    # full width: every width is a multiple of 64, so the usual 32 groups fit
    with pytest.raises(ValueError, match=r'num_groups=32\) \(divisors: \[1, 2, 4, 8, 16, 32, 64\]'):
        WiderResNet(depth=16, norm_cfg=dict(type='GN', num_groups=3))


def test_gn_groups_suggested_are_at_most_32():
    # every width a multiple of 66: its divisors 1, 2, 3, 6, 11, 22, 33, 66 -> 22
    arch = dict(stem_channels=66, widths=[(66, 66)] * 4 + [(66, 132, 198)] * 2)
    with pytest.raises(
        ValueError, match=r'num_groups=22\) \(divisors: \[1, 2, 3, 6, 11, 22, 33, 66\]'
    ):
        WiderResNet(depth=16, arch=arch, norm_cfg=dict(type='GN', num_groups=4))


def test_valid_layer_configs_still_build():
    m = WiderResNet(norm_cfg=dict(type='GN', num_groups=2), **SMALL)
    assert isinstance(m.block2.unit1.norm1, torch.nn.GroupNorm)
    m = WiderResNet(norm_cfg=dict(type='GN', num_groups=1), **SMALL)  # a layer norm
    assert m.block2.unit1.norm1.num_groups == 1
    m = WiderResNet(norm_cfg=dict(type='IN', affine=True), act_cfg=dict(type='ELU'), **SMALL)
    assert isinstance(m.block2.unit1.act, torch.nn.ELU)
    m = WiderResNet(norm_cfg=dict(type=torch.nn.BatchNorm2d), frozen_stages=-1, **SMALL)
    assert isinstance(m.stem, torch.nn.Conv2d)


def test_feature_info_names_the_module_of_each_output():
    m = WiderResNet(**SMALL)
    names = [f['module'] for f in m.feature_info]
    assert names == ['stem', 'block2', 'block3', 'block4', 'block5', 'block6', 'norm_out']
    assert all(isinstance(m.get_submodule(n), torch.nn.Module) for n in names)


def test_one_input_channel_is_enough():
    m = WiderResNet(in_channels=1, out_indices=(0,), **SMALL)
    assert m(torch.randn(1, 1, 8, 8))[0].shape == (1, 4, 8, 8)
