"""Tests of the MXNet .params reader: real files of every header version, synthetic files of
every version/dtype/context (tests/converters/mxnet_writer.py), and each failure mode."""

import io
import os
import struct
from pathlib import Path

import mxnet_writer as mw
import numpy as np
import pytest

from wider_mm.converters import MXNetFormatError, load_mxnet_params, read_mxnet_params
from wider_mm.converters.mxnet_params import DTYPE_NAMES, is_mxnet_params

# Byte-exact copies of public MXNet files (provenance: tests/data/mxnet_params/README.md).
FIXTURES = Path(__file__).resolve().parents[1] / 'data' / 'mxnet_params'
assert FIXTURES.is_dir(), f'fixture folder missing: {FIXTURES}'


def needs_fixtures(test):
    """Marks the tests that read the real files (kept in the repo, so never skipped)."""
    return test


VERSIONS = ('legacy', 'V1', 'V2', 'V3')
DTYPES = (
    'float32',
    'float64',
    'float16',
    'uint8',
    'int32',
    'int8',
    'int64',
    'bool',
    'int16',
    'uint16',
    'uint32',
    'uint64',
)


# ------------------------------------------------------------------ real files (fixtures)
@needs_fixtures
def test_legacy_list_is_six_aranges():
    params, versions = read_mxnet_params(FIXTURES / 'legacy_ndarray.v0')
    assert versions == ['legacy'] * 6
    assert list(params) == [str(i) for i in range(6)]  # saved as a list: no names
    for arr in params.values():
        assert arr.dtype == np.float32
        np.testing.assert_array_equal(arr, np.arange(128, dtype=np.float32))


@needs_fixtures
def test_legacy_named_go_test():
    params, versions = read_mxnet_params(FIXTURES / 'go_test-0001.params')
    assert versions == ['legacy'] * 2
    assert sorted(params) == ['arg:pred_bias', 'arg:pred_weight']
    assert params['arg:pred_weight'].shape == (10, 1)
    assert params['arg:pred_bias'].shape == (10,)
    assert params['arg:pred_weight'].dtype == np.float32
    assert np.abs(params['arg:pred_weight']).max() > 0  # real weights, not zeros


@needs_fixtures
def test_v1_linear_regression():
    params, versions = read_mxnet_params(FIXTURES / 'linreg_v1-0000.params')
    assert versions == ['V1', 'V1']
    assert list(params) == ['arg:fc1_weight', 'arg:fc1_bias']
    np.testing.assert_allclose(params['arg:fc1_weight'], [[1.0, 2.0]], atol=1e-5)
    assert params['arg:fc1_bias'].shape == (1,)
    assert abs(float(params['arg:fc1_bias'][0]) - 2.5e-6) < 1e-6


@needs_fixtures
def test_v2_mnist_mlp():
    params, versions = read_mxnet_params(FIXTURES / 'mnist_mlp_v2-0000.params')
    assert versions == ['V2'] * 6
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {
        'arg:fullyconnected0_weight': (128, 784),
        'arg:fullyconnected0_bias': (128,),
        'arg:fullyconnected1_weight': (64, 128),
        'arg:fullyconnected1_bias': (64,),
        'arg:fullyconnected2_weight': (10, 64),
        'arg:fullyconnected2_bias': (10,),
    }
    assert all(np.isfinite(v).all() and v.dtype == np.float32 for v in params.values())


@needs_fixtures
def test_v3_gluon_mlp_and_dict():
    params, versions = read_mxnet_params(FIXTURES / 'mlp_v3.params')
    assert versions == ['V3'] * 4
    assert params['hidden.weight'].shape == (256, 20)
    assert list(params) == ['hidden.weight', 'hidden.bias', 'output.weight', 'output.bias']
    d = load_mxnet_params(FIXTURES / 'dict_v3')
    assert list(d) == ['x', 'y']
    np.testing.assert_array_equal(d['x'], [0, 1, 2, 3])
    np.testing.assert_array_equal(d['y'], np.zeros(4))


@needs_fixtures
@pytest.mark.parametrize(
    'name',
    [
        'legacy_ndarray.v0',
        'go_test-0001.params',
        'linreg_v1-0000.params',
        'mnist_mlp_v2-0000.params',
        'mlp_v3.params',
        'dict_v3',
    ],
)
def test_real_files_rewrite_byte_exact(name):
    """Our independent writer reproduces each real file from what the reader returned, so
    the reader lost nothing (names, order, shapes, dtypes, values)."""
    raw = (FIXTURES / name).read_bytes()
    params, versions = read_mxnet_params(FIXTURES / name)
    arrays = (
        list(params.values()) if list(params) == [str(i) for i in range(len(params))] else params
    )
    assert mw.dumps(arrays, versions[0]) == raw


@needs_fixtures
def test_reads_file_objects_too():
    raw = (FIXTURES / 'dict_v3').read_bytes()
    d = load_mxnet_params(io.BytesIO(raw))
    np.testing.assert_array_equal(d['x'], [0, 1, 2, 3])


