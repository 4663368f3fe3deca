"""Output paths of ``tools/test.py`` that must not hold earlier files.

``--out DIR`` (prediction PNGs), ``--show-dir DIR`` (overlays) and ``--format-only``
(server files and their archive) write files named after the test images, so a folder
from an earlier run (or the user's own files) would be overwritten or mixed into this run's
results without a word. The choice here: refuse a folder that exists and is not empty
(one line naming it and the fix) before anything is built or written, rather than write a
new timestamped subfolder, so the paths stay the ones the user typed. A classification
``--out FILE`` (.pkl of predictions, or the metrics file) must not exist either.

:func:`submission_archive` packs a ``--format-only`` folder (which was empty before the
run) for the evaluation server.
"""

from __future__ import annotations

import glob
import os
import os.path as osp
from typing import Optional

#: ``--format-only`` archive names by kind (VOC's is the VOCSubmissionMetric's own).
ARCHIVE_NAMES = {'cityscapes': 'cityscapes_results.zip', 'generic': 'results.zip'}


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


def submission_archive(out_dir: str, kind: str) -> Optional[str]:
    """The evaluation-server archive of a ``--format-only`` run's folder ``out_dir``.

    Args:
        out_dir: The folder the server files were written to.
        kind: What :func:`~wider_mm.engine.test_setup.setup_format_only` returned:
            'voc' (``VOCSubmissionMetric`` packed its ``results/`` folder itself: its
            .tar.gz is returned, None if it wrote none), 'cityscapes' or 'generic' (every
            PNG under ``out_dir``, paths relative to it, is packed into
            ``out_dir/`` :data:`ARCHIVE_NAMES` ``[kind]``).

    Returns:
        The archive's path, or None.
    """
    if kind == 'voc':
        found = sorted(glob.glob(osp.join(glob.escape(out_dir), '*.tar.gz')))
        return found[0] if found else None
    from wider_mm.evaluation.metrics import pack_folder  # (mmseg: only where it is needed)

    pngs = sorted(
        osp.relpath(p, out_dir)
        for p in glob.glob(osp.join(glob.escape(out_dir), '**', '*.png'), recursive=True)
    )
    return pack_folder(out_dir, osp.join(out_dir, ARCHIVE_NAMES[kind]), members=pngs)
