"""``load_pretrained``: the strict load behind ``init_cfg=dict(type='Pretrained')``."""

import mmengine.runner.checkpoint as mm_checkpoint
import pytest
import torch

from wider_mm.models.backbones.wider_resnet import WiderResNet, load_pretrained

SMALL = dict(depth=16, widen_factor=1 / 16)


@pytest.fixture
def src():
    return WiderResNet(**SMALL)


def _assert_loaded(model, src):
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_plain_and_data_parallel_state_dicts_load(tmp_path, src, monkeypatch):
    seen = []
    original = mm_checkpoint._load_checkpoint

    def spy(filename, map_location=None, **kwargs):
        seen.append(map_location)
        return original(filename, map_location=map_location, **kwargs)

    monkeypatch.setattr(mm_checkpoint, '_load_checkpoint', spy)
    torch.save(src.state_dict(), tmp_path / 'plain.pth')  # no 'state_dict' wrapper
    model = WiderResNet(**SMALL)
    load_pretrained(model, str(tmp_path / 'plain.pth'))
    _assert_loaded(model, src)
    assert seen == ['cpu']  # the default map_location
    state = {f'module.{k}': v for k, v in src.state_dict().items()}
    torch.save({'state_dict': state}, tmp_path / 'dp.pth')
    model = WiderResNet(**SMALL)

    def to_cpu(storage, location):
        return storage

    load_pretrained(model, str(tmp_path / 'dp.pth'), map_location=to_cpu)
    _assert_loaded(model, src)
    assert seen[-1] is to_cpu


def test_unknown_prefix_is_named(tmp_path, src):
    torch.save({'state_dict': src.state_dict()}, tmp_path / 'x.pth')
    with pytest.raises(KeyError, match=r"x.pth: no key starts with prefix 'backbone.'"):
        load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'x.pth'), prefix='backbone')


@pytest.mark.parametrize('drop,extra', [(1, 0), (0, 1), (9, 0), (8, 0)])
def test_missing_or_unexpected_keys_alone_fail_and_are_listed(tmp_path, src, drop, extra):
    state = src.state_dict()
    # (BN fills in a missing num_batches_tracked itself: not a missing key)
    names = [k for k in state if not k.endswith('num_batches_tracked')][:drop]
    for k in names:
        state.pop(k)
    for i in range(extra):
        state[f'extra{i}.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'x.pth')
    with pytest.raises(KeyError) as e:
        load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'x.pth'))
    msg = str(e.value)
    assert 'does not match WiderResNet' in msg
    assert f'{drop} missing keys' in msg and f'{extra} unexpected keys' in msg
    assert 'released Wider ResNet checkpoint (MXNet, PSA, MAP, NVIDIA)' in msg
    assert 'convert it first with tools/model_converters/wrn2mm.py; check depth' in msg
    assert e.value.args[0].endswith('check depth/variant/prefix otherwise.')
    listed = str(names[:8])[:-1] + (', ...]' if drop > 8 else ']')
    assert f'missing keys {listed}' in msg


def test_default_init_is_kaiming_fan_out_and_unit_norms():
    model = WiderResNet(**SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(2.0, 3.0)  # nothing left of the constructor's init
    model.init_weights()
    conv = model.block7.unit1.conv2  # 3x3, 64 -> 128 channels at 1/16 width
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.mean().abs() < 0.01
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(n.weight, torch.ones_like(n.weight)) for n in norms)
    assert all(torch.equal(n.bias, torch.zeros_like(n.bias)) for n in norms)


def test_pretrained_init_cfg_as_a_list(tmp_path, src, monkeypatch):
    seen = []
    original = mm_checkpoint._load_checkpoint

    def spy(filename, map_location=None, **kwargs):
        seen.append(map_location)
        return original(filename, map_location=map_location, **kwargs)

    monkeypatch.setattr(mm_checkpoint, '_load_checkpoint', spy)
    torch.save({'state_dict': src.state_dict()}, tmp_path / 'x.pth')
    init_cfg = [
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Pretrained', checkpoint=str(tmp_path / 'x.pth')),
    ]
    model = WiderResNet(init_cfg=init_cfg, **SMALL)
    model.init_weights()
    _assert_loaded(model, src)
    assert seen == ['cpu'] and model.is_init  # (a parent's init_weights leaves it alone)

    def to_cpu(storage, location):
        return storage

    init_cfg[-1]['map_location'] = to_cpu
    WiderResNet(init_cfg=init_cfg, **SMALL).init_weights()
    assert seen[-1] is to_cpu
