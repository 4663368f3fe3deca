"""The embedded demo data set: synthetic scenes in the real VOC and Cityscapes layouts.

The scenes are structured, so the task is learnable (not noise): a sky and a textured
ground, with objects whose class is told by shape, colour family and position (VOC:
aeroplanes and birds in the sky, cars and people on the ground; Cityscapes: sky,
buildings, vegetation, sidewalk, road, cars, people), plus lighting changes, sensor noise
and JPEG compression. Everything is drawn with numpy from ``seed``, so the same call
always writes the same bytes. ``tools/make_demo_data.py`` is its command line.

Layouts written by :func:`make_demo_data` (``out_dir`` is created; an existing non-empty
one is refused unless ``force``)::

    OUT_DIR/VOCdevkit/VOC2012/JPEGImages/demo_000000.jpg
    OUT_DIR/VOCdevkit/VOC2012/SegmentationClass/demo_000000.png   (palette PNG, VOC ids,
                                                                   255 = object borders)
    OUT_DIR/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval,test}.txt
    OUT_DIR/VOCdevkit/VOC2012/Annotations/demo_000000.xml   (image-level labels: one object
                                                           per class; mmpretrain's VOC)
    OUT_DIR/VOCdevkit/VOC2012/ImageSets/Main/{train,val,trainval,test}.txt   (same lists)
    OUT_DIR/cityscapes/leftImg8bit/{train,val,test}/CITY/CITY_SSSSSS_FFFFFF_leftImg8bit.png
    OUT_DIR/cityscapes/gtFine/{train,val}/CITY/CITY_SSSSSS_FFFFFF_gtFine_labelTrainIds.png
    OUT_DIR/cityscapes/gtFine/{train,val}/CITY/CITY_SSSSSS_FFFFFF_gtFine_labelIds.png

The VOC ``test`` split (like the real one) has images but no ``SegmentationClass`` PNGs,
so the submission path (``tools/test.py --format-only``) is exercised without ground truth.

Example:
    >>> from wider_mm.datasets.demo import make_demo_data
    >>> make_demo_data('data/demo', num_train=60, num_val=20, size=(128, 96))
    'data/demo'
"""

from __future__ import annotations

import os
import os.path as osp
import shutil
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from wider_mm.evaluation.metrics import voc_palette

#: VOC class ids used by the demo (a subset of the 21 VOC classes, with their VOC ids).
VOC_DEMO_CLASSES: Dict[str, int] = {
    'background': 0,
    'aeroplane': 1,
    'bird': 3,
    'car': 7,
    'person': 15,
}
#: Cityscapes classes used by the demo: name -> (trainId, labelId), as in cityscapesscripts.
CITYSCAPES_DEMO_CLASSES: Dict[str, Tuple[int, int]] = {
    'road': (0, 7),
    'sidewalk': (1, 8),
    'building': (2, 11),
    'vegetation': (8, 21),
    'sky': (10, 23),
    'person': (11, 24),
    'car': (13, 26),
    'ego vehicle': (255, 1),
}
#: The void label of both layouts (VOC object borders, Cityscapes trainId of void classes).
IGNORE = 255
#: The layouts :func:`make_demo_data` can write.
LAYOUTS: Tuple[str, ...] = ('voc', 'cityscapes')
#: Images per split and image (width, height) of ``make demo``.
NUM_TRAIN, NUM_VAL, NUM_TEST = 60, 20, 4
SIZE: Tuple[int, int] = (128, 96)


