"""The model zoo as data: ``model-index.yml`` and the ``metafile.yaml`` files it imports.

The files follow mmseg's / mmpretrain's schema (``Collections``; ``Models`` with ``Name``,
``In Collection``, ``Config``, ``Metadata``, ``Results``, ``Weights``, ``Converted From``),
plus two keys of this project: ``Split`` and ``Protocol`` in a result, and ``Compare With``
(the number a model is to be compared with where nothing was published for it). They are
read here with PyYAML rather than with the ``modelindex`` package that mim and mmpretrain
use, because that package's ``Result`` keeps only task, dataset and metrics and would drop
the split and protocol that the leaderboard needs.

Example:
    >>> from wider_mm.zoo import get_model_info
    >>> m = get_model_info('widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504')
    >>> m.results[0]['Metrics']
    {'mIoU': 80.84}
"""

from __future__ import annotations

import difflib
import functools
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import yaml

#: The repository root (``configs/`` and ``model-index.yml`` live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
#: Keys every model must have.
REQUIRED = ('Name', 'In Collection', 'Config', 'Metadata', 'Results')


class ZooError(ValueError):
    """The model index or a metafile is malformed, or a name is unknown."""


@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo.

    Attributes:
        name: Its name (the config's stem, or a variant of it for other weights).
        collection: ``In Collection``.
        config: Config path relative to the repository root.
        metadata: ``Metadata`` (training data, batch, crop, schedule, architecture...).
        results: ``Results``: dicts with ``Task``, ``Dataset``, ``Split``, ``Protocol``,
            ``Metrics``.
        weights: ``Weights`` (a URL) or None.
        converted_from: ``Converted From`` (``Weights``: released file name, ``MD5``,
            ``Code``) or None.
        compare_with: ``Compare With`` entries (``Model``, ``Name``, ``Source``,
            ``Results``).
        metafile: The metafile it comes from.
    """

    name: str
    collection: str
    config: str
    metadata: Mapping[str, Any]
    results: List[Mapping[str, Any]]
    weights: Optional[str] = None
    converted_from: Optional[Mapping[str, Any]] = None
    compare_with: List[Mapping[str, Any]] = field(default_factory=list)
    metafile: str = ''

    @property
    def config_path(self) -> str:
        """Absolute path of the config."""
        return osp.join(REPO_ROOT, self.config)

    @property
    def scope(self) -> str:
        """'mmseg' or 'mmpretrain': the library whose tools run the config."""
        return 'mmpretrain' if '/classification/' in f'/{self.config}' else 'mmseg'

    @property
    def label(self) -> str:
        """Short backbone label ('A1', 'A2', 'A (MAP)', 'WRN-16 A') of the first
        ``Architecture`` entry."""
        arch = self.metadata.get('Architecture') or ['']
        text = str(arch[0]).split(' (output stride')[0]
        return text[len('WRN-38 ') :] if text.startswith('WRN-38 ') else text

    @property
    def training_data(self) -> str:
        """``Metadata.Training Data`` as one string."""
        data = self.metadata.get('Training Data', '')
        return ' + '.join(data) if isinstance(data, (list, tuple)) else str(data)


def _read_yaml(path: str) -> Any:
    if not osp.isfile(path):
        raise ZooError(f'{path}: no such file')
    with open(path) as f:
        try:
            return yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ZooError(f'{path}: not valid YAML ({e})') from e


def _model(d: Mapping[str, Any], metafile: str, collections: set) -> ZooModel:
    name = d.get('Name', '?')
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise ZooError(f'{metafile}: model {name} lacks {missing}')
    if d['In Collection'] not in collections:
        raise ZooError(
            f'{metafile}: model {name} is in collection {d["In Collection"]!r}, which the '
            f'metafile does not define ({sorted(collections)})'
        )
    for r in d['Results'] or []:
        if not isinstance(r, Mapping) or not {'Task', 'Dataset', 'Metrics'} <= set(r):
            raise ZooError(f'{metafile}: model {name}: a result needs Task, Dataset, Metrics')
    return ZooModel(
        name=name,
        collection=d['In Collection'],
        config=d['Config'],
        metadata=dict(d['Metadata'] or {}),
        results=list(d['Results'] or []),
        weights=d.get('Weights'),
        converted_from=d.get('Converted From'),
        compare_with=list(d.get('Compare With') or []),
        metafile=metafile,
    )


@functools.lru_cache(maxsize=8)
def load_model_index(path: str = MODEL_INDEX) -> Dict[str, ZooModel]:
    """Every model of ``path`` (a model-index.yml or one metafile.yaml), by name.

    Raises:
        ZooError: a missing or malformed file, a model without the required keys, or a
            name used twice.
    """
    data = _read_yaml(path) or {}
    root = osp.dirname(osp.abspath(path))
    metafiles = [osp.join(root, p) for p in data.get('Import', [])] if 'Import' in data else [path]
    models: Dict[str, ZooModel] = {}
    for mf in metafiles:
        meta = _read_yaml(mf) or {}
        collections = {c['Name'] for c in meta.get('Collections') or []}
        for d in meta.get('Models') or []:
            m = _model(d, osp.relpath(mf, root), collections)
            if m.name in models:
                raise ZooError(f'{mf}: model name {m.name} is used twice in the zoo')
            models[m.name] = m
    return models


def get_model_info(name: str, path: str = MODEL_INDEX) -> ZooModel:
    """The zoo model called ``name``; an unknown one raises listing the closest names."""
    models = load_model_index(path)
    if name in models:
        return models[name]
    close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
    hint = f'; did you mean {", ".join(close)}?' if close else ''
    raise ZooError(f'{name} is not a model of {osp.basename(path)}{hint}')


def model_for_config(config: str, path: str = MODEL_INDEX) -> Optional[ZooModel]:
    """The zoo model whose config is ``config`` (a path or a stem), None if none."""
    stem = osp.splitext(osp.basename(config))[0]
    for m in load_model_index(path).values():
        if m.name == stem:
            return m
    for m in load_model_index(path).values():
        if osp.splitext(osp.basename(m.config))[0] == stem:
            return m
    return None


__all__ = [
    'ZooModel',
    'ZooError',
    'load_model_index',
    'get_model_info',
    'model_for_config',
    'MODEL_INDEX',
    'REPO_ROOT',
]
