"""Annotation checks for whole configs: put :class:`CheckSegAnnotation` into the pipelines of
``tools/train.py`` / ``tools/test.py``, and scan whole splits for ``tools/check_dataset.py``.

The number of classes comes from the dataset's ``metainfo.classes`` in the config, else its
class's ``METAINFO`` (mmseg's ``PascalVOCDataset``: 21), else ``model.decode_head.num_classes``;
the ignore index from ``model.decode_head.ignore_index`` (the loss ignores that value;
mmseg's default 255). ``check_annotations=False`` in the config (or
``--cfg-options check_annotations=False``) turns the inserted checks off.
"""

from __future__ import annotations

import copy
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict

from .transforms import SegAnnotationError

CHECK = 'CheckSegAnnotation'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _type(step: Any) -> str:
    t = step.get('type', '') if isinstance(step, dict) else ''
    return (t if isinstance(t, str) else getattr(t, '__name__', '')).split('.')[-1]


def _leaf_datasets(ds: Any, path: str) -> Iterator[Tuple[str, dict]]:
    """``(config path, dataset cfg)`` of every dataset with a pipeline (inside wrappers too)."""
    if not isinstance(ds, dict):
        return
    if 'pipeline' in ds:
        yield path, ds
    if isinstance(ds.get('dataset'), dict):
        yield from _leaf_datasets(ds['dataset'], f'{path}.dataset')
    for i, sub in enumerate(ds.get('datasets') or []):
        yield from _leaf_datasets(sub, f'{path}.datasets.{i}')


def _decode_head(cfg: Config) -> dict:
    model = cfg.get('model') or {}
    model = model.get('module', model) if model.get('type') == 'SegTTAModel' else model
    head = model.get('decode_head') or {}
    return (head[0] if head else {}) if isinstance(head, (list, tuple)) else head