# ------------------------------------------------------------------ synthetic files
@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('as_dict', [True, False])
def test_every_dtype_and_version(tmp_path, version, as_dict):
    rng = np.random.default_rng(0)
    arrays = {}
    for i, dt in enumerate(DTYPES):
        shape = (2, 3, 1 + i % 3)
        if dt == 'bool':
            a = rng.random(shape) > 0.5
        elif dt.startswith(('float',)):
            a = rng.standard_normal(shape).astype(dt)
        else:
            info = np.iinfo(dt)
            a = rng.integers(
                max(info.min, -1000), min(info.max, 1000), shape, dtype=np.int64
            ).astype(dt)
        arrays[f'arg:a{i}_{dt}'] = a
    f = tmp_path / 'all.params'
    mw.save(f, arrays if as_dict else list(arrays.values()), version)
    params, versions = read_mxnet_params(f)
    assert versions == [version] * len(arrays)
    assert list(params) == (list(arrays) if as_dict else [str(i) for i in range(len(arrays))])
    for (_, want), got in zip(arrays.items(), params.values()):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('version', ('V2', 'V3'))
def test_bfloat16_widens_exactly(tmp_path, version):
    vals = np.array([[1.0, -2.5, 3.140625], [1e-3, 65280.0, -0.0]], np.float32)
    mw.save(tmp_path / 'b.params', {'w': mw.BFloat16(vals)}, version)
    got = load_mxnet_params(tmp_path / 'b.params')['w']
    assert got.dtype == np.float32
    want = (vals.view('<u4') & 0xFFFF0000).view('<f4')  # bf16 = truncated float32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('ctx', [(1, 0), (2, 0), (2, 3), (3, 0), (5, 1)])
def test_any_device_context(tmp_path, ctx):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    mw.save(tmp_path / 'c.params', {'arg:w': a}, 'V2', ctx=ctx)
    np.testing.assert_array_equal(load_mxnet_params(tmp_path / 'c.params')['arg:w'], a)


def test_v3_scalar_and_none_arrays(tmp_path):
    scalar = np.array(4.5, np.float32)
    mw.save(tmp_path / 's.params', {'s': scalar, 'none': None, 'z': np.zeros((0, 3))}, 'V3')
    p = load_mxnet_params(tmp_path / 's.params')
    assert p['s'].shape == () and p['s'] == 4.5
    assert p['none'] is None
    assert p['z'].shape == (0, 3) and p['z'].dtype == np.float64


@pytest.mark.parametrize('version', ('legacy', 'V1', 'V2'))
def test_none_array_before_v3(tmp_path, version):
    mw.save(tmp_path / 'n.params', {'a': None, 'b': np.ones(2, np.float32)}, version)
    p = load_mxnet_params(tmp_path / 'n.params')
    assert p['a'] is None
    np.testing.assert_array_equal(p['b'], [1, 1])


@pytest.mark.parametrize('version', ('V2', 'V3'))
def test_sparse_arrays_densify_or_refuse(tmp_path, version):
    dense_rs = np.zeros((5, 3), np.float32)
    dense_rs[[1, 4]] = [[1, 2, 3], [4, 5, 6]]
    rs = mw.Sparse('row_sparse', (5, 3), dense_rs[[1, 4]], np.array([1, 4], np.int64))
    dense_csr = np.array([[0, 7, 0], [0, 0, 0], [8, 0, 9]], np.float64)
    csr = mw.Sparse(
        'csr',
        (3, 3),
        np.array([7, 8, 9], np.float64),
        np.array([0, 1, 1, 3], np.int64),
        np.array([1, 0, 2], np.int64),
    )
    f = tmp_path / 'sparse.params'
    mw.save(f, {'rs': rs, 'dense': np.ones(2, np.float32), 'csr': csr}, version)
    p = load_mxnet_params(f)
    np.testing.assert_array_equal(p['rs'], dense_rs)
    np.testing.assert_array_equal(p['csr'], dense_csr)
    assert p['csr'].dtype == np.float64
    np.testing.assert_array_equal(p['dense'], [1, 1])
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(f, densify_sparse=False)
    assert str(e.value) == (
        f'{f}: array #0 is a sparse (row_sparse) array; pass densify_sparse=True to read it '
        'as a dense array'
    )


# ------------------------------------------------------------------ failure modes
def _v2_file(tmp_path):
    f = tmp_path / 'ok.params'
    mw.save(
        f,
        {'arg:w': np.arange(12, dtype=np.float32).reshape(3, 4), 'aux:m': np.ones(3, np.float16)},
        'V2',
    )
    return f


def test_truncated_anywhere_fails_clearly(tmp_path):
    raw = _v2_file(tmp_path).read_bytes()
    cut = tmp_path / 'cut.params'
    for n in range(16, len(raw)):  # every cut after the header
        cut.write_bytes(raw[:n])
        with pytest.raises(MXNetFormatError, match='truncated file') as e:
            load_mxnet_params(cut)
        assert str(cut) in str(e.value)
    cut.write_bytes(raw[:10])
    with pytest.raises(MXNetFormatError, match='too short'):
        load_mxnet_params(cut)


