"""What several test modules use: a tool script loaded as a module, tiny VOC-layout
data, and the edits of its label PNGs.

``tests/`` is on ``sys.path`` (pytest puts the folder of the root ``conftest.py`` there), so
test modules ``from common import ...``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, List, Optional

import numpy as np
from PIL import Image

from wider_mm.datasets.demo import make_demo_data

ROOT = Path(__file__).resolve().parents[1]


def load_tool(path: str, name: Optional[str] = None) -> ModuleType:
    """Import ``tools/PATH.py`` (e.g. ``'train'``, ``'model_converters/wrn2mm'``) as a module.

    It is put in ``sys.modules`` (as ``name``, default ``wider_tools_PATH``) before it runs:
    dataclasses look their module up there while it loads.
    """
    name = name or 'wider_tools_' + path.replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / f'{path}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def tiny_voc(out: Path, seed: int) -> Path:
    """The demo data's VOC layout under ``out``: 4 train, 3 val images of 48x32, 5 classes.

    Returns:
        Path: Its ``VOCdevkit/VOC2012`` folder.
    """
    make_demo_data(
        str(out), num_train=4, num_val=3, num_test=0, size=(48, 32), seed=seed, layouts=('voc',)
    )
    return out / 'VOCdevkit' / 'VOC2012'


def split_names(root: Path, split: str) -> List[str]:
    """The image names of a VOC split (``ImageSets/Segmentation/SPLIT.txt``)."""
    return (root / 'ImageSets' / 'Segmentation' / f'{split}.txt').read_text().split()


def edit_png(png: Path, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Rewrite a palette PNG's ids with ``fn`` (keeps the palette, as VOC files have it)."""
    im = Image.open(png)
    out = Image.fromarray(fn(np.array(im)), 'P')
    out.putpalette(im.getpalette())
    out.save(png)
