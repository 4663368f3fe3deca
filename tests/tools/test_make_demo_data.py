"""Tests of tools/make_demo_data.py: each flag reaches its argument; errors exit 2 in one line.

The data set itself is tested in tests/datasets/test_demo.py.
"""

from __future__ import annotations

from pathlib import Path

from common import load_tool

from wider_mm.datasets.demo import make_demo_data

mdd = load_tool('make_demo_data')


def _files(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_flags_reach_their_arguments(tmp_path, capsys):
    """Every flag set to a non-default value: the same bytes as the package call."""
    argv = ['--num-train', '3', '--num-val', '2', '--num-test', '1', '--size', '40', '24']
    argv += ['--seed', '7', '--layouts', 'cityscapes']
    assert mdd.main([str(tmp_path / 'cli'), *argv]) == 0
    assert 'demo data written to' in capsys.readouterr().out
    make_demo_data(str(tmp_path / 'api'), 3, 2, 1, (40, 24), seed=7, layouts=('cityscapes',))
    assert _files(tmp_path / 'cli') == _files(tmp_path / 'api') != {}
    assert mdd.main([str(tmp_path / 'cli'), '--force', *argv[:-2], '--layouts', 'voc']) == 0
    assert not (tmp_path / 'cli' / 'cityscapes').exists()
    assert (tmp_path / 'cli' / 'VOCdevkit').is_dir()


def test_errors_exit_2_in_one_line(tmp_path, capsys):
    out = tmp_path / 'user'
    out.mkdir()
    (out / 'mine.txt').write_text('keep')
    assert mdd.main([str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('make_demo_data.py: error: ') and 'refusing to overwrite' in err
    assert err.count('\n') == 1 and (out / 'mine.txt').read_text() == 'keep'
    assert mdd.main([str(tmp_path / 'tiny'), '--size', '8', '8']) == 2
    assert 'at least 16x16' in capsys.readouterr().err
