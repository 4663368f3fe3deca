"""Tests of the WiderResNet backbone (CPU, small widths)."""

import copy
import importlib.util
import itertools
import math
from pathlib import Path

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from wider_mm.engine.checkpoint import CheckpointError
from wider_mm.models.backbones.wider_resnet import (
    DEPTHS,
    VARIANTS,
    PreActUnit,
    WiderResNet,
    count_parameters,
)

SMALL = dict(widen_factor=1 / 16)


@pytest.mark.parametrize(
    'depth,variant,output_stride',
    list(itertools.product(sorted(DEPTHS), sorted(VARIANTS), (8, 16, 32))),
)
def test_shapes_and_strides(depth, variant, output_stride):
    m = WiderResNet(
        depth=depth,
        variant=variant,
        output_stride=output_stride,
        out_indices=tuple(range(7)),
        **SMALL,
    ).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = m(x)
    assert len(outs) == 7
    assert m.out_strides == tuple(min(2**i, output_stride) for i in range(7))
    full = (64, 128, 256, 512, 1024, 2048, 4096)
    assert m.out_channels == tuple(c // 16 for c in full)
    for out, c, s in zip(outs, m.out_channels, m.out_strides):
        assert out.shape == (1, c, math.ceil(64 / s), math.ceil(64 / s))
    assert m.output_shape()[6] == dict(channels=256, stride=output_stride)


def test_final_output_is_activated():
    m = WiderResNet(depth=16, out_indices=(5, 6), **SMALL).eval()
    b7, final = m(torch.randn(2, 3, 32, 32))
    assert (final >= 0).all()  # ReLU after the final BN
    assert (b7 < 0).any()  # raw block output


# The structures of the paper's Table (units of B2..B7), written here independently of DEPTHS.
PAPER_UNITS = {16: (1, 1, 1, 1, 1, 1), 20: (1, 1, 1, 3, 1, 1), 38: (3, 3, 6, 3, 1, 1)}


def _wrn_ports():
    """tests/converters/wrn_ports.py: the reference ports, sharing no code with wider_mm."""
    path = Path(__file__).resolve().parents[2] / 'converters' / 'wrn_ports.py'
    spec = importlib.util.spec_from_file_location('wrn_ports', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('depth', sorted(PAPER_UNITS))
def test_parameter_counts_equal_reference_port(depth):
    """Full-width counts of every variant equal those of the NVIDIA/MAP reference port (built
    on the meta device: no memory for the 105 M weights)."""
    ports = _wrn_ports()
    with torch.device('meta'):
        ref = sum(
            p.numel() for p in ports.PortWiderResNet(structure=PAPER_UNITS[depth]).parameters()
        )
        if depth == 38:  # the PSA port (Model A1 only) agrees
            assert sum(p.numel() for p in ports.PsaNet().parameters()) == ref
        for variant in VARIANTS:
            assert count_parameters(WiderResNet(depth=depth, variant=variant)) == ref


def test_variants_place_pools_and_strides():
    a = WiderResNet(variant='a', **SMALL)
    a1 = WiderResNet(variant='a1', **SMALL)
    a2 = WiderResNet(variant='a2', **SMALL)
    for j in range(2, 7):
        assert hasattr(getattr(a, f'block{j}'), 'pool')
        assert not hasattr(getattr(a1, f'block{j}'), 'pool')
        assert getattr(a1, f'block{j}').unit1.conv1.stride == (2, 2)
        assert hasattr(getattr(a2, f'block{j}'), 'pool') == (j <= 3)
    assert not hasattr(a.block7, 'pool')


@pytest.mark.parametrize('contract,first', [(True, 1), (False, 2)])
def test_dilation_conventions(contract, first):
    m = WiderResNet(output_stride=8, contract_dilation=contract, **SMALL)
    assert m.block5.unit1.conv1.dilation == (first, first)
    assert m.block5.unit1.conv2.dilation == (2, 2)
    assert m.block5.unit2.conv1.dilation == (2, 2)
    assert m.block6.unit1.conv2.dilation == (4, 4)  # bottleneck: the 3x3 is conv2
    assert m.block7.unit1.conv2.dilation == (4, 4)
    assert m.block6.unit1.conv1.stride == (1, 1)
    m16 = WiderResNet(output_stride=16, **SMALL)
    assert m16.block5.unit1.conv1.stride == (2, 2)
    assert m16.block6.unit1.conv2.dilation == (2, 2)


def test_pool_padding_changes_model_a_sizes():
    x = torch.rand(1, 3, 224, 224)
    sizes = {}
    for pad in (0, 1):
        m = WiderResNet(variant='a', pool_padding=pad, out_indices=(6,), **SMALL).eval()
        sizes[pad] = m(x)[0].shape[-1]
    assert sizes == {0: 6, 1: 7}


def test_custom_arch_and_width():
    arch = dict(stem_channels=8, units=(1, 2, 1, 1, 1, 1), downsample=('stride',) * 5)
    m = WiderResNet(arch=arch)
    assert len(m.block3) == 2 and m.stem.out_channels == 8
    widths = ((8, 8), (8, 16), (16, 16), (16, 32), (16, 32, 64), (32, 64, 128))
    m = WiderResNet(arch=dict(widths=widths), depth=16)
    assert m.out_channels == (128,)


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (
            dict(depth=50),
            r'allowed depths are \[16, 20, 38\] \(or pass arch=dict\(units=\.\.\.\)\)',
        ),
        (
            dict(variant='b'),
            r"allowed variants are \['a', 'a1', 'a2'\] \(or pass arch=dict\(downsample=\.\.\.\)\)",
        ),
        (dict(output_stride=4), r'output_stride must be one of \(8, 16, 32\)'),
        (dict(out_indices=(7,)), r'out_indices .* in 0..6'),
        (dict(out_indices=(-1,)), r'out_indices .* in 0..6'),
        (dict(out_indices=()), r'out_indices'),
        (dict(frozen_stages=7), r'frozen_stages must be an int in -1..6'),
        (dict(arch=dict(units=(1, 2))), r"arch\['units'\] must be 6 positive ints"),
        (dict(arch=dict(units=(1, 1, 0, 1, 1, 1))), r"arch\['units'\] must be 6 positive ints"),
        (dict(arch=dict(widths=((1,),) * 6)), r"arch\['widths'\] must be 6 tuples"),
        (
            dict(arch=dict(downsample=('max',) * 5)),
            r"^WiderResNet: arch\['downsample'\] must be 5 entries \(B2..B6\), each 'pool' or "
            r"'stride', got \('max',",
        ),
        (dict(arch=dict(blocks=3)), r'unknown arch keys'),
        (dict(dropout_type='Alpha'), r"'Dropout' or 'Dropout2d'"),
    ],
)
def test_bad_arguments_name_allowed_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WiderResNet(**kwargs)


