"""Published results, read from the model zoo (``model-index.yml`` and its metafiles).

The numbers of the Wider ResNet paper (Wu, Shen, van den Hengel, arXiv:1611.10080), of the
ports' releases (MAP) and the baselines they are compared with live in one place, the
``metafile.yaml`` of each config family; this module turns them into the rows the
leaderboard (:mod:`.leaderboard`) stands beside ours. Segmentation numbers are mIoU / aAcc (%);
ImageNet accuracies become error rates (%), as the paper reports them, lower is better.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

from ..zoo.index import MODEL_INDEX, ZooModel, load_model_index


@dataclass(frozen=True)
class Published:
    """One published number.

    Attributes:
        dataset: 'voc12', 'cityscapes', 'ade20k', 'pascal_context' or 'imagenet'.
        split: 'val' or 'test'.
        model: 'A', 'A1', 'A2', 'A (MAP)' (zoo results), or the baseline's name.
        training: Training data, e.g. 'Pascal VOC 2012 + Aug', 'Cityscapes'.
        protocol: Test protocol, e.g. 'long side 500, flip', 'multi-scale (test server)'.
        metric: 'mIoU', 'aAcc', 'top1_err' or 'top5_err'.
        value: The number, in percent.
        zoo_model: The zoo model the number belongs to (or is the baseline of).
        kind: 'result' (published for that zoo model) or 'baseline' (its ``Compare With``).
    """

    dataset: str
    split: str
    model: str
    training: str
    protocol: str
    metric: str
    value: float
    zoo_model: str = ''
    kind: str = 'result'

    @property
    def lower_is_better(self) -> bool:
        return self.metric.endswith('_err')

    def to_dict(self) -> dict:
        return asdict(self)


#: Metafile dataset names (mmseg's / mmpretrain's) -> the dataset keys above.
ZOO_DATASETS: Dict[str, str] = {
    'Pascal VOC 2012 + Aug': 'voc12',
    'Pascal VOC 2012': 'voc12',  # CAMs of VOC 2012 train / val (configs/classification/psa)
    'Cityscapes': 'cityscapes',
    'ADE20K': 'ade20k',
    'Pascal Context': 'pascal_context',
    'Pascal Context 59': 'pascal_context',
    'ImageNet-1k': 'imagenet',
    'Places365': 'places365',
}
#: Dataset classes of mmseg / mmpretrain -> the dataset keys above.
DATASET_KEYS: Dict[str, str] = {
    'PascalVOCDataset': 'voc12',
    'CityscapesDataset': 'cityscapes',
    'ADE20KDataset': 'ade20k',
    'PascalContextDataset': 'pascal_context',
    'PascalContextDataset59': 'pascal_context',
    'ImageNet': 'imagenet',
    'VOC': 'voc12',  # mmpretrain's, of the CAM classifier (tools/cam.py)
}
#: Metafile metric names -> (leaderboard metric, 100 - value?). ``mIoU(ms)`` etc. are
#: mIoU under another protocol (the result's ``Protocol`` says which).
_ACCURACY = {'Top 1 Accuracy': 'top1_err', 'Top 5 Accuracy': 'top5_err'}
_PROTO_PART = re.compile(r'^\s*(?P<metric>[\w ]+(\([^)]*\))?):\s*(?P<text>.*)$')


def _protocol_of(protocol: str, metric: str) -> str:
    """The part of ``protocol`` for ``metric`` ('mIoU: single scale; mIoU(ms): ...')."""
    parts = {}
    for chunk in protocol.split(';'):
        m = _PROTO_PART.match(chunk)
        if m and m['metric'].strip() in ('mIoU', 'mIoU(ms)', 'mIoU(ms+flip)', 'aAcc'):
            key, last = m['metric'].strip(), m['text'].strip()
            parts[key] = last
        elif parts:  # a trailing ", slide 480x480" belongs to every part
            parts = {k: f'{v}; {chunk.strip()}' for k, v in parts.items()}
    return parts.get(metric, protocol)


def rows_of(results, model: str, training: str, zoo_model: str, kind: str) -> List[Published]:
    """Published rows of metafile ``Results`` entries."""
    rows = []
    for r in results:
        dataset = ZOO_DATASETS.get(r['Dataset'], r['Dataset'])
        protocol = str(r.get('Protocol', '-'))
        for name, value in r['Metrics'].items():
            if name in _ACCURACY:
                metric, value = _ACCURACY[name], round(100 - float(value), 2)
            else:
                metric = name.split('(')[0]
            rows.append(
                Published(
                    dataset=dataset,
                    split=str(r.get('Split', 'val')),
                    model=model,
                    training=training,
                    protocol=_protocol_of(protocol, name),
                    metric=metric,
                    value=float(value),
                    zoo_model=zoo_model,
                    kind=kind,
                )
            )
    return rows


def published_of(m: ZooModel) -> List[Published]:
    """The results and the baselines of one zoo model."""
    rows = rows_of(m.results, m.label, m.training_data, m.name, 'result')
    for c in m.compare_with:
        rows += rows_of(c.get('Results') or [], c['Model'], c.get('Source', ''), m.name, 'baseline')
    return rows


def load_published(path: str = MODEL_INDEX) -> List[Published]:
    """Every published row of the zoo at ``path``, in metafile order."""
    return [p for m in load_model_index(path).values() for p in published_of(m)]


#: Every number of the zoo (results and baselines).
PUBLISHED: List[Published] = load_published()


def find_published(
    dataset: str,
    metric: Optional[str] = None,
    model: Optional[str] = None,
    split: Optional[str] = None,
    kind: Optional[str] = 'result',
    zoo_model: Optional[str] = None,
) -> List[Published]:
    """Published rows for a dataset key (or an mmseg/mmpretrain dataset class name).

    Args:
        dataset: A dataset key ('voc12', ...) or a dataset class name
            ('PascalVOCDataset', ...).
        metric: Only this metric ('mIoU', 'top1_err', ...). Default: all.
        model: Only this model ('A1', ...; case-insensitive). Default: all.
        split: Only this split ('val', 'test'). Default: all.
        kind: 'result' (default), 'baseline', or None for both.
        zoo_model: Only the rows of this zoo model. Default: all.

    Returns:
        list[Published]: In metafile order; empty when nothing was published for it.
    """
    key = DATASET_KEYS.get(dataset, dataset)
    return [
        p
        for p in PUBLISHED
        if p.dataset == key
        and (metric is None or p.metric == metric)
        and (model is None or p.model.lower() == model.lower())
        and (split is None or p.split == split)
        and (kind is None or p.kind == kind)
        and (zoo_model is None or p.zoo_model == zoo_model)
    ]
