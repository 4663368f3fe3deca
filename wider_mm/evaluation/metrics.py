"""Metrics for leaderboard-style evaluation, on mmengine's ``BaseMetric`` / mmseg's ``IoUMetric``.

Why our own code: mmseg's ``IoUMetric`` prints its per-class table but returns only the
means, and its ``format_only`` writes raw index PNGs in a flat folder, while the PASCAL VOC
server wants palette PNGs of VOC ids in ``results/VOC2012/Segmentation/comp6_test_cls/``,
packed in one archive. Everything else (mIoU maths, distributed collection, the Cityscapes
labelIds writer ``CityscapesMetric``) is the libraries'.
"""

from __future__ import annotations

import io
import os
import os.path as osp
import tarfile
import zipfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from PIL import Image

VOC_COMPETITIONS = ('comp5', 'comp6')  # comp5: VOC data only; comp6: outside data allowed
ARCHIVES = ('tar.gz', 'zip')


def voc_palette(n: int = 256) -> List[int]:
    """The PASCAL VOC colour map (bit-interleaved class ids), flattened ``[r0, g0, b0, ...]``.

    Entry ``i`` is the colour of VOC id ``i``; 255 (void) is (224, 224, 192).
    """
    pal = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def pack_folder(root: str, archive: str, members: Optional[Sequence[str]] = None) -> str:
    """Pack files under ``root`` into ``archive`` (``.tar.gz``/``.tgz`` or ``.zip``).

    Args:
        root: Folder the archive's paths are relative to.
        archive: Output path; its extension picks the format.
        members: Sub-paths of ``root`` to pack (files or folders). Default: all of ``root``
            except ``archive`` itself.

    Returns:
        str: ``archive``.
    """
    # Not shutil.make_archive: it packs one base_dir whole, so it cannot pack a list of
    # files (the PNGs of a --format-only folder only); it adds an entry per folder and, for
    # base_dir '.', names the tar members './x.png'; and an archive written inside root_dir
    # is packed into itself (its zip lists 'results.zip'). The servers get files only,
    # named by their paths under root.
    root = osp.abspath(root)
    archive_abs = osp.abspath(archive)
    files = []
    for member in members if members is not None else ['.']:
        top = osp.join(root, member)
        if osp.isfile(top):
            files.append(top)
            continue
        if not osp.isdir(top):
            raise FileNotFoundError(f'pack_folder: {top} does not exist')
        for dirpath, _, names in os.walk(top):
            files += [osp.join(dirpath, n) for n in names]
    files = sorted(f for f in files if osp.abspath(f) != archive_abs)
    os.makedirs(osp.dirname(archive_abs) or '.', exist_ok=True)
    if archive.endswith(('.tar.gz', '.tgz')):
        with tarfile.open(archive, 'w:gz') as tar:
            for f in files:
                tar.add(f, arcname=osp.relpath(f, root))
    elif archive.endswith('.zip'):
        with zipfile.ZipFile(archive, 'w', zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, arcname=osp.relpath(f, root))
    else:
        raise ValueError(f'pack_folder: {archive!r} must end with .tar.gz, .tgz or .zip')
    return archive


def _inverse_label_map(meta: Optional[dict]) -> Optional[np.ndarray]:
    """Model index -> dataset id lookup table (``None`` if the two are the same)."""
    label_map = (meta or {}).get('label_map')
    if not label_map:
        return None
    lut = np.arange(256, dtype=np.uint8)
    for old, new in label_map.items():
        if new != 255:
            lut[new] = old
    return lut


