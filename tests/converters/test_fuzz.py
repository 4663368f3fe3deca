"""Seeded fuzz of the MXNet reader and of tools/model_converters/wrn2mm.py.

Byte flips, large 8-byte values (huge claimed sizes) and truncations of the real MXNet
fixtures (tests/data/mxnet_params), of a sparse MXNet file, and of small-width Wider ResNet
checkpoints (MXNet and PyTorch). The reader may raise nothing but ``MXNetFormatError``; the
command line may only exit 0 or 2 (one line on stderr, no traceback); no call may take
more than a few seconds. Mutations favour the structural bytes (headers, names, the
pickle, the zip directory) over tensor data, where any flip is valid.
"""

import io
import random
import struct
import time
from pathlib import Path

import mxnet_writer as mw
import numpy as np
import pytest
import torch
from common import load_tool
from wrn_ports import PsaNet, to_ade

from wider_mm.converters import MXNetFormatError, load_mxnet_params
from wider_mm.models.backbones.wider_resnet import WiderResNet

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'data' / 'mxnet_params'
REAL = ('legacy_ndarray.v0', 'go_test-0001.params', 'linreg_v1-0000.params',
        'mnist_mlp_v2-0000.params', 'mlp_v3.params', 'dict_v3')  # fmt: skip
MAX_SECONDS = 5.0
wrn2mm = load_tool('model_converters/wrn2mm', 'wrn2mm')


def _hot_mxnet(data: bytes):
    """Byte ranges of an MXNet file's structure: list header, record headers, names."""
    hot = [(0, 64), (max(0, len(data) - 1024), len(data))]
    for magic in mw.MAGIC.values():
        at = data.find(struct.pack('<I', magic))
        while at != -1:
            hot.append((at, at + 64))
            at = data.find(struct.pack('<I', magic), at + 4)
    return hot


def _hot_zip(data: bytes):
    """Byte ranges of a PyTorch zip checkpoint's structure: the pickle, the directory."""
    at = data.find(b'data.pkl')
    return [(at, at + 8192), (max(0, len(data) - 32768), len(data))]


def mutations(data: bytes, hot, n: int, seed: int):
    """``n`` seeded (description, mutated bytes): flips, big values, truncations."""
    rng = random.Random(seed)
    for i in range(n):
        kind = ('flip', 'flip', 'big', 'cut')[i % 4]
        if kind == 'cut':
            at = rng.randrange(len(data))
            yield f'truncated at {at}', data[:at]
            continue
        if rng.random() < 0.75:
            lo, hi = rng.choice(hot)
            at = rng.randrange(lo, min(hi, len(data)))
        else:
            at = rng.randrange(len(data))
        out = bytearray(data)
        if kind == 'flip':
            x = rng.randrange(1, 256)
            out[at] ^= x
            desc = f'byte {at} ^= {x:#x}'
        else:  # a huge size, count or dimension (u32 or u64, little-endian)
            value = rng.choice([2**31 - 1, 2**32 - 1, 2**40, 2**62, 2**63 - 1, 2**64 - 1])
            raw = value.to_bytes(8, 'little')[: rng.choice((4, 8))]
            out[at : at + len(raw)] = raw
            desc = f'bytes {at}.. = {value:#x}'
        yield desc, bytes(out[: len(data)])


def _sparse_file() -> bytes:
    rs = mw.Sparse('row_sparse', (50, 3), np.ones((2, 3), np.float32), np.array([1, 40]))
    csr = mw.Sparse(
        'csr', (3, 4), np.arange(3, dtype=np.float64), np.array([0, 1, 1, 3]), np.array([2, 0, 3])
    )
    return mw.dumps({'rs': rs, 'dense': np.ones(4, np.float16), 'csr': csr}, 'V3')


def test_fuzz_mxnet_reader():
    """40 mutations of each real fixture and 60 of a sparse file (300 in all)."""
    targets = {name: (FIXTURES / name).read_bytes() for name in REAL}
    targets['sparse (writer)'] = _sparse_file()
    slowest, outcomes = 0.0, {'read': 0, 'MXNetFormatError': 0}
    for k, (name, data) in enumerate(targets.items()):
        n = 60 if name.startswith('sparse') else 40
        for desc, bad in mutations(data, _hot_mxnet(data), n, seed=k):
            start = time.perf_counter()
            try:
                load_mxnet_params(io.BytesIO(bad))
                outcomes['read'] += 1
            except MXNetFormatError as e:
                assert '\n' not in str(e), (name, desc)
                outcomes['MXNetFormatError'] += 1
            except Exception as e:  # noqa: BLE001 - the failure the fuzz exists to find
                pytest.fail(f'{name}, {desc}: {type(e).__name__}: {e}')
            slowest = max(slowest, time.perf_counter() - start)
    assert sum(outcomes.values()) == 300 and min(outcomes.values()) > 20, outcomes
    assert slowest < MAX_SECONDS, slowest


def _cli(argv, capsys):
    start = time.perf_counter()
    try:
        rc = wrn2mm.main([str(a) for a in argv])
    except BaseException as e:  # noqa: BLE001 - anything escaping main is the failure
        pytest.fail(f'{type(e).__name__} escaped main: {e}')
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert rc in (0, 2) and 'Traceback' not in err, err
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('wrn2mm: error: '), err
    return rc, seconds


@pytest.mark.parametrize('kind', ['mxnet', 'torch'])
def test_fuzz_wrn2mm(kind, tmp_path, capsys):
    """Mutations of a 1/32-width WRN-38 checkpoint (MXNet: 200, PyTorch: 100) through the
    command line (in-process: its main, as the script runs it)."""
    if kind == 'mxnet':
        src = tmp_path / 'ilsvrc-cls_rna-a1_cls10_ep-0001.params'
        params = {
            k: v.numpy() for k, v in to_ade(WiderResNet(widen_factor=1 / 32).state_dict()).items()
        }
        params['arg:linear10_weight'] = np.ones((10, 128), np.float32)
        params['arg:linear10_bias'] = np.zeros(10, np.float32)
        mw.save(src, params, 'V2')
        hot, n = _hot_mxnet(src.read_bytes()), 200
    else:
        src = tmp_path / 'res38d.pth'
        torch.save(PsaNet(div=32).state_dict(), src)
        hot, n = _hot_zip(src.read_bytes()), 100
    data = src.read_bytes()
    dst, bad_src = tmp_path / 'out' / 'o.pth', tmp_path / src.name.replace('.', '-bad.', 1)
    assert _cli([src, dst], capsys)[0] == 0  # the intact file converts
    counts, slowest = {0: 0, 2: 0}, 0.0
    for _, bad in mutations(data, hot, n, seed=100 + len(kind)):
        bad_src.write_bytes(bad)
        rc, seconds = _cli([bad_src, dst, '--force'], capsys)
        counts[rc] += 1
        slowest = max(slowest, seconds)
    assert counts[2] > n // 4 and counts[0] > 0, counts  # both outcomes exercised
    assert slowest < MAX_SECONDS, slowest
    assert sorted(p.name for p in dst.parent.iterdir()) == ['o.pth']  # no temporary left
