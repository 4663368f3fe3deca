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

Nothing is allocated on the word of a header alone: every size a header claims is checked
against the bytes left in the file first, and densified sparse arrays share a budget
(:data:`DENSE_FACTOR` times the file size, at least :data:`DENSE_FLOOR` bytes; the
``max_dense_bytes`` argument sets another), so a corrupt or hostile file fails with
:class:`MXNetFormatError` instead of exhausting memory.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections import Counter, OrderedDict
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
#: Densified sparse arrays of one file may take at most ``DENSE_FACTOR`` times the file's
#: size, or ``DENSE_FLOOR`` bytes if that is more (64 MiB: small files stay easy to read).
#: MXNet's sparse arrays are embeddings and gradients, a few times denser than stored at
#: most; none of the released Wider ResNet weights is sparse. A bigger claim means a
#: corrupt or hostile file (a few bytes that would expand to gigabytes).
DENSE_FACTOR = 16
DENSE_FLOOR = 64 << 20

PathOrFile = Union[str, 'os.PathLike[str]', BinaryIO]


class MXNetFormatError(ValueError):
    """The file is not a readable MXNet NDArray-list file (truncated, foreign, unsupported)."""


class _Reader:
    """Little-endian reads from a binary stream of known size.

    A short read raises ``MXNetFormatError``; arrays are allocated only once the file is
    known to hold their bytes (:meth:`array`).
    """

    def __init__(self, f: BinaryIO, name: str, size: int, dense_budget: int) -> None:
        self.f, self.name, self.size, self.pos = f, name, size, 0
        self.dense_budget = dense_budget

    def fail(self, msg: str) -> MXNetFormatError:
        return MXNetFormatError(f'{self.name}: {msg}')

    def _check(self, n: int, what: str) -> None:
        if self.pos + n > self.size:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, but the file '
                f'ends at {self.size} (an interrupted download or copy? fetch it again)'
            )

    def read(self, n: int, what: str) -> bytes:
        self._check(n, what)
        data = self.f.read(n)
        if len(data) != n:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, got {len(data)}'
            )
        self.pos += n
        return data

    def unpack(self, fmt: str, what: str):
        vals = struct.unpack('<' + fmt, self.read(struct.calcsize('<' + fmt), what))
        return vals[0] if len(vals) == 1 else vals

    def array(self, dtype: np.dtype, shape: Tuple[int, ...], what: str) -> np.ndarray:
        """Read a C-order array, checking its claimed size against the bytes left first."""
        n = dtype.itemsize * math.prod(shape)  # Python ints: no overflow
        self._check(n, what)
        arr = _allocate(self, np.empty, shape, dtype, what)
        got = self.f.readinto(memoryview(arr.reshape(-1).view(np.uint8))) if n else 0
        if got != n:
            raise self.fail(
                f'truncated file: {what} needs {n} bytes at offset {self.pos}, got {got}'
            )
        self.pos += n
        return arr

    def dense(self, shape: Tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
        """Zeros for a densified sparse array, within the file's densification budget."""
        n = dtype.itemsize * math.prod(shape)
        if n > self.dense_budget:
            raise self.fail(
                f'{what}: a sparse array of dense shape {shape} would take {n} bytes, more '
                f'than the {self.dense_budget} left for densified arrays of this '
                f'{self.size}-byte file (the file is corrupt, or pass max_dense_bytes=N, or '
                'densify_sparse=False to refuse sparse arrays)'
            )
        self.dense_budget -= n
        return _allocate(self, np.zeros, shape, dtype, what)


def _allocate(r: _Reader, make, shape: Tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    try:
        return make(shape, dtype=dtype)
    except (ValueError, MemoryError) as e:  # numpy's own limits (e.g. a huge zero-size shape)
        raise r.fail(
            f'{what}: cannot allocate an array of shape {shape} ({e}); the file is corrupt'
        ) from e


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
        raw = r.array(np.dtype('<u2'), shape, what)
        return (raw.astype('<u4') << 16).view('<f4')  # exact widening
    return r.array(DTYPES[flag], shape, what)


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


def _index(r: _Reader, a: np.ndarray, length: int, bound: int, name: str, what: str) -> np.ndarray:
    """Validate a sparse index array: 1-D integers, ``length`` long, each in [0, bound)."""
    if a.ndim != 1 or a.dtype.kind not in 'iu' or len(a) != length:
        raise r.fail(
            f'{what}: {name} must be {length} integers, got {a.dtype} of shape {a.shape}; '
            'the file is corrupt'
        )
    a = a.astype(np.int64)
    if len(a) and (a.min() < 0 or a.max() >= bound):
        raise r.fail(f'{what}: {name} outside [0, {bound}); the file is corrupt')
    return a


def _densify(
    r: _Reader,
    stype: str,
    shape: Tuple[int, ...],
    values: np.ndarray,
    aux: List[np.ndarray],
    what: str,
) -> np.ndarray:
    """Scatter a sparse array's stored values into a dense array of ``shape``.

    row_sparse: aux 0 holds row indices, values are (rows, *shape[1:]). csr (2-D): aux 0
    indptr (shape[0] + 1, from 0 to nnz, non-decreasing), aux 1 column indices, values (nnz,).
    """
    if not shape or (stype == 'csr' and len(shape) != 2):
        raise r.fail(f'{what}: {stype} array of invalid dense shape {shape}; the file is corrupt')
    if stype == 'row_sparse':
        if values.shape[1:] != shape[1:]:
            raise r.fail(
                f'{what}: row_sparse values of shape {values.shape} do not fit the dense '
                f'shape {shape}; the file is corrupt'
            )
        rows = _index(r, aux[0], values.shape[0], shape[0], 'row indices', what)
        dense = r.dense(shape, values.dtype, what)
        dense[rows] = values
        return dense
    nnz = values.size
    indptr = _index(r, aux[0], shape[0] + 1, nnz + 1, 'indptr', what)
    if len(indptr) and (indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any()):
        raise r.fail(
            f'{what}: csr indptr must rise from 0 to the {nnz} stored values; the file is corrupt'
        )
    cols = _index(r, aux[1], nnz, shape[1], 'column indices', what)
    dense = r.dense(shape, values.dtype, what)
    dense[np.repeat(np.arange(shape[0]), np.diff(indptr)), cols] = values.reshape(-1)
    return dense


def read_mxnet_params(
    f: PathOrFile, densify_sparse: bool = True, max_dense_bytes: Optional[int] = None
) -> Tuple[OrderedDict[str, Optional[np.ndarray]], List[str]]:
    """Like :func:`load_mxnet_params`, also returning each array's header version.

    Returns:
        tuple: (the mapping, a list with 'legacy', 'V1', 'V2' or 'V3' per array).
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if os.path.isdir(path):
            raise IsADirectoryError(f'{path}: is a directory, not an MXNet .params file')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: no such file')
        with open(path, 'rb') as fh:
            return _read_list(fh, path, densify_sparse, max_dense_bytes)
    return _read_list(f, str(getattr(f, 'name', '<stream>')), densify_sparse, max_dense_bytes)


def _stream_size(f: BinaryIO) -> Optional[int]:
    """Bytes left in ``f`` if it can tell (files, BytesIO), else None."""
    try:
        if not f.seekable():
            return None
        here = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return None


def _read_list(
    f: BinaryIO, name: str, densify: bool, max_dense_bytes: Optional[int]
) -> Tuple[OrderedDict[str, Optional[np.ndarray]], List[str]]:
    size = _stream_size(f)
    if size is None:  # a pipe: read it whole, so that every claimed size can be checked
        data = f.read()
        f, size = io.BytesIO(data), len(data)
    budget = max(DENSE_FACTOR * size, DENSE_FLOOR) if max_dense_bytes is None else max_dense_bytes
    r = _Reader(f, name, size, budget)
    if size < 16:
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
    if n > size // 4:  # each record takes at least 4 bytes
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
            f'{n} arrays but {k} names (MXNet writes none or one per array); the file is corrupt'
        )
    names = []
    for i in range(k):
        length = r.unpack('Q', f'name #{i} length')
        raw = r.read(length, f'name #{i}')
        try:
            names.append(raw.decode('utf-8'))
        except UnicodeDecodeError as e:
            raise r.fail(f'name #{i} is not UTF-8 ({e}); the file is corrupt') from e
    if r.pos != size:
        raise r.fail(
            f'{size - r.pos} unexpected bytes after the last name (offset {r.pos}); '
            'the file is corrupt or not an MXNet .params file'
        )
    if not k:
        names = [str(i) for i in range(n)]
    counts = Counter(names)
    if len(counts) != len(names):
        dup = sorted(x for x, c in counts.items() if c > 1)
        raise r.fail(f'duplicate array names {dup[:5]}; the file is corrupt')
    return OrderedDict(zip(names, arrays)), versions


def load_mxnet_params(
    f: PathOrFile, densify_sparse: bool = True, max_dense_bytes: Optional[int] = None
) -> OrderedDict[str, Optional[np.ndarray]]:
    """Read an MXNet NDArray-list file (``mx.nd.save`` / ``.params``) with numpy only.

    Args:
        f: A path, or a binary file object positioned at the start of the data.
        densify_sparse (bool): Read sparse (row_sparse, csr) arrays as dense arrays. If
            False, a sparse array raises :class:`MXNetFormatError`. Default: True.
        max_dense_bytes (int, optional): Bytes the densified sparse arrays of the file may
            take together. Default: None (``DENSE_FACTOR`` x the file size, at least
            ``DENSE_FLOOR``).

    Returns:
        OrderedDict: name -> numpy array, in file order. Names are as stored (e.g.
        ``'arg:conv1a_weight'``); a file saved as a plain list gets ``'0'``, ``'1'``, ....
        Dtypes are as stored, except bfloat16, which numpy lacks: it is widened exactly to
        float32. An MXNet "none" array (saved without a shape) reads as ``None``.

    Raises:
        FileNotFoundError: ``f`` is a path that does not exist.
        IsADirectoryError: ``f`` is a directory.
        MXNetFormatError: the file is truncated, not an MXNet NDArray file, or corrupt
            (a size it claims exceeds the bytes left, a sparse array would densify past
            the budget); the message says which, and where.

    Example:
        >>> params = load_mxnet_params('ilsvrc-cls_rna-a1_cls1000_ep-0001.params')
        ... # doctest: +SKIP
        >>> params['arg:conv1a_weight'].shape  # doctest: +SKIP
        (64, 3, 3, 3)
    """
    return read_mxnet_params(f, densify_sparse, max_dense_bytes)[0]


def is_mxnet_params(head: bytes) -> bool:
    """Whether ``head`` (the first 8+ bytes of a file) starts an MXNet NDArray list."""
    return len(head) >= 8 and struct.unpack('<Q', head[:8])[0] == LIST_MAGIC


__all__ = [
    'load_mxnet_params',
    'read_mxnet_params',
    'is_mxnet_params',
    'MXNetFormatError',
    'DENSE_FACTOR',
    'DENSE_FLOOR',
    'DTYPES',
    'DTYPE_NAMES',
    'BFLOAT16',
    'LIST_MAGIC',
    'V1_MAGIC',
    'V2_MAGIC',
    'V3_MAGIC',
]
