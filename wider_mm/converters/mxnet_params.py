"""Read MXNet NDArray-list files (``.params``, ``mx.nd.save``) without MXNet.

The authors of Wider ResNet (Wu, Shen, van den Hengel, arXiv:1611.10080) released their
weights as MXNet ``.params`` files, and MXNet is no longer installable on current Python.
This module reads every header version MXNet ever wrote, with numpy alone. The format, all
little-endian (MXNet ``src/ndarray/ndarray.cc`` ``NDArray::Save/Load/LegacyLoad``,
dmlc-core ``serializer.h``, mshadow ``base.h``)::

    u64 0x112 (list magic), u64 reserved
    u64 N, then N array records
    u64 K, then K names (u64 length + UTF-8 bytes); K = 0 (saved as a list) or N (a dict)

An array record starts with a u32 that is either a version magic or, in legacy files, the
number of dimensions:

==========  ==========  =======================================================
version     magic       shape
==========  ==========  =======================================================
legacy      (none)      u32 ndim (the first word) + u32 dims; ndim 0 = no array
V1          0xF993FAC8  u32 ndim + i64 dims; ndim 0 = no array
V2          0xF993FAC9  i32 storage type; [sparse: storage shape]; shape as V1
V3          0xF993FACA  as V2, but ndim is i32: -1 = no array, 0 = a scalar
==========  ==========  =======================================================

Then (unless there is no array) i32 device type, i32 device id, i32 dtype flag, [sparse:
per aux array an i32 dtype flag and a shape], the raw data in C order, [sparse: the aux
arrays]. Sparse arrays (row_sparse, csr) store only their non-zero part; we densify them
(or refuse, on request). Arrays saved from a GPU are read like any other: the device only
says where the array lived.
"""

from __future__ import annotations

import io
import os
import struct
from collections import OrderedDict
from typing import BinaryIO, Dict, List, Optional, Tuple, Union

import numpy as np

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
VERSION_NAMES = {V1_MAGIC: 'V1', V2_MAGIC: 'V2', V3_MAGIC: 'V3'}

#: mshadow type flag -> numpy dtype (little-endian). Flag 12 (bfloat16) has no numpy
#: dtype: it is widened exactly to float32 (bf16 is the top half of a float32).
DTYPES: Dict[int, np.dtype] = {
    0: np.dtype('<f4'),
    1: np.dtype('<f8'),
    2: np.dtype('<f2'),
    3: np.dtype('u1'),
    4: np.dtype('<i4'),
    5: np.dtype('i1'),
    6: np.dtype('<i8'),
    7: np.dtype('?'),
    8: np.dtype('<i2'),
    9: np.dtype('<u2'),
    10: np.dtype('<u4'),
    11: np.dtype('<u8'),
}
BFLOAT16 = 12
DTYPE_NAMES = {
    0: 'float32',
    1: 'float64',
    2: 'float16',
    3: 'uint8',
    4: 'int32',
    5: 'int8',
    6: 'int64',
    7: 'bool',
    8: 'int16',
    9: 'uint16',
    10: 'uint32',
    11: 'uint64',
    12: 'bfloat16',
}
#: storage type -> (name, number of aux arrays).
STORAGE_TYPES = {0: ('default', 0), 1: ('row_sparse', 1), 2: ('csr', 2)}
#: Sanity bound on ndim: MXNet's own limit is far below it; a bigger value means a
#: foreign or corrupt file, not a real array.
MAX_NDIM = 32

PathOrFile = Union[str, 'os.PathLike[str]', BinaryIO]


class MXNetFormatError(ValueError):
    """The file is not a readable MXNet NDArray-list file (truncated, foreign, unsupported)."""


