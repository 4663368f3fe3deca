"""File side of the converters: read a released checkpoint, write an mmengine checkpoint.

Everything that touches the disk lives here (the renaming in :mod:`.convert` is pure). A
file is recognised by its first bytes: MXNet NDArray lists start with ``0x112``, PyTorch
checkpoints are zip archives (``PK``) or, before torch 1.6, pickles (``0x80``).

Every failure of a read or write (a directory or unreadable file as the source, a
destination that cannot be written, a full disk, a corrupt pickle) is a
:class:`ConversionError` with a one-line message; the destination is written atomically, so
it holds the old file or the complete new one, never part of one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import os
import os.path as osp
import pickle
import tempfile
import warnings
from typing import Any, BinaryIO, Callable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..fileio import atomic_write
from .convert import Conversion, ConversionError, convert_state_dict, detect_format
from .mxnet_params import MXNetFormatError, is_mxnet_params, load_mxnet_params
from .recorded import check_converted_shapes
from .sources import SOURCES

#: Keys under which training scripts nest the state dict (MAP/NV/mmengine: 'state_dict').
_NESTED = ('state_dict', 'model', 'model_state_dict', 'net')


def _os_error(e: OSError, doing: str) -> ConversionError:
    """One line for a failed read or write, e.g. 'cannot read x: Permission denied'."""
    reason = e.strerror or str(e) or type(e).__name__
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason += ' (free some space, or choose another DST)'
    return ConversionError(f'cannot {doing}: {reason}')


def sniff(path: str) -> str:
    """Return 'mxnet' or 'torch' from the first bytes of ``path``.

    Raises:
        FileNotFoundError: no such file.
        ConversionError: a directory, an unreadable, empty or foreign file (the message
            shows its first bytes).
    """
    if osp.isdir(path):
        raise ConversionError(f'{path}: is a directory; give the checkpoint file inside it')
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: no such file')
    if not osp.isfile(path):
        raise ConversionError(f'{path}: not a regular file (a device, socket or pipe?)')
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
    except OSError as e:
        raise _os_error(e, f'read {path}') from e
    if is_mxnet_params(head):
        return 'mxnet'
    if head.startswith(b'PK\x03\x04') or head[:1] == b'\x80':
        return 'torch'
    if not head:
        raise ConversionError(f'{path}: the file is empty')
    raise ConversionError(
        f'{path}: unrecognised file (first bytes {head[:8].hex(" ")}): neither an MXNet '
        '.params file (starts 12 01 00 00 00 00 00 00) nor a PyTorch checkpoint (a zip '
        "archive, 'PK', or a pickle, 0x80)"
    )


def _torch_load(path: str, allow_pickle: bool) -> Any:
    """``torch.load`` on CPU; safely (``weights_only``) unless ``allow_pickle``.

    Training checkpoints often hold numpy scalars (``best_prec1``...): numpy's array and
    scalar constructors are allowed in the safe mode, anything else needs ``allow_pickle``.
    """
    with warnings.catch_warnings():  # torch's deprecation notes about old files: noise
        warnings.simplefilter('ignore')
        return _torch_load_or_explain(path, allow_pickle)


def _torch_load_or_explain(path: str, allow_pickle: bool) -> Any:
    try:
        return _torch_load_safely(path, allow_pickle)
    except pickle.UnpicklingError as e:
        needed = [] if allow_pickle else _unsafe_globals(path)
        if needed:
            raise ConversionError(
                f'{path}: the checkpoint pickles objects other than tensors and plain '
                f'containers ({needed[:5]}), which torch refuses to load safely. If you '
                'trust the file, pass --allow-pickle'
            ) from e
        raise ConversionError(
            f'{path}: not a readable PyTorch checkpoint ({_first_line(e)})'
        ) from e
    except Exception as e:  # noqa: BLE001 - torch.load of a damaged file raises nearly
        # anything (RuntimeError, EOFError, OSError (a seek past the end), MemoryError, ...)
        raise ConversionError(
            f'{path}: not a readable PyTorch checkpoint ({type(e).__name__}: '
            f'{_first_line(e)}); is the file complete (an interrupted download?)'
        ) from e


def _torch_load_safely(path: str, allow_pickle: bool) -> Any:
    try:
        return torch.load(path, map_location='cpu', weights_only=not allow_pickle)
    except pickle.UnpicklingError:
        if allow_pickle:
            raise
        needed = _unsafe_globals(path)
        if not needed or not all(n.startswith('numpy.') for n in needed):
            raise
        with torch.serialization.safe_globals([_resolve(n) for n in needed] + _NUMPY_DTYPES):
            return torch.load(path, map_location='cpu', weights_only=True)


def _unsafe_globals(path: str) -> List[str]:
    """Globals a checkpoint needs beyond torch's safe set ([] if it cannot tell)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - a damaged file: the caller reports the load error
        return []


