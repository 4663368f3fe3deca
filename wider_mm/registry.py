"""Register wider_mm's modules in mmseg's and mmpretrain's registries.

The same class objects are registered in both (``type='WiderResNet'`` works in configs of
either library). Each library is optional: the backbone alone needs only torch, mmengine
and mmcv's pure-Python parts; a missing library skips its registration and says so when a
config asks for it (``missing_libraries``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Dict, List

from .models.backbones.wider_resnet import WiderResNet

#: library -> the reason it could not be imported (empty if all are there).
missing_libraries: Dict[str, str] = {}


def _registry(lib: str):
    try:
        return importlib.import_module(f'{lib}.registry').MODELS
    except ImportError as e:  # depends on the environment
        missing_libraries[lib] = f'{type(e).__name__}: {e}'
        warnings.warn(
            f'wider_mm: {lib} cannot be imported ({e}); wider_mm modules are not registered '
            f'for {lib} configs. Install the stack with `make install` (tools/install.sh).',
            stacklevel=3,
        )
        return None


def register_all() -> List[str]:
    """Register every module; return the libraries registered into."""
    # mmengine's own registries (both libraries): SafeCheckpointHook, WiderRunner, the
    # atomic checkpoint file backend
    from .engine import checkpoint  # noqa: F401

    done = []
    seg = _registry('mmseg')
    if seg is not None:
        seg.register_module(module=WiderResNet, force=True)
        # The decode head subclasses mmseg's BaseDecodeHead, so it only exists with mmseg.
        from .datasets import transforms  # noqa: F401  (CheckSegAnnotation)
        from .evaluation import metrics  # noqa: F401  (VOC submission, class-wise IoU metrics)
        from .models.decode_heads import wider_head  # noqa: F401
        from .models.segmentors import channel_check  # noqa: F401

        done.append('mmseg')
    pre = _registry('mmpretrain')
    if pre is not None:
        pre.register_module(module=WiderResNet, force=True)
        from .models.heads import cam_head  # noqa: F401  (PSA's multi-label head, CAMs)
        from .zoo.hub import register_mmpretrain_models

        register_mmpretrain_models()  # zoo names for mmpretrain.get_model and inferencers
        done.append('mmpretrain')
    return done
