"""Atomic file writes, shared by the training checkpoints and the converter."""

from __future__ import annotations

import contextlib
import os
import os.path as osp
from typing import BinaryIO, Iterator


def fsync_dir(folder: str) -> None:
    """Make a rename inside ``folder`` durable, where the platform and file system allow it."""
    if os.name != 'posix':  # directories cannot be opened for fsync elsewhere
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str, tmp: str) -> Iterator[BinaryIO]:
    """Write ``path`` so that a reader sees the old file or the new one, whole.

    Yields ``tmp`` (a file in ``path``'s folder, so the rename cannot cross file systems)
    opened for writing; when the block ends without error it is flushed, fsynced and renamed
    over ``path``, and the folder is fsynced. On any error ``tmp`` is removed, ``path`` is
    unchanged and the error propagates (the caller words it).
    """
    try:
        with open(tmp, 'wb') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)  # still there only if something failed
    fsync_dir(osp.dirname(osp.abspath(path)))
