"""Compatibility fixes for the pinned stack (mmengine 0.10.7, mmseg 1.2.2), in one place.

mmengine 0.10.7 loads local checkpoints with ``torch.load(filename, map_location=...)``.
Since torch 2.6 that defaults to ``weights_only=True``, which refuses mmengine's own
checkpoints (they pickle numpy scalars, ``HistoryBuffer`` and config objects in ``meta``
and ``message_hub``): ``--resume`` and ``load_from`` fail with ``UnpicklingError``.
Rather than asking users for an environment variable, we re-register mmengine's loader
for local paths through its public extension point (``CheckpointLoader.register_scheme``)
with ``weights_only=False``, i.e. the behaviour mmengine was written for. As before torch
2.6, only load checkpoints you trust: unpickling can run code.

mmseg 1.2.2's ``SegLocalVisualizer`` writes the class names with ``cv2.rectangle`` /
``cv2.putText`` into ``np.zeros_like(image)``, which keeps the image's memory layout. mmseg's
``tools/analysis_tools/browse_dataset.py`` passes a strided view of the packed CHW tensor
(``inputs.permute(1, 2, 0).numpy()``, channels reordered), and OpenCV's Python bindings
refuse a non-contiguous output array (``Layout of the output array img is incompatible with
cv::Mat``) in every opencv-python release with Python 3.11 wheels (4.5.5 to 4.14), so no
version pin helps. We register, under mmseg's own name, its visualizer drawing on a
C-contiguous copy of the image (no copy when it already is, as in the training hook and the
inferencer).
"""

from __future__ import annotations

import os.path as osp
from typing import Any, Optional

import numpy as np
import torch


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local checkpoint loader, with ``weights_only=False`` (see module doc)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def contiguous_image_visualizer(base: type) -> type:
    """``base`` (mmseg's ``SegLocalVisualizer``) drawing on a C-contiguous image (module doc)."""

    class SegLocalVisualizer(base):
        """mmseg's ``SegLocalVisualizer``; ``add_datasample`` makes the image C-contiguous."""

        def add_datasample(self, name: str, image: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            """mmseg's ``add_datasample`` on ``np.ascontiguousarray(image)``."""
            return super().add_datasample(name, np.ascontiguousarray(image), *args, **kwargs)

    return SegLocalVisualizer


def apply() -> None:
    """Install the fixes (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    try:
        from mmseg.registry import VISUALIZERS
        from mmseg.visualization import SegLocalVisualizer
    except ImportError:  # without mmseg there is no visualizer to fix (registry.py says so)
        return
    if VISUALIZERS.module_dict.get('SegLocalVisualizer') is SegLocalVisualizer:  # not yet
        VISUALIZERS.register_module(
            name='SegLocalVisualizer',
            module=contiguous_image_visualizer(SegLocalVisualizer),
            force=True,
        )