@METRICS.register_module()
class ClasswiseIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` that also keeps its per-class numbers in ``self.per_class``.

    Returns (and logs) exactly what ``IoUMetric`` does; after ``evaluate`` (on rank 0),
    ``per_class`` is ``{'IoU': {class: value or None}, 'Acc': {...}, ...}`` in percent,
    ``None`` for classes absent from both prediction and ground truth. ``tools/test.py``
    uses it in place of ``IoUMetric`` to save the per-class table as JSON.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.per_class: Dict[str, Dict[str, Optional[float]]] = {}

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """See ``IoUMetric.compute_metrics``; also fills ``self.per_class``."""
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        areas = [sum(a) for a in zip(*results)]
        per = self.total_area_to_metrics(*areas, self.metrics, self.nan_to_num, self.beta)
        per.pop('aAcc', None)
        classes = self.dataset_meta['classes']
        self.per_class = {
            name: {
                c: (None if np.isnan(v) else round(float(v) * 100, 2))
                for c, v in zip(classes, values)
            }
            for name, values in per.items()
        }
        return metrics


@METRICS.register_module()
class VOCSubmissionMetric(BaseMetric):
    """Write predictions for the PASCAL VOC evaluation server (no ground truth needed).

    Each prediction becomes a palette PNG of VOC class ids (the VOC colour map) named
    after its image, in ``{output_dir}/results/{year}/Segmentation/{competition}_test_cls/``,
    and the ``results`` folder is packed into ``{output_dir}/{archive_name}``. Model
    indices are mapped back to VOC ids when the dataset uses a class subset
    (``metainfo=dict(classes=...)``, mmseg's ``label_map``) or ``reduce_zero_label``.

    The PNGs travel to rank 0 inside the results (a few KB each) and are written there, so
    multi-machine runs without a shared file system still produce one complete archive.

    Args:
        output_dir (str): Where to write ``results/`` and the archive.
        competition (str): 'comp6' (outside data allowed, e.g. ImageNet/COCO
            pre-training) or 'comp5' (VOC data only). Default: 'comp6'.
        year (str): Challenge folder name. Default: 'VOC2012'.
        archive (str, optional): 'tar.gz', 'zip' or None (no archive). Default: 'tar.gz'.
        archive_name (str, optional): File name of the archive. Default:
            ``'{year}_{competition}_results.{archive}'``.
        collect_device (str): 'cpu' or 'gpu'. Default: 'cpu'.
        prefix (str, optional): Metric name prefix. Default: None.
    """

    default_prefix = 'voc_submission'

    def __init__(
        self,
        output_dir: str,
        competition: str = 'comp6',
        year: str = 'VOC2012',
        archive: Optional[str] = 'tar.gz',
        archive_name: Optional[str] = None,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        **kwargs,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if competition not in VOC_COMPETITIONS:
            raise ValueError(
                f'VOCSubmissionMetric: competition must be one of '
                f'{VOC_COMPETITIONS}, got {competition!r}'
            )
        if archive is not None and archive not in ARCHIVES:
            raise ValueError(
                f'VOCSubmissionMetric: archive must be one of {ARCHIVES} or '
                f'None, got {archive!r}'
            )
        self.output_dir = output_dir
        self.competition, self.year, self.archive = competition, year, archive
        self.archive_name = archive_name or f'{year}_{competition}_results.{archive}'

    @property
    def results_dir(self) -> str:
        """The folder the server's layout puts the PNGs in."""
        return osp.join(
            self.output_dir, 'results', self.year, 'Segmentation', f'{self.competition}_test_cls'
        )

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Encode each prediction as a VOC palette PNG (bytes) named after its image."""
        lut = _inverse_label_map(self.dataset_meta)
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy().astype(np.uint8)
            if sample.get('reduce_zero_label', False):
                pred = pred + 1
            if lut is not None:
                pred = lut[pred]
            png = Image.fromarray(pred, mode='P')
            png.putpalette(voc_palette())
            buf = io.BytesIO()
            png.save(buf, format='PNG')
            name = osp.splitext(osp.basename(sample['img_path']))[0]
            self.results.append((name, buf.getvalue()))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Write the PNGs (rank 0) and pack them; there is nothing to score."""
        os.makedirs(self.results_dir, exist_ok=True)
        for name, data in results:
            with open(osp.join(self.results_dir, name + '.png'), 'wb') as f:
                f.write(data)
        msg = f'{len(results)} VOC submission PNGs written to {self.results_dir}'
        if self.archive:
            path = pack_folder(
                self.output_dir, osp.join(self.output_dir, self.archive_name), members=['results']
            )
            msg += f'; upload {path} to the VOC evaluation server'
        print_log(msg, logger='current')
        return OrderedDict()
