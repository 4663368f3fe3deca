"""The model zoo as data and the registry of released weights.

* :mod:`.index`: ``model-index.yml`` and the ``metafile.yaml`` of each config family
  (mmseg's / mmpretrain's schema), the one place of the published numbers.
* :mod:`.released`: the released checkpoints (name, MD5, converter format, backbone
  arguments, zoo model), recognised by hash or name.
* :mod:`.meta`: what a converted checkpoint carries to be ready to use (zoo model, config,
  ``dataset_meta``), and the config of a checkpoint.
* :func:`register_mmpretrain_models`: zoo names for ``mmpretrain.get_model``.

Only PyYAML is imported here; mmseg, mmpretrain and mmengine's Config are imported by the
functions that need them.
"""

from .hub import register_mmpretrain_models
from .index import (
    MODEL_INDEX,
    REPO_ROOT,
    ZooError,
    ZooModel,
    get_model_info,
    load_model_index,
    model_for_config,
)
from .meta import config_of, dataset_meta, ready_meta, zoo_config
from .released import RELEASED, Identification, ReleasedFile, ReleasedRegistry, md5sum

__all__ = [
    'MODEL_INDEX',
    'REPO_ROOT',
    'ZooError',
    'ZooModel',
    'get_model_info',
    'load_model_index',
    'model_for_config',
    'config_of',
    'dataset_meta',
    'ready_meta',
    'zoo_config',
    'RELEASED',
    'Identification',
    'ReleasedFile',
    'ReleasedRegistry',
    'md5sum',
    'register_mmpretrain_models',
]
