"""``CheckSegAnnotation``: refuse a segmentation map that does not fit its image or its classes.

mmseg loads whatever a label PNG holds. A map of another size than its image trains on
misaligned labels without a word (the random crop cuts both at the same place); a value
outside the classes (e.g. 77 in a 21-class set) changes the validation mIoU silently (the
metric counts the pixel's prediction but not its label) and makes training fail with an
``IndexError`` (a device-side assert on a GPU) that names no file. mmseg has no transform
that checks either, so this one does, right after ``LoadAnnotations``: it compares the map's
size with the image's (``ori_shape``, the size as loaded, so it also works after a test
pipeline's ``Resize``) and its values with ``0 .. num_classes - 1`` and the ignore index,
i.e. the values *after* the dataset's ``label_map`` and ``reduce_zero_label`` (which maps
0 -> 255 and v -> v - 1). Two vectorised comparisons over a uint8 map: about a millisecond
for a 1024 x 2048 Cityscapes map (decoding its PNG takes tens), so it stays on by default.

In a plain mmseg config::

    dict(type='LoadAnnotations'),
    dict(type='CheckSegAnnotation', num_classes=21),  # ignore_index=255 by default

``tools/train.py`` and ``tools/test.py`` insert it themselves (see
:func:`wider_mm.datasets.checks.add_annotation_checks`).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

#: How a user turns the check off; named in every error.
OPT_OUT = (
    'to run without this check: --cfg-options check_annotations=False (wider_mm tools), or '
    'remove CheckSegAnnotation from the pipeline'
)


class SegAnnotationError(ValueError):
    """A segmentation map that does not fit its image or the dataset's classes.

    Attributes:
        img_path: The image file (None if unknown).
        seg_map_path: The annotation file (None if unknown).
        problem: What is wrong, in one line (without the file names and the fix).
    """

    def __init__(
        self,
        message: str,
        img_path: Optional[str] = None,
        seg_map_path: Optional[str] = None,
        problem: Optional[str] = None,
    ) -> None:
        if 'Original Traceback' in message:
            # re-raised by a DataLoader worker: torch passes the formatted traceback as the
            # message; its last line is this error's own one-line message
            message = message.rstrip().splitlines()[-1].split(f'{type(self).__name__}: ', 1)[-1]
        super().__init__(message)
        self.img_path, self.seg_map_path = img_path, seg_map_path
        self.problem = problem or message

    def __reduce__(self):  # dataloader workers pickle exceptions; keep the attributes
        return (type(self), (str(self), self.img_path, self.seg_map_path, self.problem))


def _hw(shape: Sequence[int]) -> str:
    return 'x'.join(str(int(s)) for s in shape)


def _values(values: np.ndarray, limit: int = 10) -> str:
    shown = ', '.join(str(v) for v in values[:limit].tolist())
    return f'[{shown}{", ..." if len(values) > limit else ""}]'


def find_seg_map_problem(
    seg_map: np.ndarray,
    image_shape: Sequence[int],
    num_classes: Optional[int],
    ignore_index: int = 255,
) -> Optional[Tuple[str, Optional[np.ndarray]]]:
    """What is wrong with ``seg_map``, or None.

    Args:
        seg_map: The loaded map (H, W), after the dataset's label mapping.
        image_shape: The image's (H, W) as loaded.
        num_classes: Valid class ids are ``0 .. num_classes - 1``; None checks the size only.
        ignore_index: The one other value allowed.

    Returns:
        None if the map is fine, else ``(problem, bad_mask)``: a one-line description and,
        for bad values, a boolean mask of the pixels that hold them (None for size problems).
    """
    if seg_map.ndim != 2:
        return (
            f'the annotation has shape {tuple(seg_map.shape)}, not (H, W): mmseg needs '
            'single-channel maps of class ids (grey or palette PNGs), not colour images',
            None,
        )
    h, w = (int(s) for s in image_shape[:2])
    if seg_map.shape != (h, w):
        return (
            f'the annotation is {_hw(seg_map.shape)} (HxW) but its image is {h}x{w}: the '
            'labels would not line up with the pixels',
            None,
        )
    if num_classes is None:
        return None
    if seg_map.dtype == np.uint8:
        # fast path, about 1 ms at 1024x2048: uint8 comparisons; the value histogram
        # (np.bincount, ~10x slower) only for a map that fails
        high = np.count_nonzero(seg_map >= num_classes) if num_classes < 256 else 0
        if not high:
            return None
        if num_classes <= ignore_index < 256 and high == np.count_nonzero(seg_map == ignore_index):
            return None
        counts = np.bincount(seg_map.ravel(), minlength=256)
        valid = np.zeros(256, bool)
        valid[: min(num_classes, 256)] = True
        if 0 <= ignore_index < 256:
            valid[ignore_index] = True
        bad = np.flatnonzero((counts > 0) & ~valid)
        mask = ~valid[seg_map]
        pixels = int(counts[bad].sum())
    else:
        values = np.unique(seg_map)
        ok = ((values >= 0) & (values < num_classes) & (values == np.round(values))) | (
            values == ignore_index
        )
        bad = values[~ok]
        if not len(bad):
            return None
        mask = np.isin(seg_map, bad)
        pixels = int(mask.sum())
    return (
        f'values {_values(bad)} ({pixels} pixels) are neither class ids 0..{num_classes - 1} '
        f'({num_classes} classes) nor the ignore index {ignore_index}',
        mask,
    )


@TRANSFORMS.register_module()
class CheckSegAnnotation(BaseTransform):
    """Check a loaded segmentation map against its image and the dataset's classes.

    Place it right after ``LoadAnnotations``. It changes nothing; a bad map raises
    :class:`SegAnnotationError` naming the image and annotation files, the bad sizes or
    values (also as stored in the file, where ``reduce_zero_label`` or a class subset
    changed them) and the fix.

    Required keys: ``gt_seg_map``, ``ori_shape`` (or ``img_shape`` / ``img``).
    Optional keys (for the message): ``img_path``, ``seg_map_path``, ``reduce_zero_label``,
    ``label_map``.

    Args:
        num_classes (int, optional): Classes of the dataset: valid ids are
            ``0 .. num_classes - 1``. None checks the size only. Default: None.
        ignore_index (int): The label of pixels left out of loss and metric (mmseg's
            default). Default: 255.

    Example:
        >>> import numpy as np
        >>> check = CheckSegAnnotation(num_classes=5)
        >>> r = check(dict(gt_seg_map=np.zeros((4, 6), np.uint8), ori_shape=(4, 6)))
        >>> r['gt_seg_map'].shape
        (4, 6)
    """

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255) -> None:
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f'CheckSegAnnotation: num_classes must be >= 1, got {num_classes!r}')
        self.num_classes = num_classes
        self.ignore_index = int(ignore_index)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        """Raise :class:`SegAnnotationError` if ``results['gt_seg_map']`` is bad."""
        seg_map = results.get('gt_seg_map')
        if seg_map is None:
            raise ValueError(
                'CheckSegAnnotation found no gt_seg_map: place it right after '
                "dict(type='LoadAnnotations') in the pipeline"
            )
        shape = results.get('ori_shape') or results.get('img_shape')
        if shape is None and results.get('img') is not None:
            shape = results['img'].shape[:2]
        if shape is None:
            raise ValueError(
                'CheckSegAnnotation found no image size (ori_shape): place it after '
                'LoadImageFromFile and LoadAnnotations'
            )
        found = find_seg_map_problem(seg_map, shape, self.num_classes, self.ignore_index)
        if found is not None:
            problem, mask = found
            if mask is not None:
                problem += self._in_file(results, mask)
            raise self.error(results, problem)
        return results

    @staticmethod
    def _in_file(results: Dict[str, Any], mask: np.ndarray) -> str:
        """The bad pixels' values as stored in the file, where the dataset remapped them."""
        if not (results.get('reduce_zero_label') or results.get('label_map')):
            return ''
        try:  # only on the error path: read the file again, as LoadAnnotations does
            import mmcv
            from mmengine.fileio import get

            raw = mmcv.imfrombytes(
                get(results['seg_map_path']), flag='unchanged', backend='pillow'
            ).squeeze()
            values = np.unique(raw[mask]) if raw.shape == mask.shape else None
        except Exception:  # the message stays useful without the raw values
            return ''
        if values is None or np.array_equal(values, np.unique(results['gt_seg_map'][mask])):
            return ''
        how = ' and '.join(
            n
            for n, on in (
                ('class-subset label_map', results.get('label_map')),
                ('reduce_zero_label: 0 -> 255, v -> v-1', results.get('reduce_zero_label')),
            )
            if on
        )
        return f"; in the file: {_values(values)} (before the dataset's {how})"

    @staticmethod
    def error(results: Dict[str, Any], problem: str) -> SegAnnotationError:
        """The error for ``problem`` in the sample ``results``, naming its files and the fix."""
        img, ann = results.get('img_path'), results.get('seg_map_path')
        return SegAnnotationError(
            f'annotation {ann} (image {img}): {problem}. Fix or remove the file (or correct '
            "the dataset's classes, reduce_zero_label or ignore_index if they are wrong); "
            f'tools/check_dataset.py CONFIG lists every bad file; {OPT_OUT}',
            img_path=img,
            seg_map_path=ann,
            problem=problem,
        )

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(num_classes={self.num_classes}, '
            f'ignore_index={self.ignore_index})'
        )
