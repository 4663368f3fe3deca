"""CAM scoring (wider_mm.evaluation.cam_metric) on hand-made cases with known IoU."""

import json

import numpy as np
import pytest

from wider_mm.evaluation.cam_metric import CAMIoU, per_class_table, seg_label_lut, write_reports

IGN = 255


def hand_made() -> CAMIoU:
    """Two images, classes cat/dog/bird (bird nowhere), thresholds 0.2 and 0.5.

    Worked out by hand (rows: ground truth, pixels per class):
      t=0.2: background 2/4 = 50, cat 3/5 = 60, dog 1/3 = 33.33 -> mIoU 47.78
      t=0.5: background 4/5 = 80, cat 2/4 = 50, dog 1/2 = 50    -> mIoU 60.00
    Image A pixel (1, 1) is ignored; image B pixel (1, 0) ties cat/dog at 0.5 (cat, the
    first, wins) and ties the threshold 0.5 (background wins).
    """
    m = CAMIoU(['cat', 'dog', 'bird'], thresholds=[0.2, 0.5])
    cams_a = np.array([[[0.9, 0.6, 0.1], [0.3, 0.5, 0.0]]])
    m.update(cams_a, [0], np.array([[1, 1, 0], [0, IGN, 0]]))
    cams_b = np.array([[[0.8, 0.1], [0.5, 0.0]], [[0.7, 0.9], [0.5, 0.3]]])
    m.update(cams_b, [0, 1], np.array([[2, 2], [1, 0]]))
    return m


def test_hand_made_miou_and_sweep():
    r = hand_made().results()
    assert r['threshold'] == 0.5 and r['mIoU'] == 60.0
    assert r['IoU'] == {'background': 80.0, 'cat': 50.0, 'dog': 50.0, 'bird': None}
    assert r['sweep'] == [dict(threshold=0.2, mIoU=47.78), dict(threshold=0.5, mIoU=60.0)]
    assert r['num_images'] == 2


def test_confusion_is_by_ground_truth_then_prediction():
    conf = hand_made().confusion[0]  # t = 0.2
    assert conf.sum() == 9  # 10 pixels, one ignored
    assert conf[0].tolist() == [2, 1, 1, 0]  # background pixels predicted bg, cat, dog
    assert conf[2].tolist() == [0, 1, 1, 0]  # dog pixels: one taken by cat


def test_image_without_labels_is_all_background():
    m = CAMIoU(['cat'], thresholds=[0.3])
    m.update(np.zeros((0, 2, 2)), [], np.array([[0, 1], [0, 0]]))
    r = m.results()
    assert r['IoU'] == {'background': 75.0, 'cat': 0.0}


def test_bad_shapes_and_values_fail_naming_them():
    m = CAMIoU(['cat'], thresholds=[0.3])
    with pytest.raises(ValueError, match='do not fit'):
        m.update(np.zeros((1, 2, 2)), [0], np.zeros((3, 3), int))
    with pytest.raises(ValueError, match='not one of 2 classes'):
        m.update(np.zeros((1, 1, 1)), [0], np.array([[4]]))
    with pytest.raises(ValueError, match='thresholds'):
        CAMIoU(['cat'], thresholds=[])


def test_seg_label_lut_maps_voc_ids_of_a_class_subset():
    lut = seg_label_lut(['aeroplane', 'bird', 'car', 'person'])  # the demo's classes
    assert [lut[v] for v in (0, 1, 3, 7, 15, 255)] == [0, 1, 2, 3, 4, 255]
    assert lut[2] == 255  # bicycle: not a class here, ignored
    full = seg_label_lut(['aeroplane', 'bicycle'])
    assert [full[v] for v in (0, 1, 2, 3)] == [0, 1, 2, 255]
    custom = seg_label_lut(['road', 'tree'])  # not VOC names: PNG value i is class i - 1
    assert [custom[v] for v in (0, 1, 2, 3)] == [0, 1, 2, 255]


def test_reports(tmp_path):
    r = hand_made().results()
    paths = write_reports(r, str(tmp_path), title='hand-made')
    assert json.loads(open(paths[0]).read())['mIoU'] == 60.0
    table = open(paths[1]).read()
    assert table == per_class_table(r)
    assert '| dog | 50.00 |' in table and '| bird | - |' in table
    assert open(paths[2], 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