def test_truncated_stream_without_size(tmp_path):
    raw = _v2_file(tmp_path).read_bytes()

    class Pipe(io.RawIOBase):  # a stream that cannot tell its size
        def __init__(self, data):
            self.buf = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.buf.readinto(b)

        def seekable(self):
            return False

    assert list(load_mxnet_params(io.BufferedReader(Pipe(raw)))) == ['arg:w', 'aux:m']
    with pytest.raises(MXNetFormatError, match='truncated'):
        load_mxnet_params(io.BufferedReader(Pipe(raw[:-20])))


@pytest.mark.parametrize(
    'content,match',
    [
        (b'\x89PNG\r\n\x1a\n' + b'\0' * 40, 'not an MXNet .params file'),
        (b'PK\x03\x04' + b'\0' * 40, 'not an MXNet .params file'),
        (b'', 'too short'),
    ],
)
def test_foreign_files(tmp_path, content, match):
    f = tmp_path / 'foreign.params'
    f.write_bytes(content)
    with pytest.raises(MXNetFormatError, match=match):
        load_mxnet_params(f)


def test_corrupt_records(tmp_path):
    raw = bytearray(_v2_file(tmp_path).read_bytes())
    f = tmp_path / 'bad.params'
    header = struct.pack('<QQ', 0x112, 0)
    cases = {
        'implausible array count': header + struct.pack('<Q', 10**12),
        'neither an NDArray version': header + struct.pack('<QI', 1, 0xDEADBEEF) + b'\0' * 64,
        'unknown storage type': header + struct.pack('<QIi', 1, mw.MAGIC['V2'], 7) + b'\0' * 64,
        'unknown dtype flag': header
        + struct.pack('<QIiIqiii', 1, mw.MAGIC['V2'], 0, 1, 2, 1, 0, 99)
        + b'\0' * 64,
        'unexpected bytes after': bytes(raw) + b'junk',
    }
    for match, data in cases.items():
        f.write_bytes(data)
        with pytest.raises(MXNetFormatError, match=match):
            load_mxnet_params(f)


def test_names_count_mismatch(tmp_path):
    data = mw.dumps([np.ones(1, np.float32), np.ones(1, np.float32)], 'V1')
    data = data[:-8] + struct.pack('<Q', 1) + struct.pack('<Q', 1) + b'a'
    f = tmp_path / 'names.params'
    f.write_bytes(data)
    with pytest.raises(MXNetFormatError, match='2 arrays but 1 names'):
        load_mxnet_params(f)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_mxnet_params(os.path.join('does', 'not', 'exist.params'))


# ------------------------------------------------------------------ hostile sizes
def _claim(version, shape, flag=0):
    """A one-array file whose header claims ``shape`` but holds 8 bytes of data."""
    if version == 'legacy':
        rec = struct.pack(f'<I{len(shape)}I', len(shape), *shape)
    else:
        rec = struct.pack('<I', mw.MAGIC[version]) + (b'\0' * 4 if version != 'V1' else b'')
        rec += struct.pack(f'<I{len(shape)}q', len(shape), *shape)
    rec += struct.pack('<iii', 1, 0, flag) + b'\0' * 8
    return struct.pack('<QQQ', 0x112, 0, 1) + rec + struct.pack('<Q', 0)


@pytest.mark.parametrize('version', VERSIONS)
def test_claimed_sizes_are_checked_before_allocating(version, monkeypatch):
    """A header claiming terabytes fails on the bytes left, before numpy allocates."""
    big = (2**31 - 1, 2**31 - 1, 1024) if version == 'legacy' else (2**40, 2**40, 7)
    sizes = []
    real_empty = np.empty
    monkeypatch.setattr(np, 'empty', lambda s, **k: sizes.append(s) or real_empty(s, **k))
    with pytest.raises(MXNetFormatError, match='truncated file: array #0 data') as e:
        load_mxnet_params(io.BytesIO(_claim(version, big)))
    assert f'needs {4 * np.prod(big, dtype=object)} bytes' in str(e.value)
    assert not sizes  # nothing allocated on the header's word
    # a zero-size array with absurd dimensions: numpy's own limit, reported as ours
    with pytest.raises(MXNetFormatError, match='cannot allocate'):
        load_mxnet_params(io.BytesIO(_claim('V3', (0, 2**62, 2**62))))


def _sparse_file(values_shape, dense_shape, *aux, version='V3'):
    values = np.ones(values_shape, np.float32)
    return mw.dumps({'s': mw.Sparse('row_sparse', dense_shape, values, *aux)}, version)


def test_densified_sparse_arrays_are_bounded(tmp_path):
    # 1.7 MB of row_sparse values claiming a 400 MB dense array (the case)
    rows = np.arange(1000, dtype=np.int64)
    data = _sparse_file((1000, 425), (250_000, 425), rows)
    assert 1.6e6 < len(data) < 1.8e6
    with pytest.raises(MXNetFormatError, match='would take 425000000 bytes') as e:
        load_mxnet_params(io.BytesIO(data))
    assert 'max_dense_bytes' in str(e.value) and '\n' not in str(e.value)
    # allowed when asked for
    dense = load_mxnet_params(io.BytesIO(data), max_dense_bytes=425_000_000)['s']
    assert dense.shape == (250_000, 425) and dense[:1000].all() and not dense[1000:].any()
    # the budget is for the whole file: two arrays that fit alone do not fit together
    one = mw.Sparse('row_sparse', (64, 4), np.ones((1, 4), np.float32), np.array([3]))
    two = mw.dumps({'a': one, 'b': one}, 'V2')
    with pytest.raises(MXNetFormatError, match='array #1'):
        load_mxnet_params(io.BytesIO(two), max_dense_bytes=64 * 4 * 4 + 100)
    load_mxnet_params(io.BytesIO(two), max_dense_bytes=2 * 64 * 4 * 4)


