"""tools/check_dataset.py: every bad file of every split, a summary, exit codes 0 / 1 / 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from common import edit_png, load_tool, split_names, tiny_voc

TINY_VOC = Path(__file__).resolve().parent / 'configs' / 'tiny_voc.py'


check_tool = load_tool('check_dataset')


@pytest.fixture(scope='module')
def clean(tmp_path_factory) -> Path:
    return tiny_voc(tmp_path_factory.mktemp('cd_data') / 'demo', seed=5)


def _opts(root: Path) -> list:
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ['--cfg-options', *[f'{k}.dataset.data_root={root}' for k in loaders]]


def _set_77(a):
    a = a.copy()
    a[-2:, -2:] = 77
    return a


def test_clean_data_exit_0_with_summary(clean, capsys):
    assert check_tool.main([str(TINY_VOC), '--no-progress', *_opts(clean)]) == 0
    out = capsys.readouterr().out
    assert 'train: 4 samples, 0 bad; val: 3 samples, 0 bad' in out
    assert 'test: skipped (same dataset as val)' in out  # the config tests on val
    assert '0 bad of 7 samples: all annotations fit' in out


def test_reports_every_bad_file_and_exits_1(clean, tmp_path, capsys):
    root = tmp_path / 'VOC2012'
    shutil.copytree(clean, root)
    ann = root / 'SegmentationClass'
    train, val = split_names(root, 'train'), split_names(root, 'val')
    bad = {
        train[0]: 'values [77]',
        train[2]: '32x40 (HxW) but its image is 32x48',
        val[1]: 'values [77]',
        val[2]: 'no such file',
    }
    edit_png(ann / f'{train[0]}.png', _set_77)
    edit_png(ann / f'{train[2]}.png', lambda a: a[:, :40].copy())
    edit_png(ann / f'{val[1]}.png', _set_77)
    (ann / f'{val[2]}.png').unlink()
    code = check_tool.main([str(TINY_VOC), '--split', 'train', 'val', *_opts(root)])
    out = capsys.readouterr().out
    assert code == 1
    lines = [ln for ln in out.splitlines() if ln.startswith('BAD ')]
    assert len(lines) == len(bad), out
    for name, problem in bad.items():
        (line,) = [ln for ln in lines if f'{name}.png' in ln]
        assert problem in line and str(root / 'JPEGImages' / f'{name}.jpg') in line
    assert 'train: 4 samples, 2 bad; val: 3 samples, 2 bad' in out
    assert '4 bad of 7 samples' in out
    assert '4/4' in out and '3/3' in out  # mmengine's progress bar ran over each split


def test_reduce_zero_label_dataset(clean, tmp_path, capsys):
    """mmseg's ADE20KDataset (150 classes, reduce_zero_label: 0 -> 255, v -> v-1) on the same
    files: VOC ids 0..15 and 255 are all valid there; a 151 loads as 150 and is bad."""
    root = tmp_path / 'VOC2012'
    shutil.copytree(clean, root)
    ade = [
        'train_dataloader.dataset.type=ADE20KDataset',
        'train_dataloader.dataset.metainfo=None',
        'train_dataloader.dataset.ann_file=',  # ADE20K lists the image folder
        'train_dataloader.dataset.data_prefix.img_path=JPEGImages',
        'train_dataloader.dataset.data_prefix.seg_map_path=SegmentationClass',
    ]
    argv = [str(TINY_VOC), '--split', 'train', '--no-progress', *_opts(root), *ade]
    assert check_tool.main(argv) == 0
    assert 'train: 7 samples, 0 bad' in capsys.readouterr().out
    name = split_names(root, 'val')[0]

    def _set_151(a):
        a = a.copy()
        a[0, 0] = 151
        return a

    edit_png(root / 'SegmentationClass' / f'{name}.png', _set_151)
    assert check_tool.main(argv) == 1
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith('BAD ')]
    assert f'{name}.png' in line and 'values [150]' in line and 'class ids 0..149' in line
    assert 'in the file: [151]' in line and 'reduce_zero_label' in line


def test_bad_config_or_folder_exit_2(tmp_path, capsys):
    missing = tmp_path / 'nowhere'
    assert check_tool.main([str(TINY_VOC), *_opts(missing)]) == 2
    assert 'does not exist' in capsys.readouterr().err
