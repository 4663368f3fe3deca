"""CheckSegAnnotation on single samples: sizes, values, ignore index, reduce_zero_label."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS
from PIL import Image
from torch.utils.data import DataLoader

from wider_mm.datasets import CheckSegAnnotation, SegAnnotationError, find_seg_map_problem


def _sample(seg: np.ndarray, shape=None, **extra) -> dict:
    return dict(
        gt_seg_map=seg,
        ori_shape=tuple(shape or seg.shape[:2]),
        img_path='/data/img/a.jpg',
        seg_map_path='/data/ann/a.png',
        **extra,
    )


def _labels(h=32, w=48, num_classes=5) -> np.ndarray:
    seg = (np.arange(h * w).reshape(h, w) % num_classes).astype(np.uint8)
    seg[0, :4] = 255
    return seg


def test_registered_and_good_maps_pass_unchanged():
    check = TRANSFORMS.build(dict(type='CheckSegAnnotation', num_classes=5))
    seg = _labels()
    out = check(_sample(seg.copy()))
    assert np.array_equal(out['gt_seg_map'], seg)
    # a test pipeline's Resize changes img_shape, not ori_shape (the size as loaded)
    assert check(_sample(seg, img_shape=(64, 96)))['gt_seg_map'] is seg


def test_value_outside_the_classes_names_files_values_and_fix():
    seg = _labels()
    seg[5:8, 5:8] = 77
    with pytest.raises(SegAnnotationError) as err:
        CheckSegAnnotation(num_classes=5)(_sample(seg))
    msg = str(err.value)
    assert '/data/ann/a.png' in msg and '/data/img/a.jpg' in msg
    assert 'values [77] (9 pixels)' in msg and 'class ids 0..4' in msg
    assert 'ignore index 255' in msg
    assert 'tools/check_dataset.py' in msg and 'check_annotations=False' in msg
    assert '\n' not in msg
    assert err.value.seg_map_path == '/data/ann/a.png' and err.value.img_path == '/data/img/a.jpg'
    # the class count is the bound: 5 is outside 5 classes, inside 6
    seg = _labels()
    seg[0, 0] = 5
    with pytest.raises(SegAnnotationError, match=r'values \[5\]'):
        CheckSegAnnotation(num_classes=5)(_sample(seg))
    CheckSegAnnotation(num_classes=6)(_sample(seg))


def test_size_mismatch_names_both_sizes():
    with pytest.raises(SegAnnotationError, match=r'is 32x40 \(HxW\) but its image is 32x48'):
        CheckSegAnnotation(num_classes=5)(_sample(_labels(32, 40), shape=(32, 48)))
    # the size is checked even when the classes are unknown
    with pytest.raises(SegAnnotationError, match='32x40'):
        CheckSegAnnotation()(_sample(_labels(32, 40), shape=(32, 48)))
    rgb = np.zeros((32, 48, 3), np.uint8)
    with pytest.raises(SegAnnotationError, match='not colour images'):
        CheckSegAnnotation(num_classes=5)(_sample(rgb))


def test_ignore_index_is_the_one_extra_value():
    seg = _labels()
    seg[0, :4] = 100  # the ignore index instead of 255
    check = CheckSegAnnotation(num_classes=5, ignore_index=100)
    check(_sample(seg))
    seg[2, 2] = 255  # 255 is not special when the ignore index is another value
    with pytest.raises(SegAnnotationError, match=r'values \[255\].*ignore index 100'):
        check(_sample(seg))
    # other integer dtypes (e.g. a custom loader) are checked too
    with pytest.raises(SegAnnotationError, match=r'values \[300\]'):
        CheckSegAnnotation(num_classes=5)(_sample(np.full((4, 4), 300, np.int32)))


def test_misplaced_or_misconfigured_check_is_named():
    with pytest.raises(ValueError, match='right after'):
        CheckSegAnnotation(num_classes=5)(dict(img_path='a.jpg'))
    with pytest.raises(ValueError, match='num_classes must be >= 1'):
        CheckSegAnnotation(num_classes=0)


def _write_png(path, arr) -> str:
    Image.fromarray(arr).save(path)
    return str(path)


def test_reduce_zero_label_values_pass_and_bad_ones_are_reported_as_in_the_file(tmp_path):
    """mmseg's reduce_zero_label maps 0 -> 255 (ignored) and v -> v-1 before the check."""
    num_classes = 4  # file values 1..4 are the classes, 0 is 'other'
    file_vals = (np.arange(32 * 48).reshape(32, 48) % (num_classes + 1)).astype(np.uint8)
    good = _write_png(tmp_path / 'good.png', file_vals)
    load = LoadAnnotations()
    check = CheckSegAnnotation(num_classes=num_classes)
    res = load(dict(seg_map_path=good, reduce_zero_label=True, seg_fields=[], label_map=None))
    assert set(np.unique(res['gt_seg_map'])) == {0, 1, 2, 3, 255}
    check(dict(res, ori_shape=(32, 48)))

    bad_vals = file_vals.copy()
    bad_vals[:2, :2] = 6  # loads as 5: not one of 4 classes
    bad = _write_png(tmp_path / 'bad.png', bad_vals)
    res = load(dict(seg_map_path=bad, reduce_zero_label=True, seg_fields=[], label_map=None))
    with pytest.raises(SegAnnotationError) as err:
        check(dict(res, ori_shape=(32, 48), img_path='img.jpg'))
    msg = str(err.value)
    assert 'values [5] (4 pixels)' in msg and bad in msg
    assert 'in the file: [6]' in msg and 'reduce_zero_label' in msg


def test_cheap_enough_to_stay_on():
    """A Cityscapes-sized map (1024 x 2048): milliseconds, not a visible share of loading."""
    seg = np.random.default_rng(0).integers(0, 19, (1024, 2048)).astype(np.uint8)
    seg[:50] = 255  # ignored pixels take the longer of the two fast paths
    check = CheckSegAnnotation(num_classes=19)
    sample = _sample(seg)
    check(sample)
    best = min(_timed(check, sample) for _ in range(3))
    assert best < 0.05, f'{best * 1000:.0f} ms per map'  # ~1 ms on one core
    assert find_seg_map_problem(seg, seg.shape, 19) is None


def _timed(fn, arg) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


class _BadSamples:
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        seg = np.full((4, 4), 7, np.uint8)
        return CheckSegAnnotation(num_classes=5)(_sample(seg))['gt_seg_map']


def test_error_from_a_dataloader_worker_stays_one_line():
    """torch re-raises a worker's error with the formatted traceback as its message."""
    with pytest.raises(SegAnnotationError) as err:
        list(DataLoader(_BadSamples(), num_workers=1))
    msg = str(err.value)
    assert msg.startswith('annotation /data/ann/a.png (image /data/img/a.jpg): values [7]')
    assert '\n' not in msg