@pytest.mark.parametrize(
    'values_shape,dense_shape,aux,match',
    [
        ((1, 4), (8, 4), np.array([8]), r'row indices outside \[0, 8\)'),
        ((1, 4), (8, 4), np.array([-1]), r'row indices outside'),
        ((1, 4), (8, 4), np.array([0.5]), 'row indices must be 1 integers'),
        ((2, 4), (8, 4), np.array([1]), 'row indices must be 2 integers'),
        ((1, 3), (8, 4), np.array([1]), 'do not fit the dense shape'),
    ],
)
def test_inconsistent_row_sparse_arrays(values_shape, dense_shape, aux, match):
    with pytest.raises(MXNetFormatError, match=match):
        load_mxnet_params(io.BytesIO(_sparse_file(values_shape, dense_shape, aux)))


@pytest.mark.parametrize(
    'indptr,cols,match',
    [
        ([0, 2, 1, 3], [0, 1, 2], 'indptr must rise'),
        ([0, 1, 1, 2], [0, 1, 2], 'indptr must rise'),
        ([0, 1, 2, 3], [0, 1, 3], r'column indices outside \[0, 3\)'),
        ([0, 1, 3], [0, 1, 2], 'indptr must be 4 integers'),
    ],
)
def test_inconsistent_csr_arrays(indptr, cols, match):
    csr = mw.Sparse(
        'csr', (3, 3), np.ones(3, np.float32), np.array(indptr), np.array(cols, np.int64)
    )
    with pytest.raises(MXNetFormatError, match=match):
        load_mxnet_params(io.BytesIO(mw.dumps({'c': csr}, 'V2')))


def test_directory_is_not_a_missing_file(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a directory'):
        load_mxnet_params(tmp_path)


# ------------------------------------------------------------------ whole messages
def _ends(cut):
    return f'but the file ends at {cut} (an interrupted download or copy? fetch it again)'


# One V2 float32 (3, 4) array named 'arg:w': each field, its offset and its size in bytes.
_V2_LAYOUT = [
    ('array count', 16, 8),
    ('array #0 header', 24, 4),
    ('array #0 storage type', 28, 4),
    ('array #0 shape ndim', 32, 4),
    ('array #0 shape dims', 36, 16),
    ('array #0 context', 52, 8),
    ('array #0 dtype', 60, 4),
    ('array #0 data (float32(3, 4))', 64, 48),
    ('name count', 112, 8),
    ('name #0 length', 120, 8),
    ('name #0', 128, 5),
]


@pytest.mark.parametrize('what,offset,size', _V2_LAYOUT)
def test_a_truncated_file_says_which_field_was_cut(tmp_path, what, offset, size):
    f = tmp_path / 'w.params'
    mw.save(f, {'arg:w': np.arange(12, dtype=np.float32).reshape(3, 4)}, 'V2')
    raw = f.read_bytes()
    assert len(raw) == 133  # the layout above
    f.write_bytes(raw[:offset])
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(f)
    assert str(e.value) == (
        f'{f}: truncated file: {what} needs {size} bytes at offset {offset}, {_ends(offset)}'
    )


@pytest.mark.parametrize(
    'version,ndim_word,shown',
    [('V1', struct.pack('<I', 0xFFFFFFFF), 4294967295), ('V3', struct.pack('<i', -2), -2)],
)
def test_an_implausible_ndim_is_shown_as_stored(version, ndim_word, shown):
    """V1/V2 store ndim unsigned, V3 signed (-1 is "no array")."""
    stype = b'' if version == 'V1' else struct.pack('<i', 0)
    data = struct.pack('<QQQI', 0x112, 0, 1, mw.MAGIC[version]) + stype + ndim_word + b'\0' * 64
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == (
        f'<stream>: array #0 shape: implausible number of dimensions {shown}; this is not an '
        'MXNet NDArray file, or it is corrupt'
    )


def _dense_head(version, dims):
    """The start of a dense record of ``version`` (V1-V3) up to its dims, as stored."""
    stype = b'' if version == 'V1' else struct.pack('<i', 0)
    ndim = struct.pack('<i' if version == 'V3' else '<I', len(dims))
    return (
        struct.pack('<I', mw.MAGIC[version]) + stype + ndim + struct.pack(f'<{len(dims)}q', *dims)
    )


@pytest.mark.parametrize(
    'version,dims,error',
    [
        ('V3', (2, -1), None),  # V3: an unknown dimension means "no array"
        ('V3', (2, -2), 'negative dimension in shape (2, -2)'),
        ('V2', (2, -1), 'negative dimension in shape (2, -1)'),
        ('V1', (-1, 2), 'negative dimension in shape (-1, 2)'),
    ],
)
def test_negative_dimensions(version, dims, error):
    record = _dense_head(version, dims)  # "no array" (V3, -1) ends here
    after = mw.array_record(np.ones(2, np.float32), version)
    data = struct.pack('<QQQ', 0x112, 0, 2) + record + after + struct.pack('<Q', 0)
    if error is None:
        p = load_mxnet_params(io.BytesIO(data))
        assert p['0'] is None
        np.testing.assert_array_equal(p['1'], [1, 1])
        return
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == f'<stream>: array #0 shape: {error}; the file is corrupt'


@pytest.mark.parametrize('flag,name,numpy_dtype', [(0, 'float32', '<f4'), (12, 'bfloat16', '<u2')])
def test_an_array_numpy_cannot_allocate(flag, name, numpy_dtype):
    """Zero bytes (so within the file), but too many elements for numpy; bfloat16 is read
    as its 16-bit words first."""
    shape = (0, 2**62)
    with pytest.raises(ValueError) as numpy_says:
        np.empty(shape, numpy_dtype)
    record = _dense_head('V2', shape) + struct.pack('<iii', 1, 0, flag)
    data = struct.pack('<QQQ', 0x112, 0, 1) + record + struct.pack('<Q', 0)
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == (
        f'<stream>: array #0 data ({name}{shape}): cannot allocate an array of shape {shape} '
        f'({numpy_says.value}); the file is corrupt'
    )


# One float32 (3, 4) array named 'arg:w' in the older layouts: field, offset, size. Legacy:
# u32 ndim (the header word) + u32 dims; V1: magic, u32 ndim, i64 dims.
_OLD_LAYOUTS = [
    ('legacy', 'array #0 header', 24, 4),
    ('legacy', 'array #0 dims', 28, 8),
    ('legacy', 'array #0 context', 36, 8),
    ('legacy', 'array #0 data (float32(3, 4))', 48, 48),
    ('V1', 'array #0 shape ndim', 28, 4),
    ('V1', 'array #0 shape dims', 32, 16),
    ('V1', 'array #0 dtype', 56, 4),
    ('V1', 'array #0 data (float32(3, 4))', 60, 48),
]


@pytest.mark.parametrize('version,what,offset,size', _OLD_LAYOUTS)
def test_a_truncated_old_record_says_which_field_was_cut(version, what, offset, size):
    raw = mw.dumps({'arg:w': np.arange(12, dtype=np.float32).reshape(3, 4)}, version)
    assert len(raw) == {'legacy': 117, 'V1': 129}[version]  # data end + 8 + 8 + 5
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(raw[:offset]))
    assert str(e.value) == (
        f'<stream>: truncated file: {what} needs {size} bytes at offset {offset}, '
        f'{_ends(offset)}'
    )