class _Reader:
    """Little-endian reads from a binary stream; a short read raises ``MXNetFormatError``."""

    def __init__(self, f: BinaryIO, name: str, size: Optional[int]) -> None:
        self.f, self.name, self.size, self.pos = f, name, size, 0

    def fail(self, msg: str) -> MXNetFormatError:
        return MXNetFormatError(f'{self.name}: {msg}')

    def _check(self, n: int, what: str) -> None:
        if self.size is not None and self.pos + n > self.size:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, but the file '
                f'ends at {self.size} (an interrupted download or copy? fetch it again)'
            )

    def read(self, n: int, what: str) -> bytes:
        self._check(n, what)
        data = self.f.read(n)
        if len(data) != n:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, ' f'got {len(data)}'
            )
        self.pos += n
        return data

    def unpack(self, fmt: str, what: str):
        vals = struct.unpack('<' + fmt, self.read(struct.calcsize('<' + fmt), what))
        return vals[0] if len(vals) == 1 else vals

    def into(self, arr: np.ndarray, what: str) -> np.ndarray:
        """Fill the (new, contiguous) ``arr`` from the stream, without an extra copy."""
        n = arr.nbytes
        self._check(n, what)
        got = self.f.readinto(memoryview(arr.reshape(-1).view(np.uint8))) if n else 0
        if got != n:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, ' f'got {got}'
            )
        self.pos += n
        return arr


def _read_shape(r: _Reader, version: str, what: str) -> Optional[Tuple[int, ...]]:
    """Read a V1/V2/V3 shape; ``None`` means MXNet's "no array" (``is_none``)."""
    ndim = r.unpack('i' if version == 'V3' else 'I', f'{what} ndim')
    if ndim == (-1 if version == 'V3' else 0):  # before V3, ndim 0 meant "no array"
        return None
    if not 0 <= ndim <= MAX_NDIM:
        raise r.fail(
            f'{what}: implausible number of dimensions {ndim}; this is not an '
            'MXNet NDArray file, or it is corrupt'
        )
    dims = tuple(struct.unpack(f'<{ndim}q', r.read(8 * ndim, f'{what} dims')))
    if version == 'V3' and -1 in dims:  # V3: a dimension -1 is unknown: "no array"
        return None
    if any(d < 0 for d in dims):
        raise r.fail(f'{what}: negative dimension in shape {dims}; the file is corrupt')
    return dims


def _check_dtype(r: _Reader, flag: int, what: str) -> None:
    if flag not in DTYPES and flag != BFLOAT16:
        raise r.fail(
            f'{what}: unknown dtype flag {flag} (known: {DTYPE_NAMES}); this is not '
            'an MXNet NDArray file, or it is corrupt'
        )


def _read_data(r: _Reader, flag: int, shape: Tuple[int, ...], what: str) -> np.ndarray:
    if flag == BFLOAT16:
        raw = r.into(np.empty(shape, dtype='<u2'), what)
        return (raw.astype('<u4') << 16).view('<f4')  # exact widening
    return r.into(np.empty(shape, dtype=DTYPES[flag]), what)


