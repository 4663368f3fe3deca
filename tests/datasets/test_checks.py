"""add_annotation_checks on real configs, and the checked mmseg datasets of each split."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from common import edit_png, split_names, tiny_voc
from mmengine.config import Config
from mmseg.registry import DATASETS
from mmseg.utils import register_all_modules

from wider_mm.datasets import SegAnnotationError
from wider_mm.datasets.checks import add_annotation_checks, check_args

ROOT = Path(__file__).resolve().parents[2]
TINY_VOC = ROOT / 'tests' / 'tools' / 'configs' / 'tiny_voc.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def voc(tmp_path_factory) -> Path:
    """Tiny VOC-layout data: 4 train, 3 val images of 48x32, 5 demo classes."""
    return tiny_voc(tmp_path_factory.mktemp('seg_data') / 'demo', seed=3)


_CFG = {}


def _cfg(root: Path, **options) -> Config:
    if not _CFG:  # parsing the mmseg:: bases takes a second; parse once
        register_all_modules(init_default_scope=True)
        _CFG['tiny_voc'] = Config.fromfile(str(TINY_VOC))
    cfg = copy.deepcopy(_CFG['tiny_voc'])
    cfg.merge_from_dict({f'{k}.dataset.data_root': str(root) for k in LOADERS})
    cfg.merge_from_dict(options)
    return cfg


def _value_77(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[:3, :3] = 77
    return a


def _narrower(a: np.ndarray) -> np.ndarray:
    return a[:, :40].copy()


def _pipeline_types(pipeline) -> list:
    return [t['type'] for t in pipeline]


def test_checks_go_right_after_load_annotations_with_the_dataset_classes(voc):
    cfg = _cfg(voc)
    notes = add_annotation_checks(cfg)
    assert len(notes) == 3 and all('class ids 0..4' in n for n in notes), notes
    for loader in LOADERS:
        pipeline = cfg[loader].dataset.pipeline
        types = _pipeline_types(pipeline)
        at = types.index('LoadAnnotations')
        assert types[at + 1] == 'CheckSegAnnotation', (loader, types)
        assert types.count('CheckSegAnnotation') == 1
        assert pipeline[at + 1].num_classes == 5 and pipeline[at + 1].ignore_index == 255
    # idempotent: the launch tools may see a config that already has them
    assert add_annotation_checks(cfg) == []
    assert _pipeline_types(cfg.train_dataloader.dataset.pipeline).count('CheckSegAnnotation') == 1


def test_opt_out_inserts_nothing(voc):
    cfg = _cfg(voc, check_annotations=False)
    before = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    notes = add_annotation_checks(cfg)
    assert notes and 'off' in notes[0]
    assert cfg.train_dataloader.dataset.pipeline == before


def test_tta_wrappers_and_class_sources(voc):
    cfg = _cfg(voc)
    # TestTimeAug: each step lists alternatives, so the check is a step of its own
    cfg.test_dataloader.dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)
    # ConcatDataset of a dataset without metainfo (PascalVOCDataset's 21 classes) and a
    # BaseSegDataset (no classes: the decode head's num_classes)
    inner = copy.deepcopy(cfg.train_dataloader.dataset)
    voc21 = dict(inner, metainfo=None)
    base = dict(inner, type='BaseSegDataset', metainfo=None)
    cfg.train_dataloader.dataset = dict(type='ConcatDataset', datasets=[voc21, base])
    cfg.model.decode_head.ignore_index = 254
    cfg.model.decode_head.num_classes = 21  # heads must fit the data (VOC's 21 classes)
    cfg.val_dataloader.dataset.metainfo = cfg.test_dataloader.dataset.metainfo = None
    add_annotation_checks(cfg)
    steps = cfg.test_dataloader.dataset.pipeline[1]['transforms']
    at = [[t['type'] for t in s] for s in steps].index(['LoadAnnotations'])
    assert [t['type'] for t in steps[at + 1]] == ['CheckSegAnnotation']
    subs = cfg.train_dataloader.dataset.datasets
    checks = [s.pipeline[_pipeline_types(s.pipeline).index('CheckSegAnnotation')] for s in subs]
    assert [c.num_classes for c in checks] == [21, cfg.model.decode_head.num_classes]
    assert {c.ignore_index for c in checks} == {254}
    assert check_args(cfg, dict(type='PascalVOCDataset')) == dict(num_classes=21, ignore_index=254)


def test_tta_pipeline_with_the_check_runs_and_names_a_bad_file(voc, tmp_path):
    root = tmp_path / 'VOC2012'
    shutil.copytree(voc, root)
    cfg = _cfg(root)
    cfg.test_dataloader.dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)
    add_annotation_checks(cfg)
    sample = DATASETS.build(cfg.test_dataloader.dataset)[0]
    assert len(sample['inputs']) == 4  # 2 scales x 2 flips: the check added no branch
    name = split_names(root, 'val')[0]
    edit_png(root / 'SegmentationClass' / f'{name}.png', _value_77)
    with pytest.raises(SegAnnotationError, match=f'{name}.png'):
        DATASETS.build(cfg.test_dataloader.dataset)[0]


def _first_error(dataset) -> SegAnnotationError:
    with pytest.raises(SegAnnotationError) as err:
        for i in range(len(dataset)):
            dataset[i]
    return err.value


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
@pytest.mark.parametrize('bad', [_value_77, _narrower], ids=['value77', 'size'])
def test_each_split_names_the_bad_file(voc, tmp_path, split, bad):
    """The real pipelines of the config (train: random resize/crop/flip; val/test: resize)."""
    root = tmp_path / 'VOC2012'
    shutil.copytree(voc, root)
    ann_split = 'train' if split == 'train' else 'val'  # the config tests on val
    name = split_names(root, ann_split)[1]
    edit_png(root / 'SegmentationClass' / f'{name}.png', bad)
    cfg = _cfg(root)
    add_annotation_checks(cfg)
    err = _first_error(DATASETS.build(cfg[f'{split}_dataloader'].dataset))
    assert err.seg_map_path == str(root / 'SegmentationClass' / f'{name}.png')
    assert err.img_path == str(root / 'JPEGImages' / f'{name}.jpg')
    assert err.seg_map_path in str(err) and err.img_path in str(err)
    assert ('values [77]' if bad is _value_77 else '32x40 (HxW) but its image is 32x48') in str(err)


def test_without_the_check_bad_labels_pass_silently(voc, tmp_path):
    """What the check prevents: mmseg's pipeline hands a 77 on to the model and metric."""
    root = tmp_path / 'VOC2012'
    shutil.copytree(voc, root)
    for name in split_names(root, 'val'):
        edit_png(root / 'SegmentationClass' / f'{name}.png', _value_77)
    cfg = _cfg(root, check_annotations=False)
    add_annotation_checks(cfg)
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    seen = set()
    for i in range(len(dataset)):
        seen |= set(np.unique(dataset[i]['data_samples'].gt_sem_seg.data.numpy()))
    assert 77 in seen


def test_head_classes_must_match_the_data(voc):
    from wider_mm.engine.config_checks import ConfigError

    add_annotation_checks(_cfg(voc))  # 5 demo classes, 5-class heads: fine
    with pytest.raises(ConfigError, match=r'model.decode_head.num_classes=3 but .* has 5 '):
        add_annotation_checks(_cfg(voc, **{'model.decode_head.num_classes': 3}))
    cfg = _cfg(voc)
    cfg.model.auxiliary_head = [dict(type='FCNHead', num_classes=5), dict(num_classes=7)]
    with pytest.raises(ConfigError, match=r'set model.auxiliary_head.1.num_classes=5'):
        add_annotation_checks(cfg)
