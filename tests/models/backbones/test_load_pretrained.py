"""``load_pretrained``: the strict load behind ``init_cfg=dict(type='Pretrained')``.

It is a call of :func:`wider_mm.engine.checkpoint.load_state` (prefix, ``module.``
stripping and the listing of keys are tested in tests/engine/test_checkpoint.py); here: the
file is read with the given ``map_location``, and the error names the Pretrained options.
"""

import pytest
import torch

import wider_mm.engine.checkpoint as ckpt_mod
from wider_mm.engine.checkpoint import CheckpointError
from wider_mm.models.backbones.wider_resnet import WiderResNet, load_pretrained

SMALL = dict(depth=16, widen_factor=1 / 16)


@pytest.fixture
def src():
    return WiderResNet(**SMALL)


@pytest.fixture
def seen(monkeypatch):
    """The map_location of every checkpoint read."""
    seen = []
    original = ckpt_mod._load_checkpoint

    def spy(filename, map_location=None, **kwargs):
        seen.append(map_location)
        return original(filename, map_location=map_location, **kwargs)

    monkeypatch.setattr(ckpt_mod, '_load_checkpoint', spy)
    return seen


def _assert_loaded(model, src):
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_plain_and_data_parallel_state_dicts_load(tmp_path, src, seen):
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


def test_misfits_are_one_line_errors_naming_the_pretrained_options(tmp_path, src):
    state = src.state_dict()
    state.pop('stem.weight')
    torch.save({'state_dict': state}, tmp_path / 'x.pth')
    with pytest.raises(CheckpointError) as e:
        load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'x.pth'))
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(f'{tmp_path / "x.pth"} does not fit the model')
    assert '(WiderResNet): 1 missing keys [stem.weight]. If it is a released Wider' in msg
    assert 'convert it first with tools/model_converters/wrn2mm.py' in msg
    assert msg.endswith("otherwise check depth, variant, widen_factor and the init_cfg's prefix")
    recorded = dict(type='WiderResNet', depth=16, variant='a', widen_factor=1 / 16)
    torch.save(dict(state_dict=src.state_dict(), meta=dict(backbone=recorded)), tmp_path / 'a.pth')
    with pytest.raises(CheckpointError, match="the init_cfg's ignore_recorded"):
        load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'a.pth'))
    load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'a.pth'), ignore_recorded=['variant'])
    with pytest.raises(CheckpointError, match='none.pth does not exist'):
        load_pretrained(WiderResNet(**SMALL), str(tmp_path / 'none.pth'))


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


def test_pretrained_init_cfg_as_a_list(tmp_path, src, seen):
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
