"""Dataset-side checks: :class:`CheckSegAnnotation` (a registered mmseg transform) and the
config-level helpers of :mod:`wider_mm.datasets.checks`; :mod:`wider_mm.datasets.demo`
writes the synthetic demo data set (VOC and Cityscapes layouts)."""

from .transforms import CheckSegAnnotation, SegAnnotationError, find_seg_map_problem

__all__ = ['CheckSegAnnotation', 'SegAnnotationError', 'find_seg_map_problem']