@pytest.mark.parametrize('version', ('V2', 'V3'))
def test_a_sparse_array_with_no_stored_part_reads_as_zeros(version):
    """A row_sparse array whose values and row indices have no shape ("none": ndim 0
    before V3, -1 in V3) stores nothing: it densifies to zeros, and the next record reads."""
    none = struct.pack('<i', -1) if version == 'V3' else struct.pack('<I', 0)
    ndim = struct.pack('<i' if version == 'V3' else '<I', 1)
    record = (
        struct.pack('<Ii', mw.MAGIC[version], 1)  # row_sparse
        + none  # storage shape
        + ndim
        + struct.pack('<q', 4)  # dense shape (4,)
        + struct.pack('<iii', 1, 0, 0)  # context, float32
        + struct.pack('<i', 6)  # aux 0: int64 row indices
        + none  # of no shape
    )
    after = mw.array_record(np.ones(2, np.float32), version)
    data = struct.pack('<QQQ', 0x112, 0, 2) + record + after + struct.pack('<Q', 0)
    p = load_mxnet_params(io.BytesIO(data))
    assert p['0'].dtype == np.float32
    np.testing.assert_array_equal(p['0'], np.zeros(4))
    np.testing.assert_array_equal(p['1'], [1, 1])


def _csr(shape, values, indptr, cols):
    return mw.Sparse(
        'csr', shape, np.asarray(values, np.float32), np.array(indptr), np.array(cols, np.int64)
    )


def test_densified_arrays_keep_the_stored_dtype_and_layout():
    """float32 values densify to float32; a csr need not be square; csr values stored
    as (nnz, 1) are the same nnz values."""
    rs = mw.Sparse('row_sparse', (4, 2), np.ones((1, 2), np.float32), np.array([2]))
    flat = _csr((2, 3), [7, 8], [0, 1, 2], [2, 0])
    column = _csr((2, 3), [[7], [8]], [0, 1, 2], [2, 0])
    p = load_mxnet_params(io.BytesIO(mw.dumps({'rs': rs, 'flat': flat, 'col': column}, 'V2')))
    assert p['rs'].dtype == np.float32 and p['flat'].dtype == np.float32
    np.testing.assert_array_equal(p['rs'], [[0, 0], [0, 0], [1, 1], [0, 0]])
    for name in ('flat', 'col'):
        np.testing.assert_array_equal(p[name], [[0, 0, 7], [8, 0, 0]])


