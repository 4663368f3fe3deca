"""Unit tests of wider_mm.evaluation: per-class IoU, the VOC submission writer, packing,
and the published-results table."""

from __future__ import annotations

import tarfile
import zipfile

import numpy as np
import pytest
import torch
from mmseg.datasets import PascalVOCDataset
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from PIL import Image

from wider_mm.evaluation import (
    PUBLISHED,
    ClasswiseIoUMetric,
    VOCSubmissionMetric,
    find_published,
    pack_folder,
    voc_palette,
)
from wider_mm.evaluation.metrics import _inverse_label_map

CLASSES = ('background', 'aeroplane', 'bird', 'car', 'person')


def _sample(pred: np.ndarray, gt: np.ndarray, name: str) -> dict:
    return dict(
        pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]),
        img_path=f'/data/JPEGImages/{name}.jpg',
    )


def test_voc_palette_matches_mmseg_and_voc_void():
    pal = voc_palette()
    assert len(pal) == 768
    assert pal[:63] == [c for rgb in PascalVOCDataset.METAINFO['palette'] for c in rgb]
    assert pal[255 * 3 :] == [224, 224, 192]  # the VOC void/border colour


def test_registered_in_mmseg_metrics():
    assert METRICS.get('ClasswiseIoUMetric') is ClasswiseIoUMetric
    assert METRICS.get('VOCSubmissionMetric') is VOCSubmissionMetric


def test_classwise_iou_same_summary_and_per_class_numbers():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(3):
        gt = rng.integers(0, 4, (8, 10)).astype(np.int64)  # class 4 never in gt ...
        gt[0, :3] = 255
        pred = np.where(rng.random((8, 10)) < 0.7, gt, rng.integers(0, 4, (8, 10)))
        samples.append(_sample(pred.astype(np.int64), gt, f'im{i}'))  # ... nor predicted
    ours, ref = ClasswiseIoUMetric(), IoUMetric()
    for m in (ours, ref):
        m.dataset_meta = dict(classes=CLASSES)
        m.process({}, samples)
    assert ours.evaluate(3) == ref.evaluate(3)
    gt = np.concatenate([s['gt_sem_seg']['data'].numpy().ravel() for s in samples])
    pred = np.concatenate([s['pred_sem_seg']['data'].numpy().ravel() for s in samples])
    keep = gt != 255
    for c, name in enumerate(CLASSES[:4]):
        inter = np.sum((pred[keep] == c) & (gt[keep] == c))
        union = np.sum((pred[keep] == c) | (gt[keep] == c))
        assert ours.per_class['IoU'][name] == pytest.approx(100 * inter / union, abs=0.01)
    assert ours.per_class['IoU']['person'] is None
    assert set(ours.per_class) == {'IoU', 'Acc'}


def test_voc_submission_maps_back_to_voc_ids_and_packs(tmp_path):
    metric = VOCSubmissionMetric(output_dir=str(tmp_path))
    # the demo's class subset: VOC ids 0, 1, 3, 7, 15 -> 0..4 (mmseg's label_map)
    label_map = {i: 255 for i in range(21)}
    label_map.update({0: 0, 1: 1, 3: 2, 7: 3, 15: 4})
    metric.dataset_meta = dict(classes=CLASSES, label_map=label_map)
    pred = np.array([[0, 1, 2], [3, 4, 4]], np.int64)
    metric.process(
        {}, [_sample(pred, pred, '2008_000001'), _sample(pred[:, ::-1].copy(), pred, '2008_000002')]
    )
    assert metric.evaluate(2) == {}
    layout = 'results/VOC2012/Segmentation/comp6_test_cls'
    png = Image.open(tmp_path / layout / '2008_000001.png')
    assert png.mode == 'P' and png.getpalette()[:63] == voc_palette(21)
    assert np.array_equal(np.array(png), [[0, 1, 3], [7, 15, 15]])
    with tarfile.open(tmp_path / 'VOC2012_comp6_results.tar.gz') as tar:
        assert sorted(tar.getnames()) == [f'{layout}/2008_000001.png', f'{layout}/2008_000002.png']


def test_voc_submission_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='competition must be one of'):
        VOCSubmissionMetric(output_dir=str(tmp_path), competition='comp9')
    with pytest.raises(ValueError, match='archive must be one of'):
        VOCSubmissionMetric(output_dir=str(tmp_path), archive='rar')


def test_inverse_label_map():
    assert _inverse_label_map({}) is None and _inverse_label_map(None) is None
    lut = _inverse_label_map(dict(label_map={0: 0, 1: 255, 5: 1}))
    assert lut[0] == 0 and lut[1] == 5


def test_pack_folder(tmp_path):
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    (tmp_path / 'a' / 'b' / 'x.png').write_bytes(b'1')
    (tmp_path / 'c.png').write_bytes(b'2')
    tgz = pack_folder(str(tmp_path), str(tmp_path / 'out.tar.gz'))
    with tarfile.open(tgz) as tar:
        assert sorted(tar.getnames()) == ['a/b/x.png', 'c.png']
    zp = pack_folder(str(tmp_path), str(tmp_path / 'only.zip'), members=['a'])
    with zipfile.ZipFile(zp) as zf:
        assert zf.namelist() == ['a/b/x.png']
    with pytest.raises(ValueError, match='must end with'):
        pack_folder(str(tmp_path), str(tmp_path / 'x.rar'))
    with pytest.raises(FileNotFoundError):
        pack_folder(str(tmp_path), str(tmp_path / 'y.zip'), members=['nope'])


def test_published_table():
    voc_val = find_published('PascalVOCDataset', 'mIoU', split='val')
    assert [p.value for p in voc_val] == [80.84, 82.86]
    assert [p.value for p in find_published('cityscapes', model='a2', split='test')] == [
        78.4,
        79.4,
        79.9,
        80.6,
    ]
    top1 = find_published('imagenet', 'top1_err', model='A1')
    assert len(top1) == 1 and top1[0].value == 19.54 and top1[0].lower_is_better
    assert find_published('nope') == []
    keys = {(p.zoo_model, p.dataset, p.split, p.model, p.protocol, p.metric) for p in PUBLISHED}
    assert len(keys) == len(PUBLISHED)  # one number per zoo model, setting and metric
