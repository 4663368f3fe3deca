"""Published results of the Wider ResNet paper (Wu, Shen, van den Hengel, arXiv:1611.10080).

The numbers of the paper's tables (and of the MAP port for its WRN-38), to stand beside
ours in ``tools/leaderboard.py``. Segmentation numbers are mIoU (%); ImageNet numbers are
error rates (%), lower is better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional


@dataclass(frozen=True)
class Published:
    """One published number.

    Attributes:
        dataset: 'voc12', 'cityscapes', 'ade20k', 'pascal_context' or 'imagenet'.
        split: 'val' or 'test'.
        model: 'A', 'A1', 'A2', 'A (MAP)', 'ResNet-50', ...
        training: Training data, e.g. 'VOC+SBD', '+COCO', 'fine', 'fine+coarse'.
        protocol: Test protocol, e.g. 'long side 500, flip', 'multi-scale'.
        metric: 'mIoU', 'aAcc', 'top1_err' or 'top5_err'.
        value: The number, in percent.
    """

    dataset: str
    split: str
    model: str
    training: str
    protocol: str
    metric: str
    value: float

    @property
    def lower_is_better(self) -> bool:
        return self.metric.endswith('_err')

    def to_dict(self) -> dict:
        return asdict(self)


_P = Published
PUBLISHED: List[Published] = [
    _P('imagenet', 'val', 'A', 'ImageNet', 'short side 320, centre crop 320', 'top1_err', 19.20),
    _P('imagenet', 'val', 'A', 'ImageNet', 'short side 320, centre crop 320', 'top5_err', 4.73),
    _P('imagenet', 'val', 'A1', 'ImageNet', 'short side 320, centre crop 320', 'top1_err', 19.54),
    _P('imagenet', 'val', 'A1', 'ImageNet', 'short side 320, centre crop 320', 'top5_err', 4.75),
    _P('imagenet', 'val', 'A (MAP)', 'ImageNet', '224, single crop', 'top1_err', 20.28),
    _P('imagenet', 'val', 'A (MAP)', 'ImageNet', '224, 10 crops', 'top1_err', 18.97),
    _P('imagenet', 'val', 'A (MAP)', 'ImageNet', '320, single crop', 'top1_err', 19.31),
    _P('imagenet', 'val', 'ResNet-50', 'ImageNet', '224, single crop', 'top1_err', 24.01),
    _P('imagenet', 'val', 'ResNet-101', 'ImageNet', '224, single crop', 'top1_err', 22.44),
    _P('imagenet', 'val', 'ResNet-152', 'ImageNet', '224, single crop', 'top1_err', 22.16),
    _P('imagenet', 'val', 'ResNet-200', 'ImageNet', '224, single crop', 'top1_err', 21.66),
    _P('voc12', 'val', 'A1', 'VOC+SBD', 'long side 500, flip', 'mIoU', 80.84),
    _P('voc12', 'val', 'A1', '+COCO', 'long side 500, flip', 'mIoU', 82.86),
    _P('voc12', 'test', 'A1', 'VOC+SBD', 'single scale', 'mIoU', 82.5),
    _P('voc12', 'test', 'A1', 'VOC+SBD', 'multi-scale', 'mIoU', 83.1),
    _P('voc12', 'test', 'A1', '+COCO', 'multi-scale', 'mIoU', 84.9),
    _P('cityscapes', 'val', 'A1', 'fine', '1024x2048, flip', 'mIoU', 78.08),
    _P('cityscapes', 'test', 'A2', 'fine', 'single scale', 'mIoU', 78.4),
    _P('cityscapes', 'test', 'A2', 'fine', 'multi-scale', 'mIoU', 79.4),
    _P('cityscapes', 'test', 'A2', 'fine+coarse', 'single scale', 'mIoU', 79.9),
    _P('cityscapes', 'test', 'A2', 'fine+coarse', 'multi-scale', 'mIoU', 80.6),
    _P('ade20k', 'val', 'A1', 'ADE20K', 'long side 500, flip', 'mIoU', 43.34),
    _P('ade20k', 'val', 'A1', 'ADE20K', 'long side 500, flip', 'aAcc', 80.55),
    _P('pascal_context', 'val', 'A1', 'PASCAL Context', '-', 'mIoU', 48.1),
]

#: Dataset classes of mmseg / mmpretrain -> the dataset keys above.
DATASET_KEYS: Dict[str, str] = {
    'PascalVOCDataset': 'voc12',
    'CityscapesDataset': 'cityscapes',
    'ADE20KDataset': 'ade20k',
    'PascalContextDataset': 'pascal_context',
    'PascalContextDataset59': 'pascal_context',
    'ImageNet': 'imagenet',
}


def find_published(
    dataset: str,
    metric: Optional[str] = None,
    model: Optional[str] = None,
    split: Optional[str] = None,
) -> List[Published]:
    """Published rows for a dataset key (or an mmseg/mmpretrain dataset class name).

    Args:
        dataset: A key of :data:`PUBLISHED` ('voc12', ...) or a dataset class name
            ('PascalVOCDataset', ...).
        metric: Only this metric ('mIoU', 'top1_err', ...). Default: all.
        model: Only this model ('A1', ...; case-insensitive). Default: all.
        split: Only this split ('val', 'test'). Default: all.

    Returns:
        list[Published]: In table order; empty when nothing was published for it.
    """
    key = DATASET_KEYS.get(dataset, dataset)
    return [
        p
        for p in PUBLISHED
        if p.dataset == key
        and (metric is None or p.metric == metric)
        and (model is None or p.model.lower() == model.lower())
        and (split is None or p.split == split)
    ]