@pytest.mark.parametrize(
    'item,message',
    [
        (
            mw.Sparse('row_sparse', (8, 4), np.ones((1, 4), np.float32), np.array([0.5])),
            'row indices must be 1 integers, got float64 of shape (1,); the file is corrupt',
        ),
        (
            _csr((3, 3), [1, 1, 1], [0, 1, 3], [0, 1, 2]),
            'indptr must be 4 integers, got int64 of shape (3,); the file is corrupt',
        ),
        (
            _csr((3, 3), [1, 1, 1], [0, 1, 2, 4], [0, 1, 2]),
            'indptr outside [0, 4); the file is corrupt',
        ),
        (
            _csr((3, 3), [1, 1, 1], [0, 1, 2, 3], [0, 1, 3]),
            'column indices outside [0, 3); the file is corrupt',
        ),
        (
            _csr((2, 2, 2), [1], [0, 1, 1], [0]),
            'csr array of invalid dense shape (2, 2, 2); the file is corrupt',
        ),
        (
            mw.Sparse('row_sparse', (), np.ones(1, np.float32), np.array([0])),
            'row_sparse array of invalid dense shape (); the file is corrupt',
        ),
    ],
)
def test_inconsistent_sparse_arrays_in_full(item, message):
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(mw.dumps({'s': item}, 'V3')))
    assert str(e.value) == f'<stream>: array #0: {message}'


def _over_budget(index, shape, need, left, size):
    return (
        f'<stream>: array #{index}: a sparse array of dense shape {shape} would take {need} '
        f'bytes, more than the {left} left for densified arrays of this {size}-byte file (the '
        'file is corrupt, or pass max_dense_bytes=N, or densify_sparse=False to refuse sparse '
        'arrays)'
    )


def test_the_densify_budget_message_in_full():
    rs = mw.Sparse('row_sparse', (64, 4), np.ones((1, 4), np.float32), np.array([3]))
    data = mw.dumps({'a': rs, 'b': rs}, 'V2')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data), max_dense_bytes=64 * 4 * 4 + 100)
    assert str(e.value) == _over_budget(1, (64, 4), 1024, 100, len(data))
    data = mw.dumps({'c': _csr((3, 3), [7, 8, 9], [0, 1, 1, 3], [1, 0, 2])}, 'V2')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data), max_dense_bytes=10)
    assert str(e.value) == _over_budget(0, (3, 3), 36, 10, len(data))


def test_a_densified_array_numpy_cannot_allocate():
    """Zero bytes (within any budget), but too many elements for numpy."""
    shape = (0, 2**62)
    with pytest.raises(ValueError) as numpy_says:
        np.zeros(shape, np.float32)
    data = mw.dumps({'c': _csr(shape, np.zeros(0), [0], np.zeros(0))}, 'V3')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == (
        f'<stream>: array #0: cannot allocate an array of shape {shape} ({numpy_says.value}); '
        'the file is corrupt'
    )


# One V2 row_sparse array, dense (4, 2), one stored row (values (1, 2) float32, index int64):
# each field, its offset and its size in bytes.
_SPARSE_LAYOUT = [
    ('array #0 storage shape ndim', 32, 4),
    ('array #0 storage shape dims', 36, 16),
    ('array #0 shape ndim', 52, 4),
    ('array #0 context', 72, 8),
    ('array #0 dtype', 80, 4),
    ('array #0 aux 0 dtype', 84, 4),
    ('array #0 aux 0 shape ndim', 88, 4),
    ('array #0 sparse values', 100, 8),
    ('array #0 aux 0 data', 108, 8),
    ('name count', 116, 8),
]


@pytest.mark.parametrize('what,offset,size', _SPARSE_LAYOUT)
def test_a_truncated_sparse_array_says_which_field_was_cut(what, offset, size):
    rs = mw.Sparse('row_sparse', (4, 2), np.ones((1, 2), np.float32), np.array([2]))
    raw = mw.dumps({'s': rs}, 'V2')
    assert len(raw) == 133  # 116 + name count, length and 's'
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(raw[:offset]))
    assert str(e.value) == (
        f'<stream>: truncated file: {what} needs {size} bytes at offset {offset}, '
        f'{_ends(offset)}'
    )


# Offsets in a V3 row_sparse record: magic 0, storage type 4, storage shape ndim 8, dims
# 12 (2 x 8), shape ndim 28, dims 32, context 48, dtype 56, aux 0 dtype 60, aux 0 ndim 64.
@pytest.mark.parametrize('field,offset', [('storage shape', 8), ('aux 0 shape', 64)])
def test_v3_sparse_shapes_are_signed_too(field, offset):
    """In V3 every ndim is signed, the sparse values' and aux arrays' shapes included."""
    rs = mw.Sparse('row_sparse', (4, 2), np.ones((1, 2), np.float32), np.array([2]))
    rec = bytearray(mw.array_record(rs, 'V3'))
    rec[offset : offset + 4] = struct.pack('<i', -2)
    data = struct.pack('<QQQ', 0x112, 0, 1) + bytes(rec) + b'\0' * 64
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == (
        f'<stream>: array #0 {field}: implausible number of dimensions -2; this is not '
        'an MXNet NDArray file, or it is corrupt'
    )