def test_frozen_stages_and_norm_eval():
    m = WiderResNet(depth=16, frozen_stages=2, norm_eval=False, **SMALL)
    m.train()
    for name in ('stem', 'block2', 'block3'):
        mod = getattr(m, name)
        assert all(not p.requires_grad for p in mod.parameters())
        assert all(not b.training for b in mod.modules() if isinstance(b, _BatchNorm))
    assert all(p.requires_grad for p in m.block4.parameters())
    assert m.block4.unit1.norm1.training
    stats = m.block3.unit1.norm1.running_mean.clone()
    m(torch.randn(2, 3, 32, 32))
    assert torch.equal(stats, m.block3.unit1.norm1.running_mean)

    m = WiderResNet(depth=16, norm_eval=True, **SMALL).train()
    assert all(not b.training for b in m.modules() if isinstance(b, _BatchNorm))
    assert m.training and all(p.requires_grad for p in m.parameters())


def test_with_cp_same_outputs_and_grads(monkeypatch):
    """``with_cp`` checkpoints every unit once per training forward (and none under no_grad),
    with the gradients of the plain model."""
    kw = dict(depth=16, output_stride=8, out_indices=(3, 6), **SMALL)
    a = WiderResNet(**kw)
    b = WiderResNet(with_cp=True, **kw)
    b.load_state_dict(a.state_dict())
    units = [m for m in b.modules() if isinstance(m, PreActUnit)]
    assert len(units) == sum(DEPTHS[16])
    checkpointed = []
    original = torch.utils.checkpoint.checkpoint

    def counting(function, *args, **kwargs):
        checkpointed.append(function.__self__)  # the unit whose _forward is checkpointed
        assert kwargs.get('use_reentrant') is False  # (reentrant: no grads to the params)
        return original(function, *args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', counting)
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for m in (a, b):
        m.train()
        outs = m(x.clone().requires_grad_())
        sum(o.square().mean() for o in outs).backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
    assert len(checkpointed) == len(units)
    assert set(map(id, checkpointed)) == set(map(id, units))
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)
    checkpointed.clear()
    with torch.no_grad():
        b(x)
    assert not checkpointed


def test_every_parameter_gets_a_gradient_and_no_nan():
    m = WiderResNet(depth=38, variant='a2', drop_rates=(0.3, 0.5), **SMALL).train()
    out = m(torch.randn(2, 3, 32, 32))[0]
    assert torch.isfinite(out).all()
    out.mean().backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not no_grad


