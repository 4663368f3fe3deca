"""train.py / test.py on bad data: the annotation check names the file (train, val, test),
its opt-out, and test.py's refusal to write into non-empty output folders."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from common import edit_png, load_tool, split_names, tiny_voc

from wider_mm.datasets import SegAnnotationError
from wider_mm.engine.test_setup import drop_annotation_loading

CONFIGS = Path(__file__).resolve().parent / 'configs'
TINY_VOC = CONFIGS / 'tiny_voc.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


train_tool = load_tool('train')
test_tool = load_tool('test')


@pytest.fixture(scope='module')
def clean(tmp_path_factory) -> Path:
    return tiny_voc(tmp_path_factory.mktemp('dc_data') / 'demo', seed=7)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    """Weights of the tiny model as built (test.py only needs a checkpoint that fits)."""
    from mmseg.apis import init_model

    model = init_model(str(TINY_VOC), device='cpu')
    ckpt = tmp_path_factory.mktemp('dc_ckpt') / 'init.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return ckpt


def _copy(clean: Path, tmp_path: Path) -> Path:
    root = tmp_path / 'VOC2012'
    shutil.copytree(clean, root)
    return root


def _opts(root: Path, *extra) -> list:
    vis = f'visualizer.name=vis_{uuid.uuid4().hex[:8]}'  # mmengine keeps visualizers by name
    return ['--cfg-options', vis, *[f'{k}.dataset.data_root={root}' for k in LOADERS], *extra]


def _name(root: Path, split: str, i: int) -> str:
    return split_names(root, split)[i]


def _all_77(a):
    return np.full_like(a, 77)


def _assert_names(err: SegAnnotationError, root: Path, name: str, problem: str) -> None:
    msg = str(err)
    assert str(root / 'SegmentationClass' / f'{name}.png') in msg, msg
    assert str(root / 'JPEGImages' / f'{name}.jpg') in msg and problem in msg, msg


def test_train_value_77_names_the_file_and_the_opt_out_restores_the_old_failure(clean, tmp_path):
    root = _copy(clean, tmp_path)
    name = _name(root, 'train', 2)
    edit_png(root / 'SegmentationClass' / f'{name}.png', _all_77)
    argv = [str(TINY_VOC), '--work-dir', str(tmp_path / 'w')]
    run = ['train_cfg.max_iters=2', 'train_cfg.val_interval=100']  # 2 x 2 = all 4 images
    with pytest.raises(SegAnnotationError) as err:
        train_tool.main([*argv, *_opts(root, *run)])
    _assert_names(err.value, root, name, 'values [77]')
    # without the check: what happened before it, a loss error that names no file
    with pytest.raises((IndexError, RuntimeError)) as old:
        train_tool.main([*argv, *_opts(root, *run, 'check_annotations=False')])
    assert not isinstance(old.value, SegAnnotationError) and name not in str(old.value)


def test_val_size_mismatch_names_the_file(clean, tmp_path):
    root = _copy(clean, tmp_path)
    name = _name(root, 'val', 1)
    edit_png(root / 'SegmentationClass' / f'{name}.png', lambda a: a[:, :40].copy())
    with pytest.raises(SegAnnotationError) as err:
        train_tool.main(
            [
                str(TINY_VOC),
                '--work-dir',
                str(tmp_path / 'w'),
                *_opts(root, 'train_cfg.max_iters=1', 'train_cfg.val_interval=1'),
            ]
        )
    _assert_names(err.value, root, name, '32x40 (HxW) but its image is 32x48')


def test_test_value_77_names_the_file(clean, checkpoint, tmp_path):
    root = _copy(clean, tmp_path)
    name = _name(root, 'val', 2)  # the config tests on val

    def _some_77(a):
        a = a.copy()
        a[4:6, 4:6] = 77
        return a

    edit_png(root / 'SegmentationClass' / f'{name}.png', _some_77)
    with pytest.raises(SegAnnotationError) as err:
        test_tool.main(
            [str(TINY_VOC), str(checkpoint), '--work-dir', str(tmp_path / 'w'), *_opts(root)]
        )
    _assert_names(err.value, root, name, 'values [77] (4 pixels)')


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob('*') if p.is_file()}


@pytest.mark.parametrize('flag', ['--out', '--show-dir', '--format-only'])
def test_test_refuses_non_empty_output_folders_and_keeps_their_files(
    clean, checkpoint, tmp_path, flag
):
    work = tmp_path / 'w'
    folder = {'--format-only': work / 'format_results'}.get(flag, tmp_path / 'results')
    (folder / 'vis_data').mkdir(parents=True)
    # same names as this run's PNGs would have
    name = _name(clean, 'val', 0)
    (folder / f'{name}.png').write_bytes(b'an earlier result')
    (folder / 'vis_data' / 'notes.txt').write_text('mine')
    before = _snapshot(folder)
    args = {'--out': ['--out', str(folder)], '--show-dir': ['--show-dir', str(folder)]}
    argv = [str(TINY_VOC), str(checkpoint), '--work-dir', str(work)]
    with pytest.raises(SystemExit, match='not empty') as err:
        test_tool.main([*argv, *args.get(flag, [flag]), *_opts(clean)])
    assert str(folder) in str(err.value) and '\n' not in str(err.value)
    assert _snapshot(folder) == before


def test_format_only_drops_the_check_with_the_annotation_loading():
    """A config dumped by a checked run holds CheckSegAnnotation; --format-only (no ground
    truth) must drop it with LoadAnnotations, also inside TestTimeAug."""
    check = dict(type='CheckSegAnnotation', num_classes=5)
    tta = dict(type='TestTimeAug', transforms=[[dict(type='LoadAnnotations')], [check]])
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), check, tta]
    out = drop_annotation_loading(pipeline)
    assert out[0] == dict(type='LoadImageFromFile') and len(out) == 2
    assert out[1]['transforms'] == []
