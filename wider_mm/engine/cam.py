"""Class activation maps of a multi-label classifier, as PSA computes them (``tools/cam.py``).

PSA (Ahn & Kwak, CVPR 2018; jiwoon-ahn/psa ``infer_cls.py``), per image and per class of its
image-level labels: the image is resized (bicubic, PIL) by each scale, with and without a
horizontal flip; each view gives ``ReLU(conv1x1(feature, fc8.weight))``, bilinearly resized
to the image (``align_corners=False``) and flipped back; the views are summed and each class
map divided by its maximum (``+ 1e-5``). Scales (1, 0.5, 1.5, 2) + flip are PSA's.

:func:`run_cams` does a whole split: one ``.npy`` per image (float16, ``(K, H, W)``, the
image's labelled classes in class order; ``cams.json`` names them), colour overlays for a
sample, and, where ``SegmentationClass`` exists, the threshold-sweep mIoU of
:mod:`wider_mm.evaluation.cam_metric`. With several processes (``torchrun``, gloo on CPU),
each computes every ``world_size``-th image and the pixel counts are summed, so the files
and the numbers are those of one process.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config

from ..evaluation.cam_metric import DEFAULT_THRESHOLDS, CAMIoU, seg_label_lut, write_reports
from ..models.heads.cam_head import model_cams

#: PSA's inference scales (infer_cls.py), used with horizontal flips.
PSA_SCALES = (1.0, 0.5, 1.5, 2.0)


@dataclass
class CAMSettings:
    """How CAMs are computed and scored (the config's ``cam_cfg``, CLI overrides on top).

    Attributes:
        scales: Image scales (PSA: 1, 0.5, 1.5, 2).
        flip: Add the mirrored view of each scale (PSA: yes).
        thresholds: Background thresholds of the mIoU sweep.
        image_set_path: The split's image list, ``{split}`` filled in, relative to the
            data root (default: the segmentation lists, which have ground truth).
        seg_map_path: Ground-truth folder, relative to the data root.
        num_overlays: Overlays drawn for the first images of the split.
    """

    scales: Sequence[float] = PSA_SCALES
    flip: bool = True
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS
    image_set_path: str = 'ImageSets/Segmentation/{split}.txt'
    seg_map_path: str = 'SegmentationClass'
    num_overlays: int = 8

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> CAMSettings:
        """``cfg.cam_cfg`` with the non-None ``overrides`` on top; bad values fail here."""
        given = dict(cfg.get('cam_cfg') or {})
        given.update({k: v for k, v in overrides.items() if v is not None})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f'cam_cfg: unknown keys {unknown}; known: {sorted(known)}')
        s = cls(**given)
        if not s.scales or any(float(x) <= 0 for x in s.scales):
            raise ValueError(f'scales must be positive numbers, got {list(s.scales)}')
        if not s.thresholds or any(not 0 <= float(t) <= 1 for t in s.thresholds):
            raise ValueError(f'thresholds must be numbers in [0, 1], got {list(s.thresholds)}')
        s.scales = [float(x) for x in s.scales]
        s.thresholds = [float(t) for t in s.thresholds]
        return s


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    """PSA's resize: ``(round(w * s), round(h * s))``, PIL bicubic."""
    import mmcv

    if scale == 1:
        return img
    h, w = img.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return mmcv.imresize(img, size, interpolation='bicubic', backend='pillow')


@torch.no_grad()
def multiscale_cam(
    model: torch.nn.Module,
    img: np.ndarray,
    class_ids: Sequence[int],
    scales: Sequence[float] = PSA_SCALES,
    flip: bool = True,
) -> np.ndarray:
    """Normalised CAMs of one image, PSA's way (see the module docstring).

    Args:
        model: An mmpretrain ``ImageClassifier`` in eval mode (its ``data_preprocessor``
            normalises the image as in training).
        img: ``(H, W, 3)`` uint8 image, BGR (as mmcv loads it).
        class_ids: Classes to compute (the image's labels), 0-based.
        scales: Image scales.
        flip: Add the mirrored view of each scale.

    Returns:
        ``(len(class_ids), H, W)`` float32 maps; each one's maximum is just below 1 (0 for a
        map that is 0 everywhere).
    """
    h, w = img.shape[:2]
    ids = torch.as_tensor(list(class_ids), dtype=torch.long)
    if not len(ids):
        return np.zeros((0, h, w), np.float32)
    device = next(model.parameters()).device
    total = torch.zeros((len(ids), h, w), dtype=torch.float32, device=device)
    for s in scales:
        x = torch.from_numpy(np.ascontiguousarray(_resize(img, s).transpose(2, 0, 1)))
        views = [x, x.flip(-1)] if flip else [x]
        inputs = model.data_preprocessor(dict(inputs=views), False)['inputs']
        cams = model_cams(model, inputs)[:, ids.to(device)]
        cams = F.interpolate(cams, (h, w), mode='bilinear', align_corners=False)
        if flip:
            cams[1] = cams[1].flip(-1)
        total += cams.sum(0)
    total /= total.amax((1, 2), keepdim=True) + 1e-5
    return total.cpu().numpy()


def overlay(img: np.ndarray, cams: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The image beside one JET-coloured overlay per class map, each captioned (BGR)."""
    import cv2

    panels = [img]
    for cam, name in zip(cams, names):
        heat = cv2.applyColorMap((np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
        panel = cv2.addWeighted(img, 0.5, heat, 0.5, 0)
        cv2.putText(panel, name, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


# ----------------------------------------------------------------------------- a whole split
def build_model(cfg: Config, checkpoint: str, device: str = 'cpu') -> torch.nn.Module:
    """The config's classifier with ``checkpoint`` loaded strictly, in eval mode."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from .checkpoint import CONFIG_FIX, load_state, read_checkpoint

    model_cfg = cfg.model.copy()
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg['data_preprocessor'] = cfg.data_preprocessor  # as mmengine's Runner does
    # SyncBN computes nothing else at test time; BN also runs on CPU (as the Runner does it)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever scope is current
        model = revert_sync_batchnorm(MODELS.build(model_cfg))
    load_state(model, read_checkpoint(checkpoint), checkpoint, fix=CONFIG_FIX, ignore_option=None)
    return model.to(device).eval()


def build_split(cfg: Config, split: str, settings: CAMSettings):
    """The split as mmpretrain's dataset of the config (``VOC``: labels from Annotations)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS

    ds_cfg = cfg.test_dataloader.dataset.copy()
    root = ds_cfg.get('data_root', '')
    image_set = settings.image_set_path.format(split=split)
    if not osp.isfile(osp.join(root, image_set)):
        raise FileNotFoundError(
            f'split {split!r}: no image list {osp.join(root, image_set)} (cam_cfg.image_set_path'
            f' = {settings.image_set_path!r}, data root {root!r}); pass another --split or '
            '--cfg-options test_dataloader.dataset.data_root=PATH'
        )
    ds_cfg.update(image_set_path=image_set, pipeline=[], test_mode=False)
    ds_cfg.pop('split', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(ds_cfg)


def _load_gt(path: str, lut: np.ndarray) -> Optional[np.ndarray]:
    from PIL import Image

    if not osp.isfile(path):
        return None
    return lut[np.asarray(Image.open(path))]


def init_processes(cfg: Config) -> None:
    """Start the process group of a distributed run (``cfg.launcher``): gloo on CPU as
    ``tools/test.py`` does (:func:`wider_mm.engine.launch.prepare_runtime`), mmengine's
    ``init_dist`` with GPUs (there is no Runner here to do it)."""
    from .launch import prepare_runtime

    prepare_runtime(cfg)
    if cfg.launcher != 'none' and torch.cuda.is_available():
        from mmengine.dist import init_dist

        init_dist(cfg.launcher, **cfg.env_cfg.dist_cfg)


def run_cams(
    cfg: Config,
    checkpoint: str,
    split: str,
    out_dir: str,
    settings: CAMSettings,
    device: str = 'cpu',
    config_path: Optional[str] = None,
    progress: bool = True,
) -> Optional[Dict[str, Any]]:
    """CAMs of every image of ``split``, overlays, and their mIoU where ground truth exists.

    Writes into ``out_dir``: ``cams/IMAGE.npy`` + ``cams.json`` (which classes each file
    holds), ``overlays/IMAGE.png``, and with ground truth ``cam_miou.{json,md,png}`` and
    ``metrics.json`` (the record ``tools/leaderboard.py`` reads). Call it in every process
    of a distributed run (the process group must already be initialised).

    Returns:
        The ``metrics.json`` record on rank 0 (``metrics`` empty without ground truth);
        None on the other ranks.
    """
    import mmcv
    from mmengine.dist import all_gather_object, all_reduce, barrier, get_dist_info
    from mmengine.utils import ProgressBar

    rank, world = get_dist_info()
    model = build_model(cfg, checkpoint, device)
    dataset = build_split(cfg, split, settings)
    classes = list(dataset.metainfo['classes'])
    root = dataset.data_root
    lut = seg_label_lut(classes)
    meter = CAMIoU(classes, settings.thresholds)
    cam_dir, vis_dir = osp.join(out_dir, 'cams'), osp.join(out_dir, 'overlays')
    os.makedirs(cam_dir, exist_ok=True)
    os.makedirs(vis_dir, exist_ok=True)
    index: Dict[str, List[str]] = {}
    missing_gt = 0
    bar = ProgressBar(len(dataset)) if progress and rank == 0 else None
    for i in range(rank, len(dataset), world):
        info = dataset.get_data_info(i)
        name = osp.splitext(osp.basename(info['img_path']))[0]
        ids = sorted(set(info['gt_label']) | set(info.get('gt_label_difficult') or []))
        img = mmcv.imread(info['img_path'], channel_order='bgr')
        cams = multiscale_cam(model, img, ids, settings.scales, settings.flip).astype(np.float16)
        np.save(osp.join(cam_dir, f'{name}.npy'), cams)
        index[name] = [classes[c] for c in ids]
        if i < settings.num_overlays:
            panel = overlay(img, cams.astype(np.float32), index[name])
            mmcv.imwrite(panel, osp.join(vis_dir, f'{name}.png'))
        gt = _load_gt(osp.join(root, settings.seg_map_path, f'{name}.png'), lut)
        if gt is None:
            missing_gt += 1
        else:  # scored on the saved (float16) values, so the files reproduce the numbers
            meter.update(cams.astype(np.float32), ids, gt)
        if bar is not None:
            bar.update(min(world, len(dataset) - i))
    counts = torch.from_numpy(np.concatenate([meter.confusion.ravel(), [meter.num_images]]))
    all_reduce(counts)  # no-op in one process
    meter.confusion = counts[:-1].numpy().reshape(meter.confusion.shape)
    meter.num_images = int(counts[-1])
    merged = {}
    for part in all_gather_object(index):
        merged.update(part)
    missing_gt = sum(all_gather_object(missing_gt))
    if rank != 0:
        barrier()
        return None

    record = _record(cfg, checkpoint, split, dataset, settings, world, config_path)
    record['num_images'] = len(merged)
    record['outputs'] = dict(cams=cam_dir, overlays=vis_dir)
    with open(osp.join(out_dir, 'cams.json'), 'w') as f:
        json.dump(
            dict(
                classes=classes,
                scales=settings.scales,
                flip=settings.flip,
                dtype='float16',
                layout='(K, H, W): the classes listed per image, in this order',
                images=dict(sorted(merged.items())),
            ),
            f,
            indent=1,
        )
    if meter.num_images:
        results = meter.results()
        title = (
            f'{split}: {meter.num_images} images, scales {settings.scales}, flip {settings.flip}'
        )
        record['outputs']['reports'] = write_reports(results, out_dir, title)
        record['metrics'] = {'CAM mIoU': results['mIoU'], 'threshold': results['threshold']}
        record['per_class'] = {'IoU': results['IoU']}
        record['sweep'] = results['sweep']
        record['evaluated_images'] = meter.num_images
    record['images_without_ground_truth'] = missing_gt
    with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump(record, f, indent=2)
    barrier()
    return record


def _record(
    cfg: Config,
    checkpoint: str,
    split: str,
    dataset: Any,
    settings: CAMSettings,
    world: int,
    config_path: Optional[str],
) -> Dict[str, Any]:
    """The parts of ``metrics.json`` that ``tools/leaderboard.py`` reads (as tools/test.py)."""
    backbone = dict(cfg.model.get('backbone') or {})
    keys = ('type', 'depth', 'variant', 'widen_factor', 'output_stride')
    return dict(
        task='cam',
        config=osp.abspath(config_path) if config_path else cfg.filename,
        checkpoint=checkpoint,
        scope='mmpretrain',
        split=split,
        dataset=dict(
            type=type(dataset).__name__,
            data_root=dataset.data_root,
            ann_file=settings.image_set_path.format(split=split),
            classes=['background', *dataset.metainfo['classes']],
        ),
        model={
            **{k: backbone[k] for k in keys if k in backbone},
            'head': cfg.model.get('head', {}).get('type'),
        },
        protocol=dict(
            tta=len(settings.scales) > 1 or settings.flip,
            scales=settings.scales,
            flip=settings.flip,
            thresholds=settings.thresholds,
        ),
        world_size=world,
        timestamp=time.strftime('%Y%m%d_%H%M%S'),
        metrics={},
    )


__all__ = [
    'CAMSettings',
    'PSA_SCALES',
    'multiscale_cam',
    'overlay',
    'run_cams',
    'build_model',
    'init_processes',
]