#: numpy's dtype classes, which pickled numpy scalars/arrays construct (not listed by
#: ``get_unsafe_globals_in_checkpoint``).
_NUMPY_DTYPES = sorted({type(np.dtype(c)) for c in np.typecodes['All']}, key=str)


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition('.')
    return getattr(importlib.import_module(module), attr)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _unwrap(obj: Any, path: str) -> Tuple[Mapping[str, Any], str]:
    """Find the state dict inside a loaded PyTorch object; say where it was."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), 'a pickled nn.Module'
    if not isinstance(obj, Mapping):
        raise ConversionError(f'{path}: expected a dict of tensors, got {type(obj).__name__}')
    state, where = _find_state(obj, path)
    odd = [k for k in state if not isinstance(k, str)]
    if odd:
        raise ConversionError(f'{path}: state dict keys must be strings, got {odd[:3]!r}')
    return state, where


def _is_state(obj: Any) -> bool:
    """A non-empty mapping of names to tensors."""
    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _find_state(obj: Mapping, path: str) -> Tuple[Mapping[str, Any], str]:
    for key in _NESTED:
        inner = obj.get(key)
        if _is_state(inner):
            return inner, f'a checkpoint dict, tensors under {key!r}'
        if isinstance(inner, Mapping) and inner and all(_is_state(v) for v in inner.values()):
            # MAP's segmentation snapshots (inplace_abn scripts/test_vistas.py) keep one
            # state dict per part: {'body': ..., 'head': ..., 'cls': ...}. Joined with '.',
            # the names are those of the whole model's state_dict ('body.mod1.conv1.weight').
            flat = {f'{part}.{k}': t for part, sd in inner.items() for k, t in sd.items()}
            return flat, f'a checkpoint dict, the state dicts of {list(inner)} under {key!r}'
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if tensors and len(tensors) == len(obj):
        return obj, 'a bare state dict'
    raise ConversionError(
        f'{path}: no state dict found (top-level keys: {list(obj)[:10]}); expected a dict of '
        f'tensors, or one nested under {list(_NESTED)}'
    )


def read_source(path: str, allow_pickle: bool = False) -> Tuple[Mapping[str, Any], str, str]:
    """Read a released checkpoint.

    Args:
        path: MXNet ``.params`` or PyTorch checkpoint.
        allow_pickle: Load PyTorch files with ``weights_only=False`` (trusted files only).

    Returns:
        tuple: (name -> array/tensor, container 'mxnet' or 'torch', description).

    Raises:
        ConversionError: truncated, corrupt or foreign file (a clear message, not the
            reader's traceback).
    """
    kind = sniff(path)
    if kind == 'mxnet':
        try:
            return load_mxnet_params(path), 'mxnet', 'an MXNet NDArray list (.params)'
        except MXNetFormatError as e:
            raise ConversionError(str(e)) from e
        except OSError as e:
            raise _os_error(e, f'read {path}') from e
    state, where = _unwrap(_torch_load(path, allow_pickle), path)
    return state, 'torch', f'a PyTorch file, {where}'


def sha256(path: str) -> str:
    """SHA-256 of a file (recorded in ``meta`` for provenance)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def check_destination(dst: str, force: bool = False, src: Optional[str] = None) -> None:
    """Refuse a destination that cannot take the converted checkpoint (before any work).

    A missing folder is fine (:func:`save_checkpoint` creates it); an empty name, a name
    ending in '/', a directory, a special file (even with ``force``), an existing file
    without ``force``, the source file itself (even with ``force``), or a folder that cannot
    be created or written to are errors.
    """
    if not dst:
        raise ConversionError('DST is empty; give a file name, e.g. wrn38.pth')
    if dst.endswith(('/', os.sep)) or (os.altsep and dst.endswith(os.altsep)):
        raise ConversionError(
            f"DST {dst!r} names a folder (it ends in '{dst[-1]}'); give a file name, e.g. "
            f'{osp.join(dst, "wrn38.pth")}'
        )
    if osp.isdir(dst):
        raise ConversionError(
            f'{dst} is a directory; give a file name, e.g. {osp.join(dst, "wrn38.pth")}'
        )
    if osp.lexists(dst) and not osp.isfile(dst):
        raise ConversionError(f'{dst} exists and is not a regular file; choose another DST')
    if src is not None and osp.isfile(dst) and osp.isfile(src) and osp.samefile(src, dst):
        raise ConversionError(f'DST {dst} is SRC; write the conversion to another file')
    if osp.exists(dst) and not force:
        raise ConversionError(f'{dst} already exists; pass --force to overwrite it')
    folder = osp.dirname(osp.abspath(dst))
    while not osp.lexists(folder):  # the nearest existing folder must be writable
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise ConversionError(f'cannot create the folder of {dst}: {folder} is not a directory')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConversionError(f'cannot write {dst}: {folder} is not writable (Permission denied)')


def _write(obj: Any, f: BinaryIO) -> None:
    torch.save(obj, f)


def save_checkpoint(conversion: Conversion, dst: str, force: bool = False) -> None:
    """Write ``{'meta': ..., 'state_dict': ...}`` (what mmengine's ``load_checkpoint`` reads).

    Atomic: the checkpoint is written to a temporary file in ``dst``'s folder, flushed,
    fsynced and renamed over ``dst`` (the folder is fsynced too), so a failure (full disk,
    a killed process) never leaves half a checkpoint; the temporary file is removed. A
    missing folder is created. Refuses to overwrite ``dst`` unless ``force``.

    Raises:
        ConversionError: see :func:`check_destination`; or the write failed (the message
            gives the reason, e.g. 'No space left on device').
    """
    check_destination(dst, force)
    folder = osp.dirname(osp.abspath(dst))
    try:
        os.makedirs(folder, exist_ok=True)
        # (a short prefix: the temporary's name must fit wherever dst's name fits)
        fd, tmp = tempfile.mkstemp(prefix='.wrn2mm-', suffix='.tmp', dir=folder)
    except OSError as e:
        raise _os_error(e, f'write {dst}') from e
    try:
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600: give the usual permissions
        with atomic_write(dst, tmp) as f:
            _write(dict(meta=conversion.meta, state_dict=conversion.state_dict), f)
            if not force and osp.lexists(dst):  # appeared while converting
                raise ConversionError(f'{dst} already exists; pass --force to overwrite it')
    except OSError as e:
        raise _os_error(e, f'write {dst}') from e
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)  # a failure before atomic_write opened it


