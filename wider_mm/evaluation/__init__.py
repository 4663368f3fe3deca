"""Evaluation additions for leaderboard-style testing (mmseg ``METRICS``).

* :class:`ClasswiseIoUMetric`: mmseg's ``IoUMetric`` that also keeps the per-class numbers
  it prints, so ``tools/test.py`` can save them as JSON.
* :class:`VOCSubmissionMetric`: predictions in the PASCAL VOC evaluation server's layout
  (``results/VOC2012/Segmentation/comp6_test_cls/*.png``, VOC palette), packed as .tar.gz.
* :data:`PUBLISHED`: the paper's published numbers, to stand beside ours.

Importing this module registers the metrics in mmseg's ``METRICS`` registry.
"""

from .metrics import ClasswiseIoUMetric, VOCSubmissionMetric, pack_folder, voc_palette
from .published import PUBLISHED, find_published

__all__ = [
    'ClasswiseIoUMetric',
    'VOCSubmissionMetric',
    'pack_folder',
    'voc_palette',
    'PUBLISHED',
    'find_published',
]