def test_dropout_kind_and_eval_unaffected():
    m = WiderResNet(drop_rates=(0.3, 0.5), dropout_type='Dropout2d', **SMALL)
    assert isinstance(m.block6.unit1.dropout, torch.nn.Dropout2d)
    assert m.block6.unit1.dropout.p == 0.3 and m.block7.unit1.dropout.p == 0.5
    assert WiderResNet(**SMALL).block6.unit1.dropout is None
    ref = WiderResNet(**SMALL)
    ref.load_state_dict(m.state_dict())
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(m.eval()(x)[0], ref.eval()(x)[0])


@pytest.mark.parametrize(
    'norm_cfg,layer',
    [
        (dict(type='BN'), torch.nn.BatchNorm2d),
        (dict(type='GN', num_groups=4), torch.nn.GroupNorm),
        (dict(type='SyncBN'), torch.nn.SyncBatchNorm),
    ],
)
def test_norm_and_act_cfg(norm_cfg, layer):
    m = WiderResNet(
        depth=16, norm_cfg=norm_cfg, act_cfg=dict(type='LeakyReLU', negative_slope=0.01), **SMALL
    )
    norms = [mod for name, mod in m.named_modules() if name.rsplit('.', 1)[-1].startswith('norm')]
    units = [mod for mod in m.modules() if isinstance(mod, PreActUnit)]
    assert len(norms) == sum(u.num_convs for u in units) + 1  # one per conv, and norm_out
    assert all(isinstance(n, layer) for n in norms), {type(n) for n in norms}
    if layer is torch.nn.GroupNorm:
        assert all(n.num_groups == 4 for n in norms)
    acts = [u.act for u in units] + [m.act_out]
    assert all(type(a) is torch.nn.LeakyReLU and a.negative_slope == 0.01 for a in acts)
    if norm_cfg['type'] != 'SyncBN':  # SyncBN needs a process group to run
        assert m.eval()(torch.randn(1, 3, 16, 16))[0].shape[1] == 256


def test_pretrained_init_cfg_strict(tmp_path):
    src = WiderResNet(depth=16, **SMALL)
    path = tmp_path / 'seg.pth'
    state = {'backbone.' + k: v for k, v in src.state_dict().items()}
    torch.save({'state_dict': state}, path)
    m = WiderResNet(
        depth=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'),
        **SMALL,
    )
    m.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(v, m.state_dict()[k])

    bad = copy.deepcopy(state)
    bad.pop('backbone.stem.weight')
    bad['backbone.extra.weight'] = torch.zeros(1)
    torch.save({'state_dict': bad}, path)
    m = WiderResNet(
        depth=16, init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone'), **SMALL
    )
    with pytest.raises(CheckpointError, match=r'1 missing keys \[stem.weight\], 1 unexpected'):
        m.init_weights()


def test_pretrained_init_cfg_refuses_other_recorded_args(tmp_path):
    src = WiderResNet(depth=16, **SMALL)
    path = tmp_path / 'conv.pth'
    meta = dict(
        backbone=dict(
            type='WiderResNet', depth=16, widen_factor=1 / 16, act_cfg=dict(type='LeakyReLU')
        ),
        source=dict(file='wrn16.params'),
    )
    torch.save({'meta': meta, 'state_dict': src.state_dict()}, path)
    m = WiderResNet(depth=16, init_cfg=dict(type='Pretrained', checkpoint=str(path)), **SMALL)
    msg = (
        f'{path}: the checkpoint converted from wrn16.params records backbone arguments the '
        "model does not have: act_cfg: the weights need dict(type='LeakyReLU', "
        "negative_slope=0.01), the model has dict(type='ReLU'); set "
        "model.backbone.act_cfg=dict(type='LeakyReLU', negative_slope=0.01) in the config "
        "(or list the argument in the init_cfg's ignore_recorded)"
    )
    with pytest.raises(CheckpointError) as e:
        m.init_weights()
    assert str(e.value) == msg
    cfg = dict(type='Pretrained', checkpoint=str(path), ignore_recorded=['act_cfg'])
    m = WiderResNet(depth=16, init_cfg=cfg, **SMALL)
    m.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(v, m.state_dict()[k])


def test_dropout_runs_once_right_before_the_last_conv():
    m = WiderResNet(drop_rates=(0.3, 0.5), **SMALL).train()
    seen = {}
    for name in ('block6', 'block7'):
        unit = getattr(m, name).unit1
        calls = seen[name] = []
        unit.dropout.register_forward_hook(lambda mod, args, out, calls=calls: calls.append(out))
        unit.conv3.register_forward_pre_hook(
            lambda mod, args, calls=calls: calls.append(('conv3', args[0]))
        )
    m(torch.randn(2, 3, 32, 32))
    for name, calls in seen.items():
        assert len(calls) == 2, name  # one dropout, then the last (1x1) conv
        dropped, (tag, conv_in) = calls
        assert tag == 'conv3' and conv_in is dropped
        assert (dropped == 0).any()  # it dropped something