def _read_array(r: _Reader, index: int, densify: bool) -> Tuple[Optional[np.ndarray], str]:
    """Read one array record; return (array or None for "no array", version name)."""
    what = f'array #{index}'
    first = r.unpack('I', f'{what} header')
    if first in (V2_MAGIC, V3_MAGIC):
        version = VERSION_NAMES[first]
        stype = r.unpack('i', f'{what} storage type')
        if stype not in STORAGE_TYPES:
            raise r.fail(
                f'{what}: unknown storage type {stype} (known: 0 default, '
                '1 row_sparse, 2 csr); the file is corrupt or from an unknown '
                'MXNet version'
            )
        stype_name, num_aux = STORAGE_TYPES[stype]
        storage_shape = _read_shape(r, version, f'{what} storage shape') if num_aux else None
        shape = _read_shape(r, version, f'{what} shape')
    elif first == V1_MAGIC:
        version, stype_name, num_aux = 'V1', 'default', 0
        shape = _read_shape(r, 'V1', f'{what} shape')
    else:  # legacy: the first word is ndim, dims are u32
        version, stype_name, num_aux = 'legacy', 'default', 0
        if first == 0:
            return None, version
        if first > MAX_NDIM:
            raise r.fail(
                f'{what}: header word 0x{first:08X} is neither an NDArray version '
                f'magic (V1 0x{V1_MAGIC:08X}, V2 0x{V2_MAGIC:08X}, V3 '
                f'0x{V3_MAGIC:08X}) nor a legacy ndim; this is not an MXNet '
                'NDArray file, or it is corrupt'
            )
        shape = tuple(struct.unpack(f'<{first}I', r.read(4 * first, f'{what} dims')))
    if shape is None:
        return None, version
    r.unpack('ii', f'{what} context')  # device type and id: irrelevant once on disk
    flag = r.unpack('i', f'{what} dtype')
    _check_dtype(r, flag, what)
    if not num_aux:
        return _read_data(r, flag, shape, f'{what} data ({DTYPE_NAMES[flag]}{shape})'), version

    if not densify:
        raise r.fail(
            f'{what} is a sparse ({stype_name}) array; pass densify_sparse=True to '
            'read it as a dense array'
        )
    aux = []
    for k in range(num_aux):
        aux_flag = r.unpack('i', f'{what} aux {k} dtype')
        _check_dtype(r, aux_flag, f'{what} aux {k}')
        aux_shape = _read_shape(r, version, f'{what} aux {k} shape')
        aux.append((aux_flag, aux_shape or (0,)))
    values = _read_data(r, flag, storage_shape or (0,), f'{what} sparse values')
    aux_data = [_read_data(r, f, s, f'{what} aux {k} data') for k, (f, s) in enumerate(aux)]
    return _densify(r, stype_name, shape, values, aux_data, what), version


def _densify(
    r: _Reader,
    stype: str,
    shape: Tuple[int, ...],
    values: np.ndarray,
    aux: List[np.ndarray],
    what: str,
) -> np.ndarray:
    dense = np.zeros(shape, dtype=values.dtype)
    try:
        if stype == 'row_sparse':  # aux 0: row indices; values: (nnz_rows, *shape[1:])
            dense[aux[0].astype(np.int64)] = values.reshape((len(aux[0]), *shape[1:]))
        else:  # csr, 2-D: aux 0 indptr (rows + 1), aux 1 column indices; values (nnz,)
            indptr, cols = aux[0].astype(np.int64), aux[1].astype(np.int64)
            rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
            dense[rows, cols] = values.reshape(-1)
    except (IndexError, ValueError) as e:
        raise r.fail(f'{what}: inconsistent {stype} array ({e}); the file is corrupt') from e
    return dense