def test_storage_type_and_dtype_flags_are_signed():
    header = struct.pack('<QQQ', 0x112, 0, 1)
    data = header + struct.pack('<Ii', mw.MAGIC['V2'], -1) + b'\0' * 64
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == (
        '<stream>: array #0: unknown storage type -1 (known: 0 default, 1 row_sparse, 2 csr); '
        'the file is corrupt or from an unknown MXNet version'
    )
    rs = mw.Sparse('row_sparse', (4, 2), np.ones((1, 2), np.float32), np.array([2]))
    # The dtype flag of a dense (2,) array's data, then of a sparse one's aux array (offsets
    # in the record: magic 4 + storage type 4 + ndim 4 + dims 8 + context 8; see
    # _SPARSE_LAYOUT, less the 24-byte file header).
    for item, offset, field in ((np.ones(2, np.float32), 28, ''), (rs, 60, ' aux 0')):
        record = bytearray(mw.array_record(item, 'V2'))
        record[offset : offset + 4] = struct.pack('<i', -1)
        data = header + bytes(record) + struct.pack('<Q', 0)
        with pytest.raises(MXNetFormatError) as e:
            load_mxnet_params(io.BytesIO(data))
        assert str(e.value) == (
            f'<stream>: array #0{field}: unknown dtype flag -1 (known: {DTYPE_NAMES}); this '
            'is not an MXNet NDArray file, or it is corrupt'
        )


@pytest.mark.parametrize('version', VERSIONS)
def test_up_to_32_dimensions(version):
    """32 dimensions read (MAX_NDIM); 33 are refused, in every header version."""
    a = np.arange(2, dtype=np.float32).reshape((2,) + (1,) * 31)
    assert load_mxnet_params(io.BytesIO(mw.dumps([a], version)))['0'].shape == a.shape
    data = mw.dumps([a[..., None]], version)
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    if version == 'legacy':
        want = (
            'array #0: header word 0x00000021 is neither an NDArray version magic (V1 '
            '0xF993FAC8, V2 0xF993FAC9, V3 0xF993FACA) nor a legacy ndim; this is not an MXNet '
            'NDArray file, or it is corrupt'
        )
    else:
        want = (
            'array #0 shape: implausible number of dimensions 33; this is not an MXNet '
            'NDArray file, or it is corrupt'
        )
    assert str(e.value) == f'<stream>: {want}'


def test_a_seekable_stream_is_read_in_place():
    """Only a stream that cannot tell its size is first copied into memory whole."""

    class NoWholeRead(io.BytesIO):
        def read(self, n=-1):
            assert n is not None and n >= 0, 'read the whole stream into memory'
            return super().read(n)

    raw = mw.dumps({'w': np.ones((3, 4), np.float32)}, 'V2')
    np.testing.assert_array_equal(load_mxnet_params(NoWholeRead(raw))['w'], np.ones((3, 4)))


def test_read_mxnet_params_densifies_and_keeps_the_budget_by_default(tmp_path):
    rs = mw.Sparse('row_sparse', (4, 2), np.ones((1, 2), np.float32), np.array([2]))
    f = tmp_path / 's.params'
    mw.save(f, {'s': rs}, 'V2')
    params, versions = read_mxnet_params(f)
    assert versions == ['V2'] and params['s'].shape == (4, 2)
    for source in (f, str(f)):  # a path: the budget still applies
        with pytest.raises(MXNetFormatError, match='would take 32 bytes, more than the 31 left'):
            read_mxnet_params(source, max_dense_bytes=31)


def test_the_file_is_named_in_every_message(tmp_path):
    missing = tmp_path / 'missing.params'
    with pytest.raises(FileNotFoundError) as e:
        load_mxnet_params(missing)
    assert str(e.value) == f'{missing}: no such file'
    short = tmp_path / 'short.params'
    short.write_bytes(b'\0' * 10)
    for source, name in ((short, str(short)), (io.BytesIO(b'\0' * 10), '<stream>')):
        with pytest.raises(MXNetFormatError) as e:
            load_mxnet_params(source)
        assert str(e.value) == (
            f'{name}: 10-byte file is too short to be an MXNet .params file (it starts with '
            'a 16-byte header)'
        )
    with open(short, 'rb') as fh:  # a file object: named by its path
        with pytest.raises(MXNetFormatError, match=f'^{short}: 10-byte file'):
            load_mxnet_params(fh)


@pytest.mark.parametrize(
    'what,offset,size,cut',
    [
        ('file header', 0, 16, 10),
        ('array #0 data (float32(3, 4))', 64, 48, 70),  # see _V2_LAYOUT
        ('name #0', 128, 5, 130),
    ],
)
def test_a_file_that_shrinks_while_read(what, offset, size, cut):
    """The size was taken first; a short read after it is reported as such."""

    class Shrunk(io.BytesIO):  # claims 100 bytes more than it holds
        def seek(self, pos, whence=io.SEEK_SET):
            end = super().seek(pos, whence)
            return end + 100 if whence == io.SEEK_END else end

    raw = mw.dumps({'arg:w': np.arange(12, dtype=np.float32).reshape(3, 4)}, 'V2')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(Shrunk(raw[:cut]))
    assert str(e.value) == (
        f'<stream>: truncated file: {what} needs {size} bytes at offset {offset}, '
        f'got {cut - offset}'
    )


