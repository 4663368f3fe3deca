"""Tests of wider_mm/datasets/demo.py: layouts, determinism, no overwriting, learnability."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wider_mm.datasets.demo import VOC_DEMO_CLASSES, make_demo_data
from wider_mm.evaluation import voc_palette

SMALL = dict(num_train=6, num_val=4, num_test=2, size=(64, 48))


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    return Path(make_demo_data(str(tmp_path_factory.mktemp('d') / 'demo'), **SMALL))


def _files(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_deterministic(demo, tmp_path):
    again = make_demo_data(str(tmp_path / 'again'), **SMALL)
    assert _files(demo) == _files(Path(again))
    other = make_demo_data(str(tmp_path / 'other'), seed=1, **SMALL)
    assert _files(demo).keys() == _files(Path(other)).keys()
    assert _files(demo) != _files(Path(other))


def test_voc_layout(demo):
    voc = demo / 'VOCdevkit' / 'VOC2012'
    sets = {
        s: (voc / 'ImageSets/Segmentation' / f'{s}.txt').read_text().split()
        for s in ('train', 'val', 'trainval', 'test')
    }
    assert [len(sets[s]) for s in ('train', 'val', 'test')] == [6, 4, 2]
    assert sets['trainval'] == sets['train'] + sets['val']
    for name in sets['trainval']:
        img = Image.open(voc / 'JPEGImages' / f'{name}.jpg')
        lab = Image.open(voc / 'SegmentationClass' / f'{name}.png')
        assert img.format == 'JPEG' and img.size == (64, 48) == lab.size
        assert lab.mode == 'P' and lab.getpalette()[:768] == voc_palette()
        assert set(np.unique(np.array(lab))) <= {0, 1, 3, 7, 15, 255}
    for name in sets['test']:  # like the real test split: images only
        assert (voc / 'JPEGImages' / f'{name}.jpg').is_file()
        assert not (voc / 'SegmentationClass' / f'{name}.png').exists()


def test_voc_image_labels_are_the_classes_of_each_segmentation(demo):
    """Annotations/*.xml + ImageSets/Main, read by mmpretrain's own VOC dataset."""
    from mmpretrain.datasets import VOC

    voc = demo / 'VOCdevkit' / 'VOC2012'
    names = {v: k for k, v in VOC_DEMO_CLASSES.items()}
    classes = ('aeroplane', 'bird', 'car', 'person')
    for split, n in (('train', 6), ('val', 4)):
        assert (voc / 'ImageSets/Main' / f'{split}.txt').read_text().split() == (
            voc / 'ImageSets/Segmentation' / f'{split}.txt'
        ).read_text().split()
        ds = VOC(data_root=str(voc), split=split, metainfo=dict(classes=classes))
        assert len(ds) == n
        for i in range(n):
            info = ds.get_data_info(i)
            lab = np.array(
                Image.open(voc / 'SegmentationClass' / (Path(info['img_path']).stem + '.png'))
            )
            want = sorted(classes.index(names[v]) for v in np.unique(lab) if v not in (0, 255))
            assert sorted(info['gt_label']) == want and want
    for name in (voc / 'ImageSets/Main/test.txt').read_text().split():
        assert not (voc / 'Annotations' / f'{name}.xml').exists()  # as the real test split


def test_cityscapes_layout_and_label_ids(demo):
    from cityscapesscripts.helpers.labels import id2label

    cs = demo / 'cityscapes'
    pattern = re.compile(r'^[a-z]+_\d{6}_\d{6}_leftImg8bit\.png$')
    for split, n in (('train', 6), ('val', 4), ('test', 2)):
        imgs = sorted((cs / 'leftImg8bit' / split).glob('*/*.png'))
        assert len(imgs) == n and all(pattern.match(p.name) for p in imgs)
        for img in imgs:
            stem = img.name[: -len('_leftImg8bit.png')]
            gt = cs / 'gtFine' / split / img.parent.name
            train_png, id_png = (
                gt / f'{stem}_gtFine_labelTrainIds.png',
                gt / f'{stem}_gtFine_labelIds.png',
            )
            if split == 'test':
                assert not train_png.exists()
                continue
            train_ids, label_ids = np.array(Image.open(train_png)), np.array(Image.open(id_png))
            assert train_ids.shape == label_ids.shape == (48, 64)
            # cityscapesscripts' own table: labelId -> trainId
            to_train = np.vectorize(lambda i: id2label[i].trainId)(label_ids)
            assert np.array_equal(to_train, train_ids)
            assert {0, 10} <= set(np.unique(train_ids))  # road and sky in every scene


def test_mmseg_datasets_read_it(demo):
    from mmseg.datasets import CityscapesDataset, PascalVOCDataset

    voc = PascalVOCDataset(
        data_root=str(demo / 'VOCdevkit' / 'VOC2012'),
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        metainfo=dict(classes=('background', 'aeroplane', 'bird', 'car', 'person')),
        pipeline=[],
    )
    assert len(voc) == 4 and voc.label_map[15] == 4 and voc.label_map[2] == 255
    cs = CityscapesDataset(
        data_root=str(demo / 'cityscapes'),
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=[],
    )
    assert len(cs) == 6 and cs[0]['seg_map_path'].endswith('_gtFine_labelTrainIds.png')


def test_learnable_not_noise(demo):
    """A nearest-mean colour classifier beats chance by far: the classes are structured."""
    voc = demo / 'VOCdevkit' / 'VOC2012'

    def load(split):
        names = (voc / 'ImageSets/Segmentation' / f'{split}.txt').read_text().split()
        x = np.concatenate(
            [np.array(Image.open(voc / 'JPEGImages' / f'{n}.jpg')).reshape(-1, 3) for n in names]
        ).astype(float)
        y = np.concatenate(
            [np.array(Image.open(voc / 'SegmentationClass' / f'{n}.png')).ravel() for n in names]
        )
        return x, y

    x, y = load('train')
    xv, yv = load('val')
    ids = [i for i in (0, 1, 3, 7, 15) if (y == i).any() and (yv == i).any()]
    assert len(ids) >= 3
    means = np.stack([x[y == i].mean(0) for i in ids])
    pred = np.array(ids)[((xv[:, None] - means[None]) ** 2).sum(-1).argmin(1)]
    acc = np.mean([(pred[yv == i] == i).mean() for i in ids])
    assert acc > 0.45 + 0.5 / len(ids), f'mean class accuracy {acc:.2f}'


def test_refuses_to_overwrite_unless_forced(tmp_path):
    out = tmp_path / 'user'
    out.mkdir()
    (out / 'mine.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='refusing to overwrite'):
        make_demo_data(str(out))
    assert (out / 'mine.txt').read_text() == 'keep'
    make_demo_data(str(out), 1, 1, 0, (32, 32), force=True, layouts=('voc',))
    assert not (out / 'mine.txt').exists() and (out / 'VOCdevkit').is_dir()
    assert not (out / 'cityscapes').exists()
    (tmp_path / 'file').write_text('')
    with pytest.raises(FileExistsError, match='not a folder'):
        make_demo_data(str(tmp_path / 'file'))


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(size=(8, 8)), 'at least 16x16'),
        (dict(num_train=0), 'num-train >= 1'),
        (dict(num_val=0), 'num-val >= 1'),
        (dict(num_test=-1), 'num-test >= 0'),
        (dict(layouts=()), 'layouts must be among'),
        (dict(layouts=('voc', 'ade')), 'layouts must be among'),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_demo_data(str(tmp_path / 'bad'), **kwargs)
    assert not (tmp_path / 'bad').exists()
