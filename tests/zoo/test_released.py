"""The registry of released files: recognition by MD5 and by name, and wrn2mm.py using it.

The tests register fixture files (tiny MXNet files in the authors' layout, written by the
converter tests' writer) and undo the registration afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from wider_mm.models.backbones.wider_resnet import WiderResNet
from wider_mm.zoo import RELEASED, ReleasedFile, ReleasedRegistry, md5sum
from wider_mm.zoo.convert import convert_release

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests' / 'converters'))
import mxnet_writer as mw  # noqa: E402
from common import load_tool  # noqa: E402
from wrn_ports import InPlaceABNRef, PortWiderResNet, max_rel_err, randomize, to_ade  # noqa: E402

wrn2mm = load_tool('model_converters/wrn2mm', 'zoo_wrn2mm')

REFERENCE_MD5 = {  # the authors' models/checksum.md5 (WIDER_RESNET.md sec. 8)
    'ilsvrc-cls_rna-a_cls1000_ep-0001.params': '2421c1945b6797cecd3f89db14ca73f6',
    'ilsvrc-cls_rna-a1_cls1000_ep-0001.params': 'ff21f45d6bf03284100dcbec571edfad',
    'voc_rna-a1_cls21_s8_ep-0001.params': 'a34628a63d5f62dcb98c29c4e281f332',
    'voc_rna-a1_cls21_s8_coco_ep-0001.params': '328c0eca0c45b6345ada2f95edce68d4',
    'cityscapes_rna-a1_cls19_s8_ep-0001.params': '226b3e861a6be7d0dc84e537f4eab154',
    'ade20k_rna-a1_cls150_s8_ep-0001.params': '1faf29850bfa194678f0b8e1cbbffa98',
}


def write_ade_classifier(
    path: Path, width: float = 1 / 16, classes: int = 1000, seed: int = 0
) -> Path:
    """A tiny ImageNet classifier in the authors' MXNet layout (random weights)."""
    state = to_ade(WiderResNet(widen_factor=width).state_dict())
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in state.items()}
    state = {k: (v.abs() + 0.5 if 'moving_var' in k else v) for k, v in state.items()}
    c = int(4096 * width)
    state['arg:linear1000_weight'] = torch.randn(classes, c, generator=g) * 0.05
    state['arg:linear1000_bias'] = torch.zeros(classes)
    mw.save(path, {k: v.numpy() for k, v in state.items()}, 'V2')
    return path


@pytest.fixture
def registered():
    """Register entries for the test and remove them afterwards."""
    names = []

    def add(**entry):
        RELEASED.register(entry)
        names.append(entry['name'])

    yield add
    for n in names:
        RELEASED.remove(n)


def _register_classifier(registered, f: Path, variant: str) -> None:
    """``f`` as the released ImageNet classifier file ``fixture_VARIANT.params``."""
    registered(
        name=f'fixture_{variant}.params',
        md5=md5sum(str(f)),
        origin='fixture',
        format='mxnet',
        task='classification',
        dataset='imagenet',
        backbone=dict(variant=variant, output_stride=32),
        zoo_model=f'wrn38{variant}_8xb32_in1k-test320',
    )


def test_the_registry_holds_the_reference_files():
    for name, md5 in REFERENCE_MD5.items():
        entry = RELEASED.by_name(name)
        assert entry.md5 == md5 and entry.format == 'mxnet'
        assert RELEASED.by_md5(md5.upper()) is entry
    for name, fmt in [
        ('res38_cls.pth', 'psa'),
        ('ilsvrc-cls_rna-a1_cls1000_ep-0001.pth', 'psa'),
        ('wide_resnet38_ipabn_lr_256.pth.tar', 'mapillary'),
        ('wide_resnet38_deeplab_vistas.pth.tar', 'mapillary'),
        ('wider_resnet38.pth.tar', 'nvidia'),
    ]:
        assert RELEASED.by_name(name).format == fmt
    for entry in RELEASED:  # no link claims to work without a date it was seen working
        for link in entry.links:
            assert set(link) <= {'url', 'published_in', 'note', 'last_seen'}


def test_bad_entries_fail_naming_the_field(tmp_path):
    with pytest.raises(ValueError, match="format 'caffe'"):
        ReleasedFile.from_dict(dict(name='x', md5=None, format='caffe', task='backbone'))
    with pytest.raises(ValueError, match='32 hex digits'):
        ReleasedFile.from_dict(dict(name='x', md5='abc', format='psa', task='backbone'))
    with pytest.raises(ValueError, match='unknown fields'):
        ReleasedFile.from_dict(dict(name='x', format='psa', task='backbone', sha='1'))
    reg = ReleasedRegistry()
    reg.register(dict(name='x', md5='0' * 32, format='psa', task='backbone'))
    with pytest.raises(ValueError, match='already registered'):
        reg.register(dict(name='y', md5='0' * 32, format='psa', task='backbone'))