def _named(names, name_count=None):
    """A V2 file of one-element arrays under ``names`` (duplicates allowed)."""
    records = b''.join(mw.array_record(np.ones(1, np.float32), 'V2') for _ in names)
    out = struct.pack('<QQQ', 0x112, 0, len(names)) + records
    out += struct.pack('<Q', len(names) if name_count is None else name_count)
    for n in names:
        out += struct.pack('<Q', len(n)) + n.encode()
    return out


def test_name_count_and_length_are_unsigned():
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(_named(['a'], name_count=2**64 - 1)))
    assert str(e.value) == (
        '<stream>: 1 arrays but 18446744073709551615 names (MXNet writes none or one per '
        'array); the file is corrupt'
    )
    data = bytearray(_named(['a']))  # header 24, record 36, name count 8, length 8, 'a'
    data[68:76] = struct.pack('<Q', 2**64 - 1)
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(bytes(data)))
    assert str(e.value) == (
        f'<stream>: truncated file: name #0 needs 18446744073709551615 bytes at offset 76, '
        f'{_ends(77)}'
    )


def test_a_name_that_is_not_utf8():
    with pytest.raises(UnicodeDecodeError) as python_says:
        b'\xff'.decode('utf-8')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(_named(['a'])[:-1] + b'\xff'))
    assert str(e.value) == (
        f'<stream>: name #0 is not UTF-8 ({python_says.value}); the file is corrupt'
    )


def test_bytes_after_the_last_name():
    raw = mw.dumps({'w': np.ones(2, np.float32)}, 'V2')
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(raw + b'junk'))
    assert str(e.value) == (
        f'<stream>: 4 unexpected bytes after the last name (offset {len(raw)}); the file is '
        'corrupt or not an MXNet .params file'
    )


def test_a_foreign_file_shows_its_first_bytes():
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(b'\x89PNG\r\n\x1a\n' + b'\0' * 40))
    assert str(e.value) == (
        '<stream>: not an MXNet .params file: it starts with bytes 89 50 4e 47 0d 0a 1a 0a, '
        'an MXNet NDArray list starts with 0x112 (12 01 00 00 00 00 00 00)'
    )


@pytest.mark.parametrize(
    'head,want',
    [
        (struct.pack('<Q', 0x112), True),  # the 8 bytes are enough
        (struct.pack('<QQ', 0x112, 0), True),
        (struct.pack('<Q', 0x112)[:7], False),
        (b'\x89PNG\r\n\x1a\n', False),
    ],
)
def test_is_mxnet_params(head, want):
    assert is_mxnet_params(head) is want


_IMPLAUSIBLE = 'the file is corrupt or not an MXNet .params file'


@pytest.mark.parametrize(
    'count,message',
    [
        # 8 arrays of at least 4 bytes could not fit in 32 bytes with the header, count and
        # name count, but the bound is loose (one word per array): read, then cut short.
        (8, f'truncated file: array #2 header needs 4 bytes at offset 32, {_ends(32)}'),
        (9, f'implausible array count 9 for a 32-byte file; {_IMPLAUSIBLE}'),
        (
            2**64 - 1,
            f'implausible array count 18446744073709551615 for a 32-byte file; ' f'{_IMPLAUSIBLE}',
        ),
    ],
)
def test_an_implausible_array_count(count, message):
    data = struct.pack('<QQQ', 0x112, 0, count) + b'\0' * 8  # then two "none" legacy words
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(data))
    assert str(e.value) == f'<stream>: {message}'


def test_many_none_arrays_are_a_plausible_count():
    """A "none" legacy record takes 4 bytes: 40 of them make a 192-byte file."""
    data = mw.dumps([None] * 40, 'legacy')
    assert len(data) == 16 + 8 + 40 * 4 + 8
    assert load_mxnet_params(io.BytesIO(data)) == {str(i): None for i in range(40)}


def test_a_stream_is_read_from_where_it_stands():
    """A file object positioned past a prefix: the data starts there, not at byte 0."""
    raw = mw.dumps({'w': np.arange(3, dtype=np.float32)}, 'V2')
    f = io.BytesIO(b'prefix' + raw)
    f.seek(6)
    np.testing.assert_array_equal(load_mxnet_params(f)['w'], [0, 1, 2])


@pytest.mark.parametrize(
    'names,shown',
    [
        (['a', 'b', 'a'], ['a']),
        (['b', 'a', 'c', 'a', 'b'], ['a', 'b']),
        ([n for n in 'fedcba' for _ in range(2)], ['a', 'b', 'c', 'd', 'e']),  # 5 shown
    ],
)
def test_duplicate_names_are_listed(names, shown):
    assert load_mxnet_params(io.BytesIO(_named(['a', 'b'])))  # (the helper is sound)
    with pytest.raises(MXNetFormatError) as e:
        load_mxnet_params(io.BytesIO(_named(names)))
    assert str(e.value) == f'<stream>: duplicate array names {shown}; the file is corrupt'
