"""tools/model_converters/wrn2mm.py: the acceptance checks through the command line, and
every way it must refuse (existing DST, truncated or foreign files, left-over keys).

The acceptance checks run at 1/16 width here; set WIDER_MM_FULL_WIDTH=1 to also run them
at the released width (about a minute and 3 GB of memory on a CPU).
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import mxnet_writer as mw
import numpy as np
import pytest
import torch
from common import load_tool
from mmengine.runner import load_checkpoint
from wrn_ports import (
    InPlaceABNRef,
    PortWiderResNet,
    PsaNet,
    max_rel_err,
    port_to_ade,
    psa_to_ade,
    randomize,
    to_ade,
    wrap_torch,
)

from wider_mm.converters import convert_state_dict
from wider_mm.models.backbones.wider_resnet import WiderResNet

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'model_converters' / 'wrn2mm.py'
wrn2mm = load_tool('model_converters/wrn2mm', 'wrn2mm')

LEAKY = dict(type='LeakyReLU', negative_slope=0.01)
#: The acceptance cases: (source, reference port, MAP/NV training checkpoint?, arguments).
ACCEPTANCE = {
    'psa': ('psa', lambda d: PsaNet(div=d), False, dict(depth=38, variant='a1', output_stride=8)),
    'nvidia-a2-s8': (
        'nvidia',
        lambda d: PortWiderResNet(div=d, a2=True, dilation=True),
        True,
        dict(depth=38, variant='a2', output_stride=8, contract_dilation=False, pool_padding=1),
    ),
    'nvidia-a': (
        'nvidia',
        lambda d: PortWiderResNet(div=d),
        True,
        dict(depth=38, variant='a', pool_padding=1),
    ),
    'mapillary-a': (
        'mapillary',
        lambda d: PortWiderResNet(div=d, norm_act=InPlaceABNRef),
        True,
        dict(depth=38, variant='a', pool_padding=1, act_cfg=LEAKY),
    ),
}


def acceptance(case, div, tmp_path, size=64):
    """Random weights in the source format -> CLI (--src given) -> strict load -> compare.

    Returns (max abs difference, max abs difference / output scale).
    """
    src, make, dp, args = ACCEPTANCE[case]
    ref = randomize(make(div), seed=7).eval()
    torch.save(wrap_torch(ref, dp), tmp_path / f'{case}.pth')
    assert (
        wrn2mm.main([str(tmp_path / f'{case}.pth'), str(tmp_path / f'{case}-mm.pth'), '--src', src])
        == 0
    )
    del ref  # (full width: keep memory down) rebuilt below from the same seed
    state = torch.load(tmp_path / f'{case}-mm.pth', weights_only=True)['state_dict']
    state = {
        k.removeprefix('backbone.'): v
        for k, v in state.items()
        if not k.startswith(('head.', 'decode_head.'))
    }
    model = WiderResNet(**args, out_indices=(6,), widen_factor=1 / div).eval()
    model.load_state_dict(state, strict=True)
    ref = randomize(make(div), seed=7).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = ref(x) if src == 'psa' else ref.features(x)
        got = model(x)[0]
    assert got.shape == want.shape and want.abs().max() > 1e-2
    return max_rel_err(got, want)


@pytest.mark.parametrize('case', list(ACCEPTANCE))
def test_acceptance_small_width(case, tmp_path, capsys):
    assert acceptance(case, 16, tmp_path)[1] < 1e-4
    out = capsys.readouterr().out
    assert "type='WiderResNet'" in out and 'config snippet' in out


@pytest.mark.skipif(
    os.environ.get('WIDER_MM_FULL_WIDTH') != '1',
    reason='full-width acceptance (~1 min, 3 GB): set WIDER_MM_FULL_WIDTH=1',
)
@pytest.mark.parametrize('case', list(ACCEPTANCE))
def test_acceptance_full_width(case, tmp_path):
    abs_err, rel_err = acceptance(case, 1, tmp_path)
    print(f'{case}: max abs diff {abs_err:.3g}, relative to output scale {rel_err:.3g}')
    assert rel_err < 1e-4


def _broadcast(state: dict) -> dict:
    """Meta tensors as real ones of their shapes, each one number broadcast (stride 0): a
    full-width checkpoint of a few kB."""
    if 'state_dict' in state:
        return dict(state, state_dict=_broadcast(state['state_dict']))
    return {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in state.items()}


def _shapes(state: dict) -> dict:
    return {k: tuple(v.shape) for k, v in state.items()}


def _converted_shapes(src: str, state: dict, name: str, tmp_path) -> dict:
    """{key: shape} of the conversion: torch files through the CLI, MXNet ones (which
    would be written in full) through the same engine, named as released."""
    if src == 'mxnet':
        return _shapes(convert_state_dict(state, 'mxnet', name_hint=name).state_dict)
    torch.save(state, tmp_path / name)
    assert wrn2mm.main([str(tmp_path / name), str(tmp_path / 'mm.pth'), '--src', src]) == 0
    return _shapes(torch.load(tmp_path / 'mm.pth', weights_only=True)['state_dict'])


def _ade_voc_a1() -> dict:
    """PSA's A1 weights with ADE's VOC head (conv6a 4096 -> 512, linear21) in ADE names."""
    params = psa_to_ade(PsaNet().state_dict())
    params['arg:conv6a_weight'] = torch.empty(512, 4096, 3, 3)
    params['arg:conv6a_bias'] = torch.empty(512)
    params['arg:linear21_weight'] = torch.empty(21, 512, 3, 3)
    params['arg:linear21_bias'] = torch.empty(21)
    return params


_CLS1000 = dict(
    type='ImageClassifier',
    backbone=dict(type='WiderResNet', depth=38, variant='a'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=4096),
)
#: Full-width cases with a head: (source, checkpoint, file name, scope, model config).
FULL_WIDTH_HEADS = {
    'nvidia-a-cls1000': (
        'nvidia',
        lambda: wrap_torch(PortWiderResNet(classes=1000), True),
        'nv.pth',
        'mmpretrain',
        _CLS1000,
    ),
    'mapillary-a-cls1000': (
        'mapillary',
        lambda: wrap_torch(PortWiderResNet(classes=1000, norm_act=InPlaceABNRef), True),
        'map.pth',
        'mmpretrain',
        _CLS1000,
    ),
    'mxnet-a-cls1000': (
        'mxnet',
        lambda: port_to_ade(PortWiderResNet(classes=1000, pool_padding=0).state_dict()),
        'ilsvrc-cls_rna-a_cls1000_ep-0001.params',
        'mmpretrain',
        _CLS1000,
    ),
    'mxnet-a1-voc21': (
        'mxnet',
        _ade_voc_a1,
        'voc_rna-a1_cls21_s8_ep-0001.params',
        'mmseg',
        dict(
            type='EncoderDecoder',
            backbone=dict(type='WiderResNet', depth=38, variant='a1', output_stride=8),
            decode_head=dict(
                type='WiderHead', in_channels=4096, channels=512, num_classes=21, norm_cfg=None
            ),
        ),
    ),
}


@pytest.mark.parametrize('case', list(ACCEPTANCE))
def test_full_width_keys_and_shapes(case, tmp_path):
    """Always on (the full-width acceptance above is opt-in): the converted full-width
    checkpoint has exactly the keys and shapes of the full-width WiderResNet (on the meta
    device: no memory)."""
    src, make, dp, args = ACCEPTANCE[case]
    with torch.device('meta'):
        state = wrap_torch(make(1), dp)
        want = _shapes(WiderResNet(**args).state_dict())
    got = _converted_shapes(src, _broadcast(state), f'{case}.pth', tmp_path)
    assert got == want and want['block7.unit1.conv3.weight'] == (4096, 2048, 1, 1)


@pytest.mark.parametrize('case', list(FULL_WIDTH_HEADS))
def test_full_width_keys_and_shapes_with_heads(case, tmp_path):
    """The same with the classifier or the segmentation head, against the mmpretrain /
    mmseg model built from an explicit config."""
    from mmengine.registry import MODELS

    src, make, name, scope, cfg = FULL_WIDTH_HEADS[case]
    with torch.device('meta'):
        state = make()
        want = _shapes(MODELS.build(dict(cfg, _scope_=scope)).state_dict())
    assert _converted_shapes(src, _broadcast(state), name, tmp_path) == want


def test_auto_detection_says_what_it_found(tmp_path, capsys):
    ref = randomize(PortWiderResNet(div=16, classes=5), 1)
    torch.save(wrap_torch(ref, True), tmp_path / 'nv.pth')
    assert wrn2mm.main([str(tmp_path / 'nv.pth'), str(tmp_path / 'out.pth')]) == 0
    out = capsys.readouterr().out
    assert 'detected nvidia: NVIDIA/semantic-segmentation' in out
    assert "prefixes ['module.']" in out
    assert 'task: classification (5 classes)' in out
    assert "type='ImageClassifier'" in out and "variant='a2'" in out
    ckpt = torch.load(tmp_path / 'out.pth', weights_only=True)  # plain types only
    assert ckpt['meta']['source']['format'] == 'nvidia'
    assert ckpt['meta']['backbone']['contract_dilation'] is False
    assert len(ckpt['meta']['source']['sha256']) == 64


def test_mmengine_loads_the_output(tmp_path):
    ref = randomize(PsaNet(div=16))
    torch.save(ref.state_dict(), tmp_path / 'psa.pth')
    assert wrn2mm.main([str(tmp_path / 'psa.pth'), str(tmp_path / 'mm.pth')]) == 0
    model = WiderResNet(variant='a1', output_stride=8, widen_factor=1 / 16)
    ckpt = load_checkpoint(model, str(tmp_path / 'mm.pth'), strict=True)
    assert ckpt['meta']['backbone']['output_stride'] == 8
    # and through the backbone's own strict Pretrained init
    model = WiderResNet(
        variant='a1',
        output_stride=8,
        widen_factor=1 / 16,
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'mm.pth')),
    )
    model.init_weights()
    torch.testing.assert_close(model.stem.weight, ref.conv1a.weight)


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    torch.save(randomize(PsaNet(div=16)).state_dict(), tmp_path / 'psa.pth')
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'precious')
    assert wrn2mm.main([str(tmp_path / 'psa.pth'), str(dst)]) == 2
    assert 'already exists; pass --force' in capsys.readouterr().err
    assert dst.read_bytes() == b'precious'
    assert wrn2mm.main([str(tmp_path / 'psa.pth'), str(dst), '--force']) == 0
    assert 'stem.weight' in torch.load(dst, weights_only=True)['state_dict']


def test_left_over_keys_fail_listing_them(tmp_path, capsys):
    sd = randomize(PsaNet(div=16)).state_dict()
    sd['f9.weight'] = torch.zeros(28, 56, 1, 1)  # PSA's AffinityNet: no model here
    torch.save(sd, tmp_path / 'psa_aff.pth')
    dst = tmp_path / 'out.pth'
    assert wrn2mm.main([str(tmp_path / 'psa_aff.pth'), str(dst), '--src', 'psa']) == 2
    err = capsys.readouterr().err
    assert 'left over' in err and 'f9.weight' in err and not dst.exists()
    assert (
        wrn2mm.main([str(tmp_path / 'psa_aff.pth'), str(dst), '--src', 'psa', '--drop', r'^f9\.'])
        == 0
    )
    assert '1 dropped on request' in capsys.readouterr().out


def test_missing_keys_fail_listing_them(tmp_path, capsys):
    sd = randomize(PortWiderResNet(div=16)).state_dict()
    del sd['mod7.block1.convs.conv3.weight']
    torch.save({'state_dict': sd}, tmp_path / 'nv.pth')
    assert wrn2mm.main([str(tmp_path / 'nv.pth'), str(tmp_path / 'o.pth'), '--src', 'nvidia']) == 2
    assert 'block7.unit1.conv3.weight' in capsys.readouterr().err


@pytest.mark.parametrize('kind', ['torch', 'mxnet'])
def test_truncated_files_fail_clearly(tmp_path, capsys, kind):
    if kind == 'torch':
        torch.save(randomize(PsaNet(div=16)).state_dict(), tmp_path / 'full')
    else:
        mw.save(
            tmp_path / 'full',
            {
                k: v.numpy()
                for k, v in to_ade(WiderResNet(widen_factor=1 / 16).state_dict()).items()
            },
            'V2',
        )
    raw = (tmp_path / 'full').read_bytes()
    (tmp_path / 'cut').write_bytes(raw[: len(raw) // 2])
    assert wrn2mm.main([str(tmp_path / 'cut'), str(tmp_path / 'o.pth')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('wrn2mm: error: ') and 'Traceback' not in err
    assert ('truncated file' if kind == 'mxnet' else 'is the file complete') in err
    assert not (tmp_path / 'o.pth').exists()


@pytest.mark.parametrize(
    'content,match',
    [
        (b'\x89PNG\r\n\x1a\n' + bytes(64), 'unrecognised file'),
        (b'', 'the file is empty'),
    ],
)
def test_foreign_files_fail_clearly(tmp_path, capsys, content, match):
    (tmp_path / 'x.pth').write_bytes(content)
    assert wrn2mm.main([str(tmp_path / 'x.pth'), str(tmp_path / 'o.pth')]) == 2
    assert match in capsys.readouterr().err


def test_foreign_checkpoints_fail_clearly(tmp_path, capsys):
    torch.save({'conv1.weight': torch.zeros(1), 'fc.bias': torch.zeros(1)}, tmp_path / 'r.pth')
    assert wrn2mm.main([str(tmp_path / 'r.pth'), str(tmp_path / 'o.pth')]) == 2
    assert 'unrecognised checkpoint' in capsys.readouterr().err
    torch.save({'epoch': 3, 'lr': 0.1}, tmp_path / 's.pth')
    assert wrn2mm.main([str(tmp_path / 's.pth'), str(tmp_path / 'o.pth')]) == 2
    assert 'no state dict found' in capsys.readouterr().err
    mw.save(tmp_path / 'm.params', {'arg:w': np.ones(2, np.float32)}, 'V2')
    assert wrn2mm.main([str(tmp_path / 'm.params'), str(tmp_path / 'o.pth'), '--src', 'psa']) == 2
    assert 'cannot be --src psa' in capsys.readouterr().err


def test_sparse_arrays_in_a_checkpoint_are_densified(tmp_path):
    params = {
        k: v.numpy() for k, v in to_ade(WiderResNet(widen_factor=1 / 16).state_dict()).items()
    }
    w = params['arg:res2a_branch1_weight'].copy()
    w[::2] = 0  # half the rows are zero: stored only in the dense array
    rows = np.flatnonzero(np.abs(w).reshape(len(w), -1).max(1) > 0)
    params['arg:res2a_branch1_weight'] = mw.Sparse(
        'row_sparse', w.shape, w[rows], rows.astype(np.int64)
    )
    mw.save(tmp_path / 'sparse.params', params, 'V3')
    assert wrn2mm.main([str(tmp_path / 'sparse.params'), str(tmp_path / 'o.pth')]) == 0
    got = torch.load(tmp_path / 'o.pth', weights_only=True)['state_dict']
    np.testing.assert_array_equal(got['block2.unit1.shortcut.weight'].numpy(), w)


def test_command_line_entry_point(tmp_path):
    torch.save(randomize(PsaNet(div=16)).state_dict(), tmp_path / 'psa.pth')
    res = subprocess.run(
        [
            sys.executable,
            str(TOOL),
            str(tmp_path / 'psa.pth'),
            str(tmp_path / 'o.pth'),
            '--src',
            'psa',
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    ns = {}  # the printed snippet is a config fragment with the PSA arguments
    exec(res.stdout.split('# config snippet (the arguments these weights need):')[1], ns)
    backbone = ns['model']['backbone']
    assert (backbone['variant'], backbone['output_stride'], backbone['depth']) == ('a1', 8, 38)


def test_pickled_extras_numpy_is_safe_others_need_allow_pickle(tmp_path, capsys):
    import argparse

    sd = randomize(PortWiderResNet(div=16)).state_dict()
    torch.save(
        {'state_dict': sd, 'best_prec1': np.float64(79.7), 'hist': np.arange(3)},
        tmp_path / 'np.pth',
    )
    assert wrn2mm.main([str(tmp_path / 'np.pth'), str(tmp_path / 'a.pth')]) == 0
    torch.save({'state_dict': sd, 'args': argparse.Namespace(lr=0.1)}, tmp_path / 'ns.pth')
    assert wrn2mm.main([str(tmp_path / 'ns.pth'), str(tmp_path / 'b.pth')]) == 2
    err = capsys.readouterr().err
    assert "['argparse.Namespace']" in err and '--allow-pickle' in err
    assert wrn2mm.main([str(tmp_path / 'ns.pth'), str(tmp_path / 'b.pth'), '--allow-pickle']) == 0


# ------------------------------------------------------------------ every bad input: exit 2
def cli(argv, capsys):
    """Run wrn2mm in-process; a failure must be exit 2 and one line on stderr."""
    rc = wrn2mm.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    if rc != 0:
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith('wrn2mm'), err
        assert 'Traceback' not in err
    return rc, out, err


@pytest.fixture
def psa_pth(tmp_path):
    path = tmp_path / 'psa.pth'
    torch.save(PsaNet(div=16).state_dict(), path)
    return path


def _mxnet_wrn(path):
    mw.save(
        path,
        {k: v.numpy() for k, v in to_ade(WiderResNet(widen_factor=1 / 16).state_dict()).items()},
        'V2',
    )
    return path


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_directory_or_special_file_as_src(tmp_path, capsys):
    rc, _, err = cli([tmp_path, tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'is a directory' in err and 'no such file' not in err
    os.mkfifo(tmp_path / 'fifo')
    rc, _, err = cli([tmp_path / 'fifo', tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'not a regular file' in err
    rc, _, err = cli([tmp_path / 'nope.pth', tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'no such file' in err


def test_unreadable_src(psa_pth, tmp_path, capsys, monkeypatch):
    from wider_mm.converters import files

    def refuse(path, *args, **kwargs):  # as chmod 000 does (except for root)
        raise PermissionError(13, 'Permission denied', str(path))

    monkeypatch.setattr(files, 'open', refuse, raising=False)
    rc, _, err = cli([psa_pth, tmp_path / 'o.pth'], capsys)
    assert rc == 2 and f'cannot read {psa_pth}: Permission denied' in err


def test_unwritable_dst(psa_pth, tmp_path, capsys, monkeypatch):
    from wider_mm.converters import files

    (tmp_path / 'plain').write_bytes(b'')
    rc, _, err = cli([psa_pth, tmp_path / 'plain' / 'o.pth'], capsys)
    assert rc == 2 and 'plain is not a directory' in err
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    real_access = os.access  # root ignores the mode bits: answer as for another user
    monkeypatch.setattr(files.os, 'access', lambda p, m: real_access(p, m) and p != str(locked))
    rc, _, err = cli([psa_pth, locked / 'o.pth'], capsys)
    assert rc == 2 and 'locked is not writable' in err
    monkeypatch.undo()

    def refuse(*args, **kwargs):  # the folder turned read-only while converting
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr(files.tempfile, 'mkstemp', refuse)
    rc, _, err = cli([psa_pth, tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'cannot write' in err and 'Permission denied' in err


def test_dst_naming_a_folder(psa_pth, tmp_path, capsys):
    rc, _, err = cli([psa_pth, f'{tmp_path / "new"}/'], capsys)
    assert rc == 2 and "ends in '/'" in err and not (tmp_path / 'new').exists()
    rc, _, err = cli([psa_pth, tmp_path], capsys)
    assert rc == 2 and 'is a directory; give a file name' in err


def test_missing_dst_folder_is_created(psa_pth, tmp_path, capsys):
    rc, _, _ = cli([psa_pth, tmp_path / 'a' / 'b' / 'o.pth'], capsys)
    assert rc == 0 and (tmp_path / 'a' / 'b' / 'o.pth').is_file()
    assert _files(tmp_path / 'a' / 'b') == ['o.pth']  # no temporary left
    assert oct((tmp_path / 'a' / 'b' / 'o.pth').stat().st_mode & 0o777) != oct(0o600)


def test_invalid_drop_regex_and_usage_errors(psa_pth, tmp_path, capsys):
    rc, _, err = cli([psa_pth, tmp_path / 'o.pth', '--drop', '(fc8'], capsys)
    assert rc == 2 and "invalid regular expression '(fc8'" in err
    rc, _, err = cli([psa_pth], capsys)
    assert rc == 2 and 'required' in err


def test_full_disk_leaves_the_old_dst(psa_pth, tmp_path, capsys, monkeypatch):
    import errno

    from wider_mm.converters import files

    def full_disk(obj, f):
        f.write(b'x' * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    dst = tmp_path / 'o.pth'
    dst.write_bytes(b'old')
    monkeypatch.setattr(files, '_write', full_disk)
    rc, _, err = cli([psa_pth, dst, '--force'], capsys)
    assert rc == 2 and f'cannot write {dst}: No space left on device' in err
    assert dst.read_bytes() == b'old' and _files(tmp_path) == ['o.pth', 'psa.pth']


def test_write_limit_in_a_real_process(psa_pth, tmp_path):
    """A real write failure (the file-size limit, as a full disk) in a real process."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    dst = tmp_path / 'out' / 'o.pth'
    res = subprocess.run(
        [sys.executable, str(TOOL), str(psa_pth), str(dst)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        preexec_fn=limit,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert 'File too large' in res.stderr and 'Traceback' not in res.stderr
    assert _files(dst.parent) == []  # nothing partial


def test_special_file_dst_is_never_replaced(psa_pth, tmp_path, capsys):
    os.mkfifo(tmp_path / 'fifo')
    rc, _, err = cli([psa_pth, tmp_path / 'fifo', '--force'], capsys)
    assert rc == 2 and 'not a regular file' in err
    assert stat.S_ISFIFO((tmp_path / 'fifo').stat().st_mode)


def test_corrupt_torch_files(psa_pth, tmp_path, capsys):
    raw = bytearray(psa_pth.read_bytes())
    at = raw.index(b'data.pkl') + len(b'data.pkl')  # the pickle follows its zip header
    raw[at + 40 : at + 60] = b'\xff' * 20
    (tmp_path / 'bad_pickle.pth').write_bytes(bytes(raw))
    (tmp_path / 'old_style.pth').write_bytes(b'\x80\x02' + bytes(range(256)))
    for name in ('bad_pickle.pth', 'old_style.pth'):
        rc, _, err = cli([tmp_path / name, tmp_path / 'o.pth'], capsys)
        assert rc == 2 and 'not a readable PyTorch checkpoint' in err
    assert not (tmp_path / 'o.pth').exists()


def test_wrong_tensor_shape_is_refused_before_writing(tmp_path, capsys):
    sd = PsaNet(div=16).state_dict()
    sd['b4_1.conv_branch2a.weight'] = torch.zeros(32, 32, 1, 1)  # a 3x3 conv in the model
    torch.save(sd, tmp_path / 'psa.pth')
    rc, _, err = cli([tmp_path / 'psa.pth', tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'block4.unit2.conv1.weight (from b4_1.conv_branch2a.weight)' in err
    assert '(32, 32, 1, 1)' in err and 'needs (32, 32, 3, 3)' in err
    assert not (tmp_path / 'o.pth').exists()


def test_guessed_variant_is_said(tmp_path, capsys):
    renamed = _mxnet_wrn(tmp_path / 'model.params')
    rc, _, err = cli([renamed, tmp_path / 'a.pth'], capsys)
    assert rc == 0 and "guessed variant 'a1'" in err and 'pass --variant' in err
    named = _mxnet_wrn(tmp_path / 'ilsvrc-cls_rna-a_cls1000_ep-0042.params')  # not a release
    rc, _, err = cli([named, tmp_path / 'b.pth'], capsys)
    assert rc == 0 and "guessed variant 'a' from the file name" in err
    rc, out, err = cli([renamed, tmp_path / 'c.pth', '--variant', 'a'], capsys)
    assert rc == 0 and 'guessed' not in err and "variant='a'" in out
    rc, _, err = cli([tmp_path / 'c.pth', tmp_path / 'd.pth'], capsys)  # already converted
    assert rc == 2 and 'already in wider_mm naming' in err


def test_dst_that_is_src_is_refused_even_with_force(psa_pth, capsys):
    before = psa_pth.read_bytes()
    rc, _, err = cli([psa_pth, psa_pth, '--force'], capsys)
    assert rc == 2 and 'is SRC' in err and psa_pth.read_bytes() == before


@pytest.mark.parametrize('bad', ['nan', 'sparse'])
def test_non_finite_or_sparse_tensors_are_refused(tmp_path, capsys, bad):
    sd = PsaNet(div=16).state_dict()
    if bad == 'nan':
        sd['b3.bn_branch2a.running_var'][2] = float('nan')
    else:
        sd['b3.bn_branch2a.running_var'] = sd['b3.bn_branch2a.running_var'].to_sparse()
    torch.save(sd, tmp_path / 'psa.pth')
    rc, _, err = cli([tmp_path / 'psa.pth', tmp_path / 'o.pth'], capsys)
    assert rc == 2 and 'b3.bn_branch2a.running_var' in err
    assert ('1 of its 8 values are NaN' if bad == 'nan' else 'sparse_coo tensor') in err


def test_torch_warnings_do_not_reach_the_user(psa_pth, tmp_path, capsys, monkeypatch):
    import warnings

    real_load = torch.load

    def noisy_load(*args, **kwargs):  # as torch does for some old or odd checkpoints
        warnings.warn('TypedStorage is deprecated', UserWarning, stacklevel=2)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', noisy_load)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        rc, _, err = cli([psa_pth, tmp_path / 'o.pth'], capsys)
    assert rc == 0 and not [w for w in seen if 'TypedStorage' in str(w.message)]
