"""Compatibility fixes for the pinned stack (mmengine 0.10.7 on torch >= 2.6), in one place.

mmengine 0.10.7 loads local checkpoints with ``torch.load(filename, map_location=...)``.
Since torch 2.6 that defaults to ``weights_only=True``, which refuses mmengine's own
checkpoints (they pickle numpy scalars, ``HistoryBuffer`` and config objects in ``meta``
and ``message_hub``): ``--resume`` and ``load_from`` fail with ``UnpicklingError``.
Rather than asking users for an environment variable, we re-register mmengine's loader
for local paths through its public extension point (``CheckpointLoader.register_scheme``)
with ``weights_only=False``, i.e. the behaviour mmengine was written for. As before torch
2.6, only load checkpoints you trust: unpickling can run code.
"""

from __future__ import annotations

import os.path as osp
from typing import Any, Optional

import torch


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local checkpoint loader, with ``weights_only=False`` (see module doc)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def apply() -> None:
    """Install the fixes (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