def check_args(cfg: Config, dataset: dict) -> Dict[str, Any]:
    """``num_classes`` and ``ignore_index`` for the check of ``dataset`` (a dataset config)."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if not classes:
        from mmseg.registry import DATASETS

        ds_type = dataset.get('type')
        cls = ds_type if isinstance(ds_type, type) else DATASETS.get(ds_type or '')
        classes = (getattr(cls, 'METAINFO', None) or {}).get('classes')
    head = _decode_head(cfg)
    num_classes = len(classes) if classes else head.get('num_classes')
    ignore = head.get('ignore_index')
    return dict(num_classes=num_classes, ignore_index=255 if ignore is None else ignore)


def check_num_classes(cfg: Config, loaders: Sequence[str] = LOADERS) -> None:
    """Every head's ``num_classes`` must equal the number of classes of the data.

    Otherwise training fails at the first batch with a class id out of bounds deep in the
    loss (more classes in the data), or the metric scores classes the data has not got.
    """
    from wider_mm.engine.config_checks import ConfigError

    model = cfg.get('model') or {}
    model = model.get('module', model) if model.get('type') == 'SegTTAModel' else model
    heads = []
    for key in ('decode_head', 'auxiliary_head'):
        node = model.get(key) or []
        for i, head in enumerate(node if isinstance(node, (list, tuple)) else [node]):
            if head.get('num_classes') is not None:
                where = f'model.{key}' + (f'.{i}' if isinstance(node, (list, tuple)) else '')
                heads.append((where, head['num_classes']))
    for loader in loaders:
        for path, ds in _leaf_datasets((cfg.get(loader) or {}).get('dataset'), f'{loader}.dataset'):
            n = check_args(cfg, ds)['num_classes']
            for where, num in heads:
                if n and num != n:
                    raise ConfigError(
                        f'{where}.num_classes={num} but the data of {path} has {n} classes; '
                        f'set {where}.num_classes={n} (or the dataset metainfo classes)'
                    )


def _insert(pipeline: List[Any], check: dict) -> int:
    """Insert ``check`` after each LoadAnnotations of ``pipeline`` (in place); return how many.

    Inside ``TestTimeAug`` each step is a list of alternatives (the branches are their
    product), so there the check becomes a step of its own after the one that loads.
    """
    done = 0
    for i in range(len(pipeline) - 1, -1, -1):  # backwards: inserting keeps indices valid
        if _type(pipeline[i]) == 'TestTimeAug':
            done += _insert_steps(pipeline[i]['transforms'], check)
        elif _type(pipeline[i]) == 'LoadAnnotations':
            if i + 1 == len(pipeline) or _type(pipeline[i + 1]) != CHECK:
                pipeline.insert(i + 1, ConfigDict(check))
                done += 1
    return done


def _insert_steps(steps: List[List[Any]], check: dict) -> int:
    done = 0
    for j in range(len(steps) - 1, -1, -1):
        if steps[j] and all(_type(t) == 'LoadAnnotations' for t in steps[j]):
            if j + 1 == len(steps) or not any(_type(t) == CHECK for t in steps[j + 1]):
                steps.insert(j + 1, [ConfigDict(check)])
                done += 1
    return done


def add_annotation_checks(cfg: Config, loaders: Sequence[str] = LOADERS) -> List[str]:
    """Insert :class:`CheckSegAnnotation` after ``LoadAnnotations`` in the dataloaders' pipelines.

    Idempotent (a check already there is kept); segmentation (mmseg) configs only; nothing
    when ``cfg.check_annotations`` is False. Pipelines without ``LoadAnnotations`` (e.g.
    ``tools/test.py --format-only``) are left alone.

    Returns:
        list[str]: Lines for the log saying what was inserted where (or that it is off).
    """
    if cfg.get('default_scope') != 'mmseg':
        return []
    check_num_classes(cfg, loaders)
    if not cfg.get('check_annotations', True):
        return ['annotation checks off (check_annotations=False): label maps are not checked']
    notes = []
    for loader in loaders:
        for path, ds in _leaf_datasets((cfg.get(loader) or {}).get('dataset'), f'{loader}.dataset'):
            args = check_args(cfg, ds)
            ds['pipeline'] = list(ds['pipeline'])
            if _insert(ds['pipeline'], dict(type=CHECK, **args)):
                what = (
                    f"class ids 0..{args['num_classes'] - 1}"
                    if args['num_classes']
                    else 'no class ids (num_classes unknown)'
                )
                notes.append(
                    f'{path}.pipeline: {CHECK} after LoadAnnotations ({what}, ignore index '
                    f"{args['ignore_index']}, size = image size; check_annotations=False "
                    'turns it off)'
                )
    return notes


# ----------------------------------------------------------------------------- scanning
@dataclass
class BadSample:
    """One sample that fails the check."""

    index: int
    img_path: Optional[str]
    seg_map_path: Optional[str]
    problem: str

    def __str__(self) -> str:
        return f'{self.seg_map_path} (image {self.img_path}): {self.problem}'


@dataclass
class SplitReport:
    """What :func:`scan_split` found in one split."""

    split: str
    num_samples: int = 0
    bad: List[BadSample] = field(default_factory=list)
    skipped: Optional[str] = None  # why the split was not scanned

    def summary(self) -> str:
        """One line: samples and bad ones (or why the split was skipped)."""
        if self.skipped:
            return f'{self.split}: skipped ({self.skipped})'
        return f'{self.split}: {self.num_samples} samples, {len(self.bad)} bad'


def _scan_pipeline(pipeline: List[Any], check: dict) -> Optional[List[Any]]:
    """Only the loading steps of ``pipeline`` + the check (None without LoadAnnotations)."""
    steps = [t for t in pipeline if _type(t).startswith('Load')]
    if not any(_type(t) == 'LoadAnnotations' for t in steps):
        return None
    return [*steps, dict(type=CHECK, **check)]


def _unwrap(dataset: Any) -> Any:
    """The dataset inside repeat / class-balance wrappers (each file once)."""
    from mmengine.dataset import ClassBalancedDataset, RepeatDataset

    while isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        dataset = dataset.dataset
    return dataset


def scan_split(cfg: Config, split: str, progress: bool = True, file=None) -> SplitReport:
    """Check every sample of ``{split}_dataloader``'s dataset; collect all bad ones.

    Runs the pipeline's loading steps (the config's own ``LoadImageFromFile`` /
    ``LoadAnnotations`` with their arguments, so labels are mapped exactly as in training)
    and :class:`CheckSegAnnotation`; a file that cannot be read counts as bad too.

    Args:
        cfg: A loaded mmseg config (its modules registered).
        split: 'train', 'val' or 'test'.
        progress: Show mmengine's progress bar.
        file: Where the progress bar goes (default: ``sys.stdout``).
    """
    file = file or sys.stdout
    from mmengine.utils import ProgressBar
    from mmseg.registry import DATASETS

    report = SplitReport(split)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        report.skipped = f'the config has no {split}_dataloader'
        return report
    ds_cfg = copy.deepcopy(loader['dataset'])
    for path, ds in _leaf_datasets(ds_cfg, f'{split}_dataloader.dataset'):
        pipeline = _scan_pipeline(ds['pipeline'], check_args(cfg, ds))
        if pipeline is None:
            report.skipped = f'{path}.pipeline loads no annotations (LoadAnnotations)'
            return report
        ds['pipeline'] = pipeline
    dataset = _unwrap(DATASETS.build(ds_cfg))
    report.num_samples = len(dataset)
    bar = ProgressBar(len(dataset), file=file) if progress and len(dataset) else None
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        try:
            dataset[i]
        except SegAnnotationError as e:
            report.bad.append(BadSample(i, e.img_path, e.seg_map_path, e.problem))
        except Exception as e:  # unreadable or missing files: bad too, keep scanning
            missing = [p for p in (info.get('img_path'), info.get('seg_map_path')) if p]
            missing = [p for p in missing if not osp.isfile(p)]
            problem = (
                f'no such file: {", ".join(missing)}'
                if missing
                else f'cannot be loaded: {type(e).__name__}: {e}'
            )
            report.bad.append(BadSample(i, info.get('img_path'), info.get('seg_map_path'), problem))
        if bar is not None:
            bar.update()
    if bar is not None:
        file.write('\n')
    return report


def check_dataset(
    cfg: Config, splits: Sequence[str], progress: bool = True, file=None
) -> List[SplitReport]:
    """Scan ``splits`` of ``cfg``; print each split's bad samples to ``file``.

    A split whose dataset config equals an earlier split's (e.g. ``test_dataloader =
    val_dataloader``) is skipped, not scanned twice.
    """
    file = file or sys.stdout
    reports: List[SplitReport] = []
    seen: Dict[str, str] = {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader') or {}
        key = repr(loader.get('dataset'))
        if loader.get('dataset') and key in seen:
            reports.append(SplitReport(split, skipped=f'same dataset as {seen[key]}'))
            continue
        seen[key] = split
        report = scan_split(cfg, split, progress=progress, file=file)
        for bad in report.bad:
            print(f'BAD {split}: {bad}', file=file)
        reports.append(report)
    return reports