def test_recognised_by_hash_guessed_by_name_flagged_on_another_hash(tmp_path, registered):
    f = write_ade_classifier(tmp_path / 'mirror_copy.params')
    _register_classifier(registered, f, 'a1')
    by_hash = RELEASED.identify(str(f))  # another name, the registered bytes
    assert by_hash.by == 'md5' and by_hash.entry.name == 'fixture_a1.params'
    assert not by_hash.hash_mismatch and 'recognised by its MD5' in by_hash.describe()

    known = tmp_path / 'voc_rna-a1_cls21_s8_ep-0001.params'  # a known name, other bytes
    known.write_bytes(f.read_bytes()[:-8])
    flagged = RELEASED.identify(str(known))
    assert flagged.by == 'name' and flagged.hash_mismatch
    assert 'a34628a63d5f62dcb98c29c4e281f332' in flagged.describe()

    nohash = tmp_path / 'res38_cls.pth'  # PSA published no hash: a guess, said so
    nohash.write_bytes(b'x')
    guess = RELEASED.identify(str(nohash))
    assert guess.by == 'name' and not guess.hash_mismatch and 'guessed' in guess.describe()
    assert RELEASED.identify(str(tmp_path / 'mirror_copy.params'), md5='f' * 32).entry is None


def test_wrn2mm_picks_the_arguments_and_writes_a_ready_checkpoint(tmp_path, registered, capsys):
    # Model A: the variant does not show in the weights and the name tells nothing here;
    # the registry entry says 'a' (and wrn2mm must not fall back to its 'a1' guess)
    f = write_ade_classifier(tmp_path / 'download.bin')
    _register_classifier(registered, f, 'a')
    dst = tmp_path / 'out.pth'
    assert wrn2mm.main([str(f), str(dst)]) == 0
    out = capsys.readouterr().out
    assert 'recognised by its MD5 as fixture_a.params' in out
    assert '--src mxnet --variant a --output-stride 32' in out
    meta = torch.load(dst, map_location='cpu', weights_only=False)['meta']
    assert meta['backbone']['variant'] == 'a' and meta['backbone']['pool_padding'] == 0
    assert meta['zoo_model'] == 'wrn38a_8xb32_in1k-test320'
    assert meta['config'] == 'configs/classification/wrn38a_8xb32_in1k-test320.py'
    assert len(meta['dataset_meta']['classes']) == 1000
    assert meta['released']['identified_by'] == 'md5'

    # a known name with another hash: converted as that release, with a warning
    bad = write_ade_classifier(tmp_path / 'ilsvrc-cls_rna-a_cls1000_ep-0001.params', seed=1)
    conv, ident = convert_release(str(bad), None, warn=lambda s: print('WARN', s))
    assert ident.hash_mismatch and conv.meta['released']['hash_mismatch']
    assert 'WARN WARNING: the name ilsvrc-cls_rna-a_cls1000_ep-0001.params' in (
        capsys.readouterr().out
    )


VISTAS = 'wide_resnet38_deeplab_vistas.pth.tar'


def test_the_vistas_snapshot_is_known_by_name_only():
    entry = RELEASED.by_name(f'/downloads/{VISTAS}')
    assert entry.format == 'mapillary' and entry.task == 'backbone' and entry.md5 is None
    assert dict(entry.backbone) == dict(variant='a2', output_stride=8)
    assert entry.zoo_model is None and entry.dataset is None


def test_wrn2mm_converts_the_trunk_of_the_vistas_snapshot(tmp_path, capsys):
    """MAP's segmentation snapshot layout ({'state_dict': {'body', 'head', 'cls'}}, as its
    scripts/test_vistas.py loads it): the InPlace-ABN A2 trunk at stride 8 becomes a
    backbone checkpoint that reproduces the trunk; the head is dropped, and wrn2mm says so."""
    body = PortWiderResNet(
        div=16, norm_act=InPlaceABNRef, a2=True, dilation=True, bottleneck_stride='conv2'
    )
    body = randomize(body, 5).eval()
    g = torch.Generator().manual_seed(1)
    head = {  # DeepLabV3-like parts; their exact names do not matter, all of them go
        'map_convs.0.weight': torch.randn(16, 256, 1, 1, generator=g),
        'map_bn.weight': torch.rand(64, generator=g),
        'red_conv.weight': torch.randn(16, 64, 1, 1, generator=g),
    }
    cls = {'weight': torch.randn(65, 16, 1, 1, generator=g), 'bias': torch.zeros(65)}
    src = tmp_path / VISTAS
    torch.save({'state_dict': {'body': body.state_dict(), 'head': head, 'cls': cls}}, src)
    dst = tmp_path / 'vistas_trunk.pth'
    assert wrn2mm.main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    assert f'guessed from its name as {VISTAS}' in out
    assert "--src mapillary --variant a2 --output-stride 8 --drop '^head\\.'" in out
    assert f'{VISTAS}: only its trunk is converted' in out
    assert f'{len(head) + len(cls)} dropped on request' in out

    ckpt = torch.load(dst, map_location='cpu', weights_only=False)
    meta = ckpt['meta']
    assert meta['task'] == 'backbone' and meta['released']['identified_by'] == 'name'
    args = {k: v for k, v in meta['backbone'].items() if k != 'type'}
    model = WiderResNet(out_indices=(6,), **args).eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        got, want = model(x)[0], body.features(x)
    assert got.shape == want.shape and want.shape[-1] == 6  # stride 8
    assert max_rel_err(got, want)[1] < 1e-4
