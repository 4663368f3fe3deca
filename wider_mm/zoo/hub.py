"""Zoo names in mmpretrain: ``mmpretrain.get_model(NAME, pretrained=FILE)``.

mmpretrain lets an extension add its models to its ``ModelHub`` through
``ModelHub.register_model_index``; this registers the classification metafile, so that
``get_model('wrn38a1_8xb32_in1k-test320', pretrained='checkpoints/wrn38a1_in1k.pth')``
and ``ImageClassificationInferencer(NAME, pretrained=FILE)`` build the zoo's config.
(mmseg 1.2.2 has no such hook: its ``MMSegInferencer`` reads mmseg's own model-index only;
give it the config, or use :func:`wider_mm.inference.build_inferencer`.)
"""

from __future__ import annotations

import os.path as osp
from typing import List

from .index import REPO_ROOT, load_model_index

#: The zoo models that mmpretrain runs.
CLASSIFICATION_METAFILE = osp.join(REPO_ROOT, 'configs', 'classification', 'metafile.yaml')


def register_mmpretrain_models(metafile: str = CLASSIFICATION_METAFILE) -> List[str]:
    """Register ``metafile``'s models in mmpretrain's ``ModelHub`` (once); return their names.

    Nothing happens (and [] is returned) when the metafile is not there, e.g. for a copy
    of the package installed without the repository's configs.
    """
    if not osp.isfile(metafile):
        return []
    from mmpretrain.apis import ModelHub

    names = list(load_model_index(metafile))
    if names and not all(ModelHub.has(n.lower()) for n in names):
        ModelHub.register_model_index(metafile, config_prefix=REPO_ROOT)
    return names


__all__ = ['register_mmpretrain_models', 'CLASSIFICATION_METAFILE']