def convert_file(
    src_path: str,
    dst_path: Optional[str] = None,
    src: str = 'auto',
    *,
    force: bool = False,
    drop: Sequence[str] = (),
    variant: Optional[str] = None,
    output_stride: Optional[int] = None,
    allow_pickle: bool = False,
    log: Callable[[str], None] = lambda s: None,
    warn: Callable[[str], None] = lambda s: None,
) -> Conversion:
    """Read ``src_path``, convert it, and (if ``dst_path``) save it.

    Args:
        src_path: The released checkpoint.
        dst_path: Where to write the converted checkpoint (None: do not write).
        src: 'auto' or one of 'mxnet', 'psa', 'mapillary', 'nvidia'.
        force: Overwrite ``dst_path``.
        drop, variant, output_stride: See :func:`convert_state_dict`.
        allow_pickle: See :func:`read_source`.
        log: Receives one line per step (the CLI prints them).
        warn: Receives each guess the conversion made (``meta['guessed']``: e.g. a
            variant read from the file name), with the option that overrides it.

    Returns:
        Conversion: with ``meta['source']`` completed (file name, container, sha256).

    Raises:
        ConversionError: an unreadable or malformed source, a bad destination, a failed
            write, or tensors whose shapes the model the recorded arguments build does
            not have (:func:`~wider_mm.converters.recorded.check_converted_shapes`);
            nothing is written then.
        FileNotFoundError: ``src_path`` does not exist.
    """
    if src != 'auto' and src not in SOURCES:
        raise ConversionError(f'unknown --src {src!r}; choose auto or one of {list(SOURCES)}')
    if dst_path is not None:
        check_destination(dst_path, force, src_path)
    state, container, where = read_source(src_path, allow_pickle)
    log(f'read {src_path}: {where}, {len(state)} arrays')
    candidates = ('mxnet',) if container == 'mxnet' else tuple(s for s in SOURCES if s != 'mxnet')
    if src == 'auto':
        src, found = detect_format(state, candidates)
        log(f'detected {found}')
    elif src not in candidates:
        raise ConversionError(
            f'{src_path} is {where}, which cannot be --src {src}; '
            f'use one of {list(candidates)} or auto'
        )
    conv = convert_state_dict(
        state,
        src,
        name_hint=osp.basename(src_path),
        drop=drop,
        variant=variant,
        output_stride=output_stride,
    )
    check_converted_shapes(conv.state_dict, conv.meta, conv.renamed)
    try:
        digest = sha256(src_path)
    except OSError as e:
        raise _os_error(e, f'read {src_path}') from e
    conv.meta['source'].update(file=osp.basename(src_path), container=container, sha256=digest)
    if dst_path is not None:
        save_checkpoint(conv, dst_path, force=force)
    for guess in conv.meta.get('guessed', {}).values():
        warn(guess)
    return conv


__all__ = [
    'sniff',
    'read_source',
    'check_destination',
    'save_checkpoint',
    'convert_file',
    'sha256',
]
