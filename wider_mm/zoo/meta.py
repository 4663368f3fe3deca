"""What makes a converted checkpoint ready to use: its zoo model, config and dataset_meta.

A checkpoint converted by ``tools/model_converters/wrn2mm.py`` from a registered release
carries in ``meta``: ``zoo_model`` (the model of ``model-index.yml``), ``config`` (the config
to use, relative to the repository root), ``dataset_meta`` (``classes`` and ``palette``,
what mmseg's ``MMSegInferencer`` / ``init_model`` and mmpretrain's inferencers label their
predictions with) and ``released`` (the file it came from). :func:`config_of` turns a
checkpoint into the config that builds its model: the ``cfg`` that mmengine's Runner saves
in its checkpoints, or the zoo config with the backbone and head arguments the converter
read from the weights (so a checkpoint at another width still gets a fitting model).
"""

from __future__ import annotations

import os.path as osp
from typing import Any, Dict, Mapping, Optional

from .index import REPO_ROOT, get_model_info
from .released import Identification, ReleasedFile

#: Label spaces of the released files -> (library, dataset class) that defines them.
DATASETS: Dict[str, tuple] = {
    'voc': ('mmseg', 'PascalVOCDataset'),
    'cityscapes': ('mmseg', 'CityscapesDataset'),
    'ade20k': ('mmseg', 'ADE20KDataset'),
    'imagenet': ('mmpretrain', 'ImageNet'),
    'voc-cls': ('mmpretrain', 'VOC'),  # VOC's 20 object classes, multi-label (PSA's fc8)
}


def dataset_meta(key: str) -> Dict[str, Any]:
    """``classes`` and ``palette`` of a label space, from the library's dataset class.

    mmpretrain's ImageNet has no palette; none is returned for it (its visualizer needs
    none).
    """
    if key not in DATASETS:
        raise ValueError(f'unknown label space {key!r}; known: {sorted(DATASETS)}')
    lib, cls = DATASETS[key]
    if lib == 'mmseg':
        import mmseg.datasets as datasets
    else:
        import mmpretrain.datasets as datasets
    info = getattr(datasets, cls).METAINFO
    out: Dict[str, Any] = dict(classes=list(info['classes']))
    if 'palette' in info:
        out['palette'] = [list(map(int, c)) for c in info['palette']]
    return out


def ready_meta(ident: Identification) -> Dict[str, Any]:
    """The ``meta`` entries a converted checkpoint of an identified release gets."""
    entry: Optional[ReleasedFile] = ident.entry
    if entry is None:
        return {}
    meta: Dict[str, Any] = dict(
        released=dict(
            name=entry.name,
            origin=entry.origin,
            md5=ident.md5,
            published_md5=entry.md5,
            identified_by=ident.by,
            hash_mismatch=ident.hash_mismatch,
        )
    )
    if entry.zoo_model:
        model = get_model_info(entry.zoo_model)
        meta.update(zoo_model=model.name, config=model.config)
    if entry.dataset:
        meta['dataset_meta'] = dataset_meta(entry.dataset)
    return meta


def _load_meta(checkpoint: str) -> Mapping[str, Any]:
    from mmengine.runner.checkpoint import _load_checkpoint

    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    return (ckpt.get('meta') or {}) if isinstance(ckpt, dict) else {}


def config_of(checkpoint: str, meta: Optional[Mapping[str, Any]] = None):
    """The config that builds the model of ``checkpoint`` (an mmengine ``Config``).

    Args:
        checkpoint: A checkpoint written by mmengine's Runner (its ``meta['cfg']``) or by
            wrn2mm.py from a registered release (its ``meta['config']``).
        meta: The checkpoint's ``meta``, if already loaded.

    Raises:
        ValueError: the checkpoint names no config (pass the config explicitly).
    """
    from mmengine.config import Config

    meta = _load_meta(checkpoint) if meta is None else meta
    if meta.get('cfg'):
        return Config.fromstring(meta['cfg'], file_format='.py')
    name = meta.get('config')
    if not name:
        raise ValueError(
            f"{checkpoint} names no config in its meta (neither a training run's cfg nor "
            "a zoo config): pass the config too, e.g. 'image_demo.py IMAGES CONFIG "
            "CHECKPOINT'"
        )
    path = name if osp.isabs(name) else osp.join(REPO_ROOT, name)
    if not osp.isfile(path):
        raise ValueError(
            f'{checkpoint} names the config {name}, which is not at {path}; pass the config '
            'explicitly'
        )
    cfg = Config.fromfile(path)
    backbone = {k: v for k, v in (meta.get('backbone') or {}).items() if k != 'type'}
    if backbone:
        cfg.model.backbone.update(backbone)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    if meta.get('task') == 'classification' and meta.get('head'):
        cfg.model.head.update(
            in_channels=meta['head']['in_channels'], num_classes=meta['head']['num_classes']
        )
    elif meta.get('task') == 'segmentation' and meta.get('decode_head'):
        head = meta['decode_head']
        cfg.model.decode_head.update(
            {k: head[k] for k in ('in_channels', 'channels', 'num_classes') if k in head}
        )
    return cfg


def zoo_config(name: str):
    """The config of a zoo model, by name (an mmengine ``Config``)."""
    from mmengine.config import Config

    return Config.fromfile(get_model_info(name).config_path)


__all__ = ['dataset_meta', 'ready_meta', 'config_of', 'zoo_config', 'DATASETS']