def test_forward_stops_at_the_last_requested_block():
    m = WiderResNet(depth=16, out_indices=(1, 2), **SMALL).eval()
    ran = []
    for name in m.block_names:
        getattr(m, name).register_forward_hook(lambda mod, a, o, name=name: ran.append(name))
    m(torch.randn(1, 3, 16, 16))
    assert ran == ['stem', 'block2', 'block3']


def test_a_unit_with_the_defaults_is_the_plain_identity_unit():
    """PreActUnit's defaults: stride 1, dilation 1, the identity shortcut, no checkpoint,
    the plain path; checked against the unit written out with torch's functions."""
    F = torch.nn.functional
    unit = PreActUnit(4, (4, 4)).eval()
    x = torch.randn(1, 4, 7, 7)
    y = F.relu(unit.norm1(x))
    y = F.conv2d(y, unit.conv1.weight, padding=1)
    y = F.conv2d(F.relu(unit.norm2(y)), unit.conv2.weight, padding=1)
    torch.testing.assert_close(unit(x), x + y)
    assert unit.shortcut is None and not unit.with_cp and not unit.memory_efficient


@pytest.mark.parametrize('frozen_stages,norm_out_frozen', [(5, False), (6, True)])
def test_freezing_every_block_freezes_the_final_norm(frozen_stages, norm_out_frozen):
    m = WiderResNet(depth=16, frozen_stages=frozen_stages, **SMALL).train()
    last = getattr(m, m.block_names[frozen_stages])  # block6 / block7
    assert all(not p.requires_grad for p in last.parameters())
    assert all(p.requires_grad != norm_out_frozen for p in m.norm_out.parameters())
    assert m.norm_out.training != norm_out_frozen


def test_no_width_rounds_to_zero():
    """At a tiny widen_factor every width is at least one channel."""
    m = WiderResNet(depth=16, widen_factor=1 / 256)
    assert m.stem.out_channels == 1  # 64 / 256 rounds to 0
    assert m.out_channels[-1] == 16  # 4096 / 256


def test_a_custom_arch_needs_no_known_depth_or_variant():
    """The depth is ignored where arch gives the units, the variant where it gives the
    down-sampling."""
    m = WiderResNet(depth=99, arch=dict(units=(1,) * 6), **SMALL)
    assert len([u for u in m.modules() if isinstance(u, PreActUnit)]) == 6
    m = WiderResNet(variant='z', arch=dict(downsample=('stride',) * 5), depth=16, **SMALL)
    assert not any(isinstance(x, torch.nn.MaxPool2d) for x in m.modules())


BASIC, BOTTLENECK = (8, 8), (8, 16, 32)


@pytest.mark.parametrize(
    'arch,match',
    [
        (dict(stem_channels=0), r"arch\['stem_channels'\] must be a positive int, got 0$"),
        (dict(stem_channels=8.0), r"arch\['stem_channels'\] must be a positive int, got 8\.0$"),
        (dict(widths=[BASIC] * 3 + [(8, 0)] + [BOTTLENECK] * 2), r'positive ints, got .*\(8, 0\)'),
        (dict(widths=[BASIC] * 3 + [(8, 8.0)] + [BOTTLENECK] * 2), r'positive ints, got .*8\.0'),
    ],
)
def test_a_bad_custom_arch_names_the_key_and_what_it_must_be(arch, match):
    with pytest.raises(ValueError, match=match) as e:
        WiderResNet(depth=16, arch=arch)
    if 'widths' in arch:
        assert (
            "arch['widths'] must be 6 tuples (B2..B7) of 2 (basic unit) or 3 (bottleneck unit) "
            'positive ints'
        ) in str(e.value)


def test_a_custom_arch_may_be_one_channel_wide():
    arch = dict(stem_channels=1, widths=[(1, 1)] * 4 + [(1, 1, 1)] * 2)
    m = WiderResNet(depth=16, arch=arch)
    assert m.stem.out_channels == 1 and m.out_channels[-1] == 1


def test_a_first_unit_projects_its_shortcut_only_where_the_shape_changes():
    """Equal widths throughout: only the strided first units need a 1x1 projection (pools
    keep the unit's stride at 1); a second bottleneck unit takes the first one's output."""
    arch = dict(
        stem_channels=8,
        units=(1, 1, 1, 1, 2, 1),
        widths=[(8, 8)] * 4 + [(4, 4, 8), (8, 8, 8)],
        downsample=('pool', 'stride', 'pool', 'stride', 'pool'),
    )
    m = WiderResNet(arch=arch)
    projected = [getattr(m, f'block{b}').unit1.shortcut is not None for b in range(2, 8)]
    assert projected == [False, True, False, True, False, False]
    assert m(torch.randn(1, 3, 64, 64))[0].shape == (1, 8, 2, 2)