def read_mxnet_params(
    f: PathOrFile, densify_sparse: bool = True
) -> Tuple[OrderedDict[str, Optional[np.ndarray]], List[str]]:
    """Like :func:`load_mxnet_params`, also returning each array's header version.

    Returns:
        tuple: (the mapping, a list with 'legacy', 'V1', 'V2' or 'V3' per array).
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: no such file')
        with open(path, 'rb') as fh:
            return _read_list(fh, path, densify_sparse)
    return _read_list(f, str(getattr(f, 'name', '<stream>')), densify_sparse)


def _stream_size(f: BinaryIO) -> Optional[int]:
    """Bytes left in ``f`` if it can tell (files, BytesIO), else None."""
    try:
        here = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(here)
        return end - here
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _read_list(
    f: BinaryIO, name: str, densify: bool
) -> Tuple[OrderedDict[str, Optional[np.ndarray]], List[str]]:
    size = _stream_size(f)
    r = _Reader(f, name, size)
    if size is not None and size < 16:
        raise r.fail(
            f'{size}-byte file is too short to be an MXNet .params file (it starts '
            'with a 16-byte header)'
        )
    head = r.read(16, 'file header')
    magic = struct.unpack('<Q', head[:8])[0]
    if magic != LIST_MAGIC:
        raise r.fail(
            f'not an MXNet .params file: it starts with bytes {head[:8].hex(" ")}, '
            f'an MXNet NDArray list starts with 0x{LIST_MAGIC:x} (12 01 00 00 00 00 '
            '00 00)'
        )
    n = r.unpack('Q', 'array count')
    if size is not None and n > size // 4:  # each record takes at least 4 bytes
        raise r.fail(
            f'implausible array count {n} for a {size}-byte file; the file is '
            'corrupt or not an MXNet .params file'
        )
    arrays, versions = [], []
    for i in range(n):
        arr, version = _read_array(r, i, densify)
        arrays.append(arr)
        versions.append(version)
    k = r.unpack('Q', 'name count')
    if k not in (0, n):
        raise r.fail(
            f'{n} arrays but {k} names (MXNet writes none or one per array); the ' 'file is corrupt'
        )
    names = []
    for i in range(k):
        length = r.unpack('Q', f'name #{i} length')
        if size is not None and length > size:
            raise r.fail(f'name #{i}: implausible length {length}; the file is corrupt')
        raw = r.read(length, f'name #{i}')
        try:
            names.append(raw.decode('utf-8'))
        except UnicodeDecodeError as e:
            raise r.fail(f'name #{i} is not UTF-8 ({e}); the file is corrupt') from e
    if size is not None and r.pos != size:
        raise r.fail(
            f'{size - r.pos} unexpected bytes after the last name (offset {r.pos}); '
            'the file is corrupt or not an MXNet .params file'
        )
    if not k:
        names = [str(i) for i in range(n)]
    if len(set(names)) != len(names):
        dup = sorted({x for x in names if names.count(x) > 1})
        raise r.fail(f'duplicate array names {dup[:5]}; the file is corrupt')
    return OrderedDict(zip(names, arrays)), versions


def load_mxnet_params(
    f: PathOrFile, densify_sparse: bool = True
) -> OrderedDict[str, Optional[np.ndarray]]:
    """Read an MXNet NDArray-list file (``mx.nd.save`` / ``.params``) with numpy only.

    Args:
        f: A path, or a binary file object positioned at the start of the data.
        densify_sparse (bool): Read sparse (row_sparse, csr) arrays as dense arrays. If
            False, a sparse array raises :class:`MXNetFormatError`. Default: True.

    Returns:
        OrderedDict: name -> numpy array, in file order. Names are as stored (e.g.
        ``'arg:conv1a_weight'``); a file saved as a plain list gets ``'0'``, ``'1'``, ....
        Dtypes are as stored, except bfloat16, which numpy lacks: it is widened exactly to
        float32. An MXNet "none" array (saved without a shape) reads as ``None``.

    Raises:
        FileNotFoundError: ``f`` is a path that does not exist.
        MXNetFormatError: the file is truncated, not an MXNet NDArray file, or corrupt;
            the message says which, and where.

    Example:
        >>> params = load_mxnet_params('ilsvrc-cls_rna-a1_cls1000_ep-0001.params')
        ... # doctest: +SKIP
        >>> params['arg:conv1a_weight'].shape  # doctest: +SKIP
        (64, 3, 3, 3)
    """
    return read_mxnet_params(f, densify_sparse)[0]


def is_mxnet_params(head: bytes) -> bool:
    """Whether ``head`` (the first 8+ bytes of a file) starts an MXNet NDArray list."""
    return len(head) >= 8 and struct.unpack('<Q', head[:8])[0] == LIST_MAGIC


__all__ = [
    'load_mxnet_params',
    'read_mxnet_params',
    'is_mxnet_params',
    'MXNetFormatError',
    'DTYPES',
    'DTYPE_NAMES',
    'BFLOAT16',
    'LIST_MAGIC',
    'V1_MAGIC',
    'V2_MAGIC',
    'V3_MAGIC',
]