# ----------------------------------------------------------------------------- drawing
class Canvas:
    """An RGB float image and a label map drawn together."""

    def __init__(self, h: int, w: int, rng: np.random.Generator) -> None:
        self.h, self.w, self.rng = h, w, rng
        self.img = np.zeros((h, w, 3), np.float32)
        self.lab = np.zeros((h, w), np.uint8)
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def noise(self, scale: float, cell: int) -> np.ndarray:
        """Smooth noise in [-scale, scale]: random cells, bilinearly upsampled."""
        gh, gw = self.h // cell + 2, self.w // cell + 2
        g = self.rng.uniform(-scale, scale, (gh, gw)).astype(np.float32)
        y, x = self.yy / cell, self.xx / cell
        y0, x0 = y.astype(int), x.astype(int)
        fy, fx = y - y0, x - x0
        return (
            g[y0, x0] * (1 - fy) * (1 - fx)
            + g[y0 + 1, x0] * fy * (1 - fx)
            + g[y0, x0 + 1] * (1 - fy) * fx
            + g[y0 + 1, x0 + 1] * fy * fx
        )

    def paint(
        self,
        mask: np.ndarray,
        colour: Sequence[float],
        label: int,
        texture: float = 0.0,
        cell: int = 4,
    ) -> None:
        """Fill ``mask`` with ``colour`` (+ textured noise) and ``label``."""
        col = np.asarray(colour, np.float32)
        if texture:
            col = col + self.noise(texture, cell)[..., None]
        self.img[mask] = np.broadcast_to(col, self.img.shape)[mask]
        self.lab[mask] = label

    def ellipse(self, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
        """Mask of the filled ellipse centred at (``cy``, ``cx``) with radii ``ry``, ``rx``."""
        return ((self.yy - cy) / ry) ** 2 + ((self.xx - cx) / rx) ** 2 <= 1

    def rect(self, y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
        """Mask of the rectangle ``y0 <= y < y1``, ``x0 <= x < x1``."""
        return (self.yy >= y0) & (self.yy < y1) & (self.xx >= x0) & (self.xx < x1)

    def triangle(self, pts: Sequence[Tuple[float, float]]) -> np.ndarray:
        """Filled triangle of three (y, x) points."""
        (y1, x1), (y2, x2), (y3, x3) = pts

        def side(ya: float, xa: float, yb: float, xb: float) -> np.ndarray:
            return (self.xx - xb) * (ya - yb) - (xa - xb) * (self.yy - yb)

        d1, d2, d3 = side(y1, x1, y2, x2), side(y2, x2, y3, x3), side(y3, x3, y1, x1)
        neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
        pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
        return ~(neg & pos)

    def finish(self, noise: float = 6.0) -> np.ndarray:
        """Global lighting change + sensor noise; return uint8 RGB."""
        gain = self.rng.uniform(0.8, 1.15)
        img = self.img * gain + self.rng.normal(0, noise, self.img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)


def _jitter(rng: np.random.Generator, colour: Sequence[float], amount: float) -> List[float]:
    """``colour`` with each channel moved by up to ``amount``, kept in 0..255."""
    return [float(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in colour]


def voc_scene(h: int, w: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """One VOC-style scene: RGB uint8 image and label map of VOC ids (255 on borders)."""
    cv = Canvas(h, w, rng)
    ids = VOC_DEMO_CLASSES
    horizon = rng.uniform(0.4, 0.6) * h
    sky = cv.yy < horizon
    top = _jitter(rng, (70, 120, 200), 25)
    bottom = _jitter(rng, (170, 200, 235), 20)
    t = (cv.yy / max(horizon, 1))[..., None]
    cv.img[:] = np.asarray(top) * (1 - t) + np.asarray(bottom) * t + cv.noise(12, 8)[..., None]
    ground_col = (
        _jitter(rng, (80, 130, 60), 25) if rng.random() < 0.6 else _jitter(rng, (140, 110, 75), 25)
    )
    cv.paint(~sky, ground_col, ids['background'], texture=25, cell=2)
    objects: List[Tuple[str, np.ndarray]] = []
    for _ in range(rng.integers(1, 4)):
        name = str(rng.choice(['aeroplane', 'bird', 'car', 'person']))
        s = min(h, w)
        if name == 'aeroplane':
            cy, cx = rng.uniform(0.1, 0.8) * horizon, rng.uniform(0.15, 0.85) * w
            ry, rx = rng.uniform(0.05, 0.09) * s, rng.uniform(0.2, 0.34) * s
            d = rng.choice([-1, 1])
            m = cv.ellipse(cy, cx, ry, rx) | cv.triangle(
                [(cy, cx), (cy - 2.2 * ry, cx - d * 0.6 * rx), (cy, cx - d * 0.9 * rx)]
            )
            m |= cv.triangle(
                [
                    (cy - ry, cx + d * 0.1 * rx),
                    (cy + 2.5 * ry, cx - d * 0.25 * rx),
                    (cy - ry, cx - d * 0.35 * rx),
                ]
            )
            colour, tex = _jitter(rng, (215, 215, 220), 25), 10
        elif name == 'bird':
            cy, cx = rng.uniform(0.1, 0.8) * horizon, rng.uniform(0.1, 0.9) * w
            r = rng.uniform(0.07, 0.12) * s
            m = cv.triangle([(cy, cx - 1.6 * r), (cy - 0.7 * r, cx), (cy + 0.4 * r, cx)])
            m |= cv.triangle([(cy, cx + 1.6 * r), (cy - 0.7 * r, cx), (cy + 0.4 * r, cx)])
            m |= cv.ellipse(cy, cx, 0.45 * r, 0.7 * r)
            colour, tex = _jitter(rng, (45, 35, 30), 20), 8
        elif name == 'car':
            base = rng.uniform(horizon + 0.12 * h, h * 0.98)
            cw = rng.uniform(0.3, 0.5) * s
            chh = 0.35 * cw
            cx = rng.uniform(0.1, 0.9) * w
            m = cv.rect(base - chh, cx - cw / 2, base - 0.15 * chh, cx + cw / 2)
            m |= cv.rect(base - 1.7 * chh, cx - cw / 4, base - chh, cx + cw / 4)
            hue = rng.integers(3)
            colour = _jitter(rng, [(200, 40, 40), (40, 60, 190), (230, 200, 40)][hue], 25)
            wheels = cv.ellipse(base - 0.2 * chh, cx - cw / 3, 0.25 * chh, 0.25 * chh) | cv.ellipse(
                base - 0.2 * chh, cx + cw / 3, 0.25 * chh, 0.25 * chh
            )
            cv.paint(m, colour, ids['car'], texture=10)
            cv.paint(wheels, (25, 25, 25), ids['car'], texture=5)
            objects.append((name, m | wheels))
            continue
        else:  # person
            base = rng.uniform(horizon + 0.08 * h, h * 0.98)
            ph = rng.uniform(0.35, 0.6) * s
            cx = rng.uniform(0.08, 0.92) * w
            body = cv.rect(base - 0.8 * ph, cx - 0.14 * ph, base, cx + 0.14 * ph)
            head = cv.ellipse(base - 0.88 * ph, cx, 0.1 * ph, 0.09 * ph)
            cv.paint(body, _jitter(rng, (60, 60, 120), 40), ids['person'], texture=10)
            cv.paint(head, _jitter(rng, (225, 180, 145), 20), ids['person'], texture=5)
            objects.append((name, body | head))
            continue
        cv.paint(m, colour, ids[name], texture=tex)
        objects.append((name, m))
    img = cv.finish()
    lab = cv.lab.copy()
    # VOC marks object outlines as void (255): a 1-pixel band where the labels change.
    edge = np.zeros_like(lab, bool)
    edge[:-1] |= lab[:-1] != lab[1:]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    lab[edge & (lab != ids['background'])] = IGNORE
    return img, lab


def cityscapes_scene(
    h: int, w: int, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One street scene: RGB uint8 image, trainId map and labelId map."""
    cv = Canvas(h, w, rng)
    tid = {k: v[0] for k, v in CITYSCAPES_DEMO_CLASSES.items()}
    horizon = rng.uniform(0.35, 0.5) * h
    cv.paint(np.ones((h, w), bool), _jitter(rng, (120, 160, 210), 20), tid['sky'], 10, 8)
    # buildings: a row of blocks reaching down to the horizon, with window texture
    x = 0.0
    while x < w:
        bw = rng.uniform(0.12, 0.3) * w
        top = rng.uniform(0.05, 0.8) * horizon
        m = cv.rect(top, x, horizon + 1, x + bw)
        col = np.asarray(_jitter(rng, (150, 130, 115), 35), np.float32)
        win = ((cv.yy.astype(int) // 3) % 2 == 0) & ((cv.xx.astype(int) // 3) % 2 == 0)
        cv.paint(m, col, tid['building'], texture=10)
        cv.img[m & win] *= 0.6
        x += bw
    for _ in range(rng.integers(0, 3)):  # trees in front of the buildings
        cy, cx = horizon - rng.uniform(0.05, 0.2) * h, rng.uniform(0, w)
        r = rng.uniform(0.06, 0.12) * h
        cv.paint(
            cv.ellipse(cy, cx, r, 1.2 * r),
            _jitter(rng, (60, 110, 50), 20),
            tid['vegetation'],
            texture=30,
            cell=2,
        )
    side = horizon + rng.uniform(0.08, 0.15) * h
    cv.paint(
        cv.rect(horizon, 0, side, w),
        _jitter(rng, (170, 160, 165), 15),
        tid['sidewalk'],
        texture=8,
        cell=2,
    )
    cv.paint(cv.yy >= side, _jitter(rng, (90, 90, 95), 12), tid['road'], texture=6, cell=3)
    lane = cv.rect(side + 0.45 * (h - side), 0, side + 0.45 * (h - side) + 2, w)
    lane &= (cv.xx.astype(int) // 8) % 2 == 0
    cv.img[lane] = 230
    for _ in range(rng.integers(0, 3)):
        base = side + rng.uniform(0.3, 0.8) * (h - side)
        cw, cx = rng.uniform(0.15, 0.25) * w, rng.uniform(0.1, 0.9) * w
        m = cv.rect(base - 0.3 * cw, cx - cw / 2, base, cx + cw / 2)
        m |= cv.rect(base - 0.5 * cw, cx - cw / 4, base - 0.3 * cw, cx + cw / 4)
        cv.paint(
            m,
            _jitter(rng, [(200, 40, 40), (40, 60, 190), (30, 30, 30)][rng.integers(3)], 20),
            tid['car'],
            texture=8,
        )
    for _ in range(rng.integers(0, 3)):
        base, cx = rng.uniform(horizon + 2, side), rng.uniform(0.05, 0.95) * w
        ph = rng.uniform(0.15, 0.25) * h
        m = cv.rect(base - 0.8 * ph, cx - 0.1 * ph, base, cx + 0.1 * ph)
        m |= cv.ellipse(base - 0.88 * ph, cx, 0.1 * ph, 0.09 * ph)
        cv.paint(m, _jitter(rng, (90, 60, 60), 40), tid['person'], texture=10)
    # the ego vehicle's bonnet: void in Cityscapes (labelId 1, trainId 255)
    cv.paint(cv.yy >= h - max(2, int(0.06 * h)), (20, 20, 25), tid['ego vehicle'], texture=3)
    img = cv.finish(noise=5.0)
    to_label = np.zeros(256, np.uint8)
    for t, lid in CITYSCAPES_DEMO_CLASSES.values():
        to_label[t] = lid
    return img, cv.lab, to_label[cv.lab]


# ----------------------------------------------------------------------------- writing
def _save_palette_png(lab: np.ndarray, path: str) -> None:
    # The full 256-entry VOC map, as in the real SegmentationClass PNGs (255 = void has its
    # colour); mmseg's get_palette('voc') holds the 21 class colours only.
    im = Image.fromarray(lab, mode='P')
    im.putpalette(voc_palette())
    im.save(path)


def voc_annotation(name: str, lab: np.ndarray) -> str:
    """The VOC ``Annotations/NAME.xml`` of a label map: one object per class in it.

    Image-level labels are what mmpretrain's ``VOC`` dataset reads from it (multi-label
    classification); each object's box spans all pixels of its class.
    """
    h, w = lab.shape
    objects = []
    for cls, vid in VOC_DEMO_CLASSES.items():
        ys, xs = np.nonzero(lab == vid)
        if vid == 0 or not len(ys):
            continue
        objects.append(
            f'  <object>\n    <name>{cls}</name>\n    <pose>Unspecified</pose>\n'
            f'    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n'
            f'      <xmin>{xs.min() + 1}</xmin>\n      <ymin>{ys.min() + 1}</ymin>\n'
            f'      <xmax>{xs.max() + 1}</xmax>\n      <ymax>{ys.max() + 1}</ymax>\n'
            '    </bndbox>\n  </object>\n'
        )
    return (
        f'<annotation>\n  <folder>VOC2012</folder>\n  <filename>{name}.jpg</filename>\n'
        f'  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n'
        f'  </size>\n  <segmented>1</segmented>\n{"".join(objects)}</annotation>\n'
    )


def write_voc(root: str, splits: Dict[str, int], size: Tuple[int, int], seed: int) -> None:
    """Write the VOC2012 layout under ``root`` (= ``.../VOCdevkit/VOC2012``)."""
    w, h = size
    subs = ('JPEGImages', 'SegmentationClass', 'Annotations', 'ImageSets/Segmentation')
    for sub in (*subs, 'ImageSets/Main'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    names: Dict[str, List[str]] = {}
    i = 0
    for split, n in splits.items():
        names[split] = []
        for _ in range(n):
            name = f'demo_{i:06d}'
            rng = np.random.default_rng([seed, 0, i])
            img, lab = voc_scene(h, w, rng)
            Image.fromarray(img).save(osp.join(root, 'JPEGImages', name + '.jpg'), quality=90)
            if split != 'test':  # the real test split has no annotations either
                _save_palette_png(lab, osp.join(root, 'SegmentationClass', name + '.png'))
                with open(osp.join(root, 'Annotations', name + '.xml'), 'w') as f:
                    f.write(voc_annotation(name, lab))
            names[split].append(name)
            i += 1
    names['trainval'] = names['train'] + names['val']
    for split, lst in names.items():
        for image_sets in ('ImageSets/Segmentation', 'ImageSets/Main'):
            with open(osp.join(root, image_sets, f'{split}.txt'), 'w') as f:
                f.write(''.join(n + '\n' for n in lst))


def write_cityscapes(root: str, splits: Dict[str, int], size: Tuple[int, int], seed: int) -> None:
    """Write the Cityscapes layout (leftImg8bit + gtFine) under ``root``."""
    w, h = size
    cities = {'train': ['aachen', 'bochum'], 'val': ['frankfurt'], 'test': ['berlin']}
    for split, n in splits.items():
        for k in range(n):
            city = cities[split][k % len(cities[split])]
            stem = f'{city}_{k // len(cities[split]):06d}_{19 + k:06d}'
            rng = np.random.default_rng([seed, 1, len(split), k])
            img, train_ids, label_ids = cityscapes_scene(h, w, rng)
            img_dir = osp.join(root, 'leftImg8bit', split, city)
            os.makedirs(img_dir, exist_ok=True)
            Image.fromarray(img).save(osp.join(img_dir, f'{stem}_leftImg8bit.png'))
            if split == 'test':
                continue
            gt_dir = osp.join(root, 'gtFine', split, city)
            os.makedirs(gt_dir, exist_ok=True)
            Image.fromarray(train_ids).save(osp.join(gt_dir, f'{stem}_gtFine_labelTrainIds.png'))
            Image.fromarray(label_ids).save(osp.join(gt_dir, f'{stem}_gtFine_labelIds.png'))


def make_demo_data(
    out_dir: str,
    num_train: int = NUM_TRAIN,
    num_val: int = NUM_VAL,
    num_test: int = NUM_TEST,
    size: Tuple[int, int] = SIZE,
    seed: int = 0,
    force: bool = False,
    layouts: Sequence[str] = LAYOUTS,
) -> str:
    """Write the demo data set(s) into ``out_dir``; return ``out_dir``.

    Args:
        out_dir: Output folder. Refused if it exists and is not empty, unless ``force``.
        num_train, num_val, num_test: Images per split (``test`` has no ground truth).
        size: Image (width, height).
        seed: Random seed; the output is a pure function of the arguments.
        force: Delete and rewrite a non-empty ``out_dir``.
        layouts: Any of 'voc', 'cityscapes'.

    Raises:
        FileExistsError: ``out_dir`` is non-empty and ``force`` is False.
        ValueError: bad sizes, counts or layouts.
    """
    if not layouts or set(layouts) - set(LAYOUTS):
        raise ValueError(f'layouts must be among {LAYOUTS}; got {list(layouts)}')
    if min(size) < 16:
        raise ValueError(f'size must be at least 16x16 pixels, got {size}')
    if num_train < 1 or num_val < 1 or num_test < 0:
        raise ValueError(
            'need --num-train >= 1, --num-val >= 1 and --num-test >= 0, got '
            f'{num_train}, {num_val}, {num_test}'
        )
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not force:
            raise FileExistsError(
                f'{out_dir} exists and is not empty; refusing to overwrite it. Pass --force '
                'to delete and rewrite it, or choose another folder.'
            )
        shutil.rmtree(out_dir)
    elif osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'{out_dir} exists and is not a folder')
    splits = dict(train=num_train, val=num_val, test=num_test)
    if 'voc' in layouts:
        write_voc(osp.join(out_dir, 'VOCdevkit', 'VOC2012'), splits, size, seed)
    if 'cityscapes' in layouts:
        write_cityscapes(osp.join(out_dir, 'cityscapes'), splits, size, seed)
    return out_dir
