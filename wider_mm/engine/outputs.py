"""Output paths of ``tools/test.py`` that must not hold earlier files.

``--out DIR`` (prediction PNGs), ``--show-dir DIR`` (overlays) and ``--format-only``
(server files and their archive) write files named after the test images, so a folder
from an earlier run (or the user's own files) would be overwritten or mixed into this run's
results without a word. The choice here: refuse a folder that exists and is not empty
(one line naming it and the fix) before anything is built or written, rather than write a
new timestamped subfolder, so the paths stay the ones the user typed. A classification
``--out FILE`` (.pkl of predictions, or the metrics file) must not exist either.
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Optional


class OutputExistsError(FileExistsError):
    """An output path of this run already holds files; the message names it and the fix."""


def require_empty_dir(path: str, flag: str) -> None:
    """Refuse ``path`` (the folder of option ``flag``) if it exists and is not empty.

    Raises:
        OutputExistsError: ``path`` is a file, or a folder with entries.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise OutputExistsError(
            f'{flag} {path} is a file, not a folder; pass a new or empty folder'
        )
    if osp.isdir(path):
        entries = sorted(os.listdir(path))
        if entries:
            shown = ', '.join(entries[:3]) + (', ...' if len(entries) > 3 else '')
            raise OutputExistsError(
                f'{flag} {path} is not empty ({len(entries)} entries: {shown}); test.py '
                'never overwrites earlier results: remove the folder or pass a new or empty '
                f'{flag} folder'
            )


def require_new_file(path: str, flag: str) -> None:
    """Refuse ``path`` (the file of option ``flag``) if it exists.

    Raises:
        OutputExistsError: ``path`` exists.
    """
    if osp.exists(path):
        raise OutputExistsError(
            f'{flag} {path} already exists; test.py never overwrites earlier results: '
            f'remove it or pass a new {flag} file name'
        )


def check_test_outputs(
    work_dir: str,
    out: Optional[str] = None,
    out_is_file: bool = False,
    show_dir: Optional[str] = None,
    format_only: bool = False,
) -> None:
    """Refuse ``tools/test.py`` outputs that would overwrite existing files.

    Args:
        work_dir: The run's work dir (a relative ``show_dir`` lies inside it, and
            ``--format-only`` without ``--out`` writes ``WORK_DIR/format_results``).
        out: ``--out``: a folder (segmentation) or a file (``out_is_file``).
        out_is_file: ``--out`` names a file (classification predictions, or metrics).
        show_dir: ``--show-dir``.
        format_only: ``--format-only``.

    Raises:
        OutputExistsError: naming the path and the fix.
    """
    if out and out_is_file:
        require_new_file(out, '--out')
    elif out:
        require_empty_dir(out, '--out')
    elif format_only:
        require_empty_dir(osp.join(work_dir, 'format_results'), '--format-only')
    if show_dir:
        require_empty_dir(
            show_dir if osp.isabs(show_dir) else osp.join(work_dir, show_dir), '--show-dir'
        )
