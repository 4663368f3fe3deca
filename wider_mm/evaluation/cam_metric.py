"""Score class activation maps the way weakly-supervised segmentation papers do.

PSA (Ahn & Kwak, CVPR 2018) and its successors turn the normalised CAMs of an image (one map
in [0, 1] per class of its image-level labels) into a label map: the background gets a
constant score, the threshold ``t``, and each pixel takes the argmax over
``[t, cam_1, ..., cam_K]``; the result is scored by mIoU against ``SegmentationClass``, over a
sweep of thresholds, the best one reported (PSA's own ``infer_cls.py`` uses ``t = 0.2``).

IoU is mmseg's definition (``IoUMetric``): per class, intersection over union of the
accumulated pixel counts; a class that is in neither the prediction nor the ground truth of
any image is left out of the mean. mmseg's metric scores one prediction per image; here one
set of CAMs gives a prediction per threshold, so the confusion matrices of all thresholds
are accumulated in one pass.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

#: PASCAL VOC's 20 object classes in their label-id order (ids 1..20; 0 is background).
VOC_CLASSES = (
    'aeroplane',
    'bicycle',
    'bird',
    'boat',
    'bottle',
    'bus',
    'car',
    'cat',
    'chair',
    'cow',
    'diningtable',
    'dog',
    'horse',
    'motorbike',
    'person',
    'pottedplant',
    'sheep',
    'sofa',
    'train',
    'tvmonitor',
)
#: Default threshold sweep: 0.05, 0.10, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
IGNORE_INDEX = 255


def seg_label_lut(classes: Sequence[str]) -> np.ndarray:
    """Map the values of ``SegmentationClass`` PNGs to ``0`` (background), ``1..K``, 255.

    When ``classes`` are PASCAL VOC class names (all 20 or a subset, as in the demo), PNG
    value ``v`` is VOC class ``v`` and is mapped to its position in ``classes`` (+1); values
    of classes outside the subset become 255 (ignored), as mmseg's ``label_map`` does.
    Otherwise PNG value ``i`` is ``classes[i - 1]``.

    Returns:
        ``uint8`` lookup table of 256 entries.
    """
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    lut[0] = 0
    if set(classes) <= set(VOC_CLASSES):
        for i, name in enumerate(classes):
            lut[VOC_CLASSES.index(name) + 1] = i + 1
    else:
        lut[1 : len(classes) + 1] = np.arange(1, len(classes) + 1)
    return lut


class CAMIoU:
    """mIoU of CAM label maps against ground truth, for several background thresholds.

    Args:
        classes: The object classes (without background); label ``i + 1`` is ``classes[i]``.
        thresholds: Background scores to sweep. Default: 0.05, 0.10, ..., 0.95.
        ignore_index: Ground-truth value that is not scored. Default: 255.

    Example:
        >>> import numpy as np
        >>> m = CAMIoU(['cat'], thresholds=[0.5])
        >>> cams = np.array([[[0.9, 0.2]]])            # one class map, 1 x 2 pixels
        >>> m.update(cams, [0], np.array([[1, 0]]))    # ground truth: cat, background
        >>> m.results()['mIoU']
        100.0
    """

    def __init__(
        self,
        classes: Sequence[str],
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        if not len(thresholds):
            raise ValueError('thresholds must not be empty')
        self.classes = ['background', *classes]
        self.thresholds = [float(t) for t in thresholds]
        self.ignore_index = ignore_index
        n = len(self.classes)
        #: ``confusion[t, gt, pred]``: pixel counts per threshold.
        self.confusion = np.zeros((len(self.thresholds), n, n), np.int64)
        self.num_images = 0

    def update(self, cams: np.ndarray, class_ids: Sequence[int], gt: np.ndarray) -> None:
        """Add one image.

        Args:
            cams: ``(K, H, W)`` normalised maps of the image's labelled classes.
            class_ids: The ``K`` classes of ``cams``, as indices into ``classes``
                (0-based, background excluded).
            gt: ``(H, W)`` ground truth: 0 background, ``i + 1`` for ``classes[i]``,
                ``ignore_index`` elsewhere.
        """
        if cams.shape[0] != len(class_ids) or cams.shape[1:] != gt.shape:
            raise ValueError(
                f'CAMs {cams.shape} do not fit {len(class_ids)} classes and the ground truth '
                f'{gt.shape}'
            )
        n = len(self.classes)
        valid = gt != self.ignore_index
        target = gt[valid].astype(np.int64)
        if target.size and target.max() >= n:
            raise ValueError(f'ground truth value {target.max()} is not one of {n} classes')
        if len(class_ids):
            scores = cams.reshape(len(class_ids), -1)[:, valid.ravel()]
            best, arg = scores.max(0), scores.argmax(0)
            labels = np.asarray(class_ids, np.int64)[arg] + 1
        for i, t in enumerate(self.thresholds):
            # argmax over [t, cams...]: a tie goes to the background (it comes first)
            pred = np.where(best > t, labels, 0) if len(class_ids) else np.zeros_like(target)
            self.confusion[i] += np.bincount(target * n + pred, minlength=n * n).reshape(n, n)
        self.num_images += 1

    def iou(self) -> np.ndarray:
        """``(thresholds, classes)`` IoU in %; NaN for a class absent from both sides."""
        tp = np.diagonal(self.confusion, axis1=1, axis2=2).astype(np.float64)
        union = self.confusion.sum(1) + self.confusion.sum(2) - tp
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(union > 0, 100.0 * tp / union, np.nan)

    def results(self) -> Dict[str, Any]:
        """The best threshold, its mIoU and per-class IoU, and the whole sweep.

        Returns:
            dict: ``mIoU`` and ``threshold`` (the best of the sweep; the first on a tie),
            ``IoU`` (class -> IoU at it, None for an absent class), ``sweep`` (a list of
            ``{threshold, mIoU}``) and ``num_images``.
        """
        iou = self.iou()
        with warnings.catch_warnings():  # 'mean of empty slice': no class scored at all
            warnings.simplefilter('ignore', RuntimeWarning)
            miou = np.nanmean(iou, axis=1)
        miou = np.nan_to_num(miou, nan=0.0)
        best = int(np.argmax(miou))
        return dict(
            mIoU=round(float(miou[best]), 2),
            threshold=self.thresholds[best],
            IoU={
                c: (None if np.isnan(v) else round(float(v), 2))
                for c, v in zip(self.classes, iou[best])
            },
            sweep=[
                dict(threshold=t, mIoU=round(float(m), 2)) for t, m in zip(self.thresholds, miou)
            ],
            num_images=self.num_images,
        )


def per_class_table(results: Dict[str, Any]) -> str:
    """Markdown table of the per-class IoU at the best threshold."""
    lines = [
        f"CAM mIoU {results['mIoU']:.2f} at background threshold {results['threshold']:.2f} "
        f"({results['num_images']} images)",
        '',
        '| class | IoU |',
        '|---|---|',
    ]
    for name, v in results['IoU'].items():
        lines.append(f"| {name} | {'-' if v is None else f'{v:.2f}'} |")
    return '\n'.join(lines) + '\n'


def plot_sweep(results: Dict[str, Any], out: str, title: Optional[str] = None) -> str:
    """Plot mIoU against the background threshold (PNG); return ``out``."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    ts = [s['threshold'] for s in results['sweep']]
    ms = [s['mIoU'] for s in results['sweep']]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(ts, ms, marker='o', ms=3)
    ax.axvline(results['threshold'], color='tab:orange', ls='--', lw=1)
    ax.annotate(
        f"best {results['mIoU']:.2f} at {results['threshold']:.2f}",
        (results['threshold'], results['mIoU']),
        textcoords='offset points',
        xytext=(5, -12),
        fontsize=8,
    )
    ax.set_xlabel('background threshold')
    ax.set_ylabel('CAM mIoU (%)')
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_reports(results: Dict[str, Any], out_dir: str, title: Optional[str] = None) -> List[str]:
    """Write ``cam_miou.json``, ``cam_miou.md`` (per-class table) and ``cam_miou.png``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'cam_miou.{ext}') for ext in ('json', 'md', 'png')]
    with open(paths[0], 'w') as f:
        json.dump(results, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(per_class_table(results))
    plot_sweep(results, paths[2], title)
    return paths


__all__ = [
    'CAMIoU',
    'VOC_CLASSES',
    'DEFAULT_THRESHOLDS',
    'seg_label_lut',
    'per_class_table',
    'plot_sweep',
    'write_reports',
]
