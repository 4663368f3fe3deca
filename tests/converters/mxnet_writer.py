"""A small MXNet NDArray-list writer, for tests (every header version, dtype, sparse).

Written from MXNet's ``NDArray::Save`` (src/ndarray/ndarray.cc) of each era, independently
of the reader in ``wider_mm.converters.mxnet_params``: the real files in
shared/data/mxnet_params keep the reader honest, this writer covers what they do not
(every dtype, GPU contexts, sparse arrays, V3 scalars, "none" arrays).
"""

from __future__ import annotations

import struct
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

MAGIC = {'V1': 0xF993FAC8, 'V2': 0xF993FAC9, 'V3': 0xF993FACA}
FLAGS = {
    'float32': 0,
    'float64': 1,
    'float16': 2,
    'uint8': 3,
    'int32': 4,
    'int8': 5,
    'int64': 6,
    'bool': 7,
    'int16': 8,
    'uint16': 9,
    'uint32': 10,
    'uint64': 11,
    'bfloat16': 12,
}


class Sparse:
    """A sparse array to write: 'row_sparse' (values, row indices) or 'csr' (values,
    indptr, column indices), with its dense shape."""

    def __init__(
        self, stype: str, shape: Tuple[int, ...], values: np.ndarray, *aux: np.ndarray
    ) -> None:
        self.stype, self.shape, self.values, self.aux = stype, tuple(shape), values, aux


class BFloat16:
    """float32 values to store as bfloat16 (truncated: keep the top 16 bits)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, np.float32)


Item = Union[np.ndarray, Sparse, BFloat16, None]


def _shape(version: str, shape: Optional[Tuple[int, ...]]) -> bytes:
    if shape is None:  # "no array"
        return struct.pack('<i', -1) if version == 'V3' else struct.pack('<I', 0)
    if version == 'legacy':
        return struct.pack(f'<I{len(shape)}I', len(shape), *shape)
    head = struct.pack('<i' if version == 'V3' else '<I', len(shape))
    return head + struct.pack(f'<{len(shape)}q', *shape)


def _raw(item) -> Tuple[int, bytes, Tuple[int, ...]]:
    if isinstance(item, BFloat16):
        bits = (item.values.view('<u4') >> 16).astype('<u2')
        return FLAGS['bfloat16'], bits.tobytes(), item.values.shape
    arr = np.array(item, order='C')  # (np.ascontiguousarray makes scalars 1-D)
    return FLAGS[arr.dtype.name], arr.astype(arr.dtype.newbyteorder('<')).tobytes(), arr.shape


def array_record(item: Item, version: str = 'V2', ctx: Tuple[int, int] = (1, 0)) -> bytes:
    """Bytes of one array as ``NDArray::Save`` of ``version`` writes it."""
    out = b''
    if version != 'legacy':
        out += struct.pack('<I', MAGIC[version])
    if isinstance(item, Sparse):
        assert version in ('V2', 'V3'), 'sparse arrays exist from V2 on'
        stype = {'row_sparse': 1, 'csr': 2}[item.stype]
        out += struct.pack('<i', stype)
        out += _shape(version, item.values.shape) + _shape(version, item.shape)
        flag, data, _ = _raw(item.values)
        out += struct.pack('<iii', *ctx, flag)
        for a in item.aux:
            out += struct.pack('<i', FLAGS[a.dtype.name]) + _shape(version, a.shape)
        return out + data + b''.join(np.ascontiguousarray(a).tobytes() for a in item.aux)
    if version in ('V2', 'V3'):
        out += struct.pack('<i', 0)
    if item is None:
        return out + _shape(version, None)
    flag, data, shape = _raw(item)
    return out + _shape(version, shape) + struct.pack('<iii', *ctx, flag) + data


def _chunks(arrays, version, ctx):
    names = list(arrays) if isinstance(arrays, Mapping) else []
    items = list(arrays.values()) if isinstance(arrays, Mapping) else list(arrays)
    yield struct.pack('<QQQ', 0x112, 0, len(items))
    for it in items:
        yield array_record(it, version, ctx)
    yield struct.pack('<Q', len(names))
    for n in names:
        raw = n.encode('utf-8')
        yield struct.pack('<Q', len(raw)) + raw


def dumps(
    arrays: Union[Mapping[str, Item], Sequence[Item]],
    version: str = 'V2',
    ctx: Tuple[int, int] = (1, 0),
) -> bytes:
    """A whole file: a dict saves names, a list saves none."""
    return b''.join(_chunks(arrays, version, ctx))


def save(path, arrays, version: str = 'V2', ctx: Tuple[int, int] = (1, 0)) -> None:
    """Write ``arrays`` (dict or list of numpy arrays) as an MXNet ``.params`` file."""
    with open(path, 'wb') as f:
        for chunk in _chunks(arrays, version, ctx):
            f.write(chunk)
