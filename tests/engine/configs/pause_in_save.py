"""Imported into a training process by tiny_voc_pause.py: the fsync of the file named by the
environment variable ``PAUSE_AT`` (a basename, e.g. ``iter_4.pth.tmp``) blocks, after
writing the path it blocks in to the file ``PAUSED``, so that the test can SIGKILL the
process in the middle of that checkpoint's write (its bytes written, not yet renamed)."""

import os
import time

_fsync = os.fsync


def _pausing_fsync(fd: int) -> None:
    try:
        name = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        name = ''
    if os.path.basename(name) == os.environ.get('PAUSE_AT'):
        with open(os.environ['PAUSED'], 'w') as f:
            f.write(name)
        time.sleep(600)
    _fsync(fd)


os.fsync = _pausing_fsync
