"""test.py's output paths: absent or empty folders only, new files only; the server archive."""

from __future__ import annotations

import zipfile

import pytest

from wider_mm.engine.outputs import (
    OutputExistsError,
    check_test_outputs,
    require_empty_dir,
    require_new_file,
    submission_archive,
)


def test_absent_or_empty_folders_pass(tmp_path):
    require_empty_dir(str(tmp_path / 'new'), '--out')
    (tmp_path / 'empty').mkdir()
    require_empty_dir(str(tmp_path / 'empty'), '--out')
    require_new_file(str(tmp_path / 'preds.pkl'), '--out')
    check_test_outputs(str(tmp_path), out=str(tmp_path / 'empty'), show_dir='vis')


def test_non_empty_folder_or_existing_file_is_refused_in_one_line(tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'a.png').write_bytes(b'x')
    with pytest.raises(OutputExistsError) as err:
        require_empty_dir(str(tmp_path / 'out'), '--out')
    msg = str(err.value)
    assert str(tmp_path / 'out') in msg and 'not empty (1 entries: a.png)' in msg
    assert 'remove the folder or pass a new or empty --out folder' in msg and '\n' not in msg
    with pytest.raises(OutputExistsError, match='is a file, not a folder'):
        require_empty_dir(str(tmp_path / 'out' / 'a.png'), '--show-dir')
    with pytest.raises(OutputExistsError, match='already exists'):
        require_new_file(str(tmp_path / 'out' / 'a.png'), '--out')


def test_check_test_outputs_resolves_the_folders_test_py_writes(tmp_path):
    work = tmp_path / 'work'
    (work / 'vis' / 'vis_data').mkdir(parents=True)  # --show-dir vis: inside the work dir
    with pytest.raises(OutputExistsError, match='--show-dir'):
        check_test_outputs(str(work), show_dir='vis')
    (work / 'format_results').mkdir()
    (work / 'format_results' / 'results.zip').write_bytes(b'x')
    with pytest.raises(OutputExistsError, match='--format-only'):
        check_test_outputs(str(work), format_only=True)
    # with --out, --format-only writes there instead
    check_test_outputs(str(work), out=str(tmp_path / 'sub'), format_only=True)
    with pytest.raises(OutputExistsError, match='already exists'):
        check_test_outputs(
            str(work), out=str(work / 'format_results' / 'results.zip'), out_is_file=True
        )


def test_submission_archive_packs_every_png_by_its_path_and_nothing_else(tmp_path):
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    for name in ('x.png', 'a/y.png', 'a/b/z.png', 'a/notes.txt'):
        (tmp_path / name).write_bytes(b'png')
    pngs = ['a/b/z.png', 'a/y.png', 'x.png']
    path = submission_archive(str(tmp_path), 'cityscapes')
    assert path == str(tmp_path / 'cityscapes_results.zip')
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == pngs and zf.read('a/y.png') == b'png'
    path = submission_archive(str(tmp_path), 'generic')  # the first archive is no PNG
    assert path == str(tmp_path / 'results.zip')
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == pngs


def test_the_voc_archive_is_the_one_its_metric_wrote(tmp_path):
    assert submission_archive(str(tmp_path), 'voc') is None
    (tmp_path / 'x.png').write_bytes(b'png')
    tgz = tmp_path / 'VOC2012_comp6_results.tar.gz'
    tgz.write_bytes(b'tgz')
    assert submission_archive(str(tmp_path), 'voc') == str(tgz)
    assert sorted(p.name for p in tmp_path.iterdir()) == [tgz.name, 'x.png']  # nothing packed
