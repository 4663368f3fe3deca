"""Inference on your own images with the libraries' inferencers (``tools/image_demo.py``).

Segmentation runs mmseg's ``MMSegInferencer``, classification mmpretrain's
``ImageClassificationInferencer``: their pipelines, models and visualizers, built from a
config and a checkpoint. A checkpoint alone is enough when its ``meta`` names the config
(converted by ``wrn2mm.py`` from a registered release, or written by a training run); a zoo
name (``model-index.yml``) stands for its config.

Example:
    >>> from wider_mm.inference import build_inferencer
    >>> inferencer = build_inferencer('checkpoints/wrn38a1_voc12aug.pth')  # MMSegInferencer
    >>> inferencer('street.jpg', out_dir='outputs')  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

#: Image file endings looked for in a folder or a glob (those mmcv reads).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


def list_images(spec: str) -> List[str]:
    """The images of ``spec``: one image file, a folder (not recursive) or a glob pattern.

    Raises:
        ValueError: nothing matches (the message says what was looked for).
    """
    if osp.isfile(spec):
        return [spec]
    if osp.isdir(spec):
        paths = [osp.join(spec, f) for f in sorted(os.listdir(spec))]
    else:
        paths = sorted(glob.glob(spec, recursive=True))
    images = [p for p in paths if osp.isfile(p) and p.lower().endswith(IMG_EXTENSIONS)]
    if not images:
        what = 'folder' if osp.isdir(spec) else 'pattern'
        raise ValueError(
            f'{spec}: no images ({what} matched no {"/".join(IMG_EXTENSIONS)} files); give '
            'an image, a folder of images or a glob such as "photos/*.jpg"'
        )
    return images


def resolve(config_or_checkpoint: str, checkpoint: Optional[str] = None) -> Tuple[Any, str]:
    """The config (an mmengine ``Config``) and the checkpoint to run.

    Args:
        config_or_checkpoint: A config file, a zoo model name, or (when ``checkpoint`` is
            None) a checkpoint whose meta names its config.
        checkpoint: The checkpoint, when the first argument is a config or zoo name.

    Raises:
        ValueError: a missing file, an unknown zoo name, or a checkpoint naming no config.
    """
    from mmengine.config import Config

    from .zoo import ZooError, config_of, zoo_config

    if checkpoint is None:
        if not osp.isfile(config_or_checkpoint):
            raise ValueError(f'{config_or_checkpoint}: no such checkpoint file')
        if config_or_checkpoint.endswith('.py'):
            raise ValueError(f'{config_or_checkpoint} is a config; give the checkpoint too')
        return config_of(config_or_checkpoint), config_or_checkpoint
    if not osp.isfile(checkpoint):
        raise ValueError(f'{checkpoint}: no such checkpoint file')
    if osp.isfile(config_or_checkpoint):
        return Config.fromfile(config_or_checkpoint), checkpoint
    try:
        return zoo_config(config_or_checkpoint), checkpoint
    except ZooError as e:
        raise ValueError(f'{config_or_checkpoint}: neither a config file nor {e}') from e


def scope_of(cfg: Any) -> str:
    """'mmseg' or 'mmpretrain', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in ('mmseg', 'mmpretrain'):
        raise ValueError(
            f"the config's default_scope is {scope!r}; image_demo runs mmseg and mmpretrain "
            'configs'
        )
    return scope


def build_inferencer(
    config_or_checkpoint: str, checkpoint: Optional[str] = None, device: Optional[str] = None
):
    """mmseg's ``MMSegInferencer`` or mmpretrain's ``ImageClassificationInferencer``.

    Args:
        config_or_checkpoint, checkpoint: See :func:`resolve`.
        device: 'cpu', 'cuda', 'cuda:1'... Default: a GPU if there is one.
    """
    cfg, ckpt = resolve(config_or_checkpoint, checkpoint)
    if scope_of(cfg) == 'mmseg':
        from mmseg.apis import MMSegInferencer

        return MMSegInferencer(model=cfg, weights=ckpt, device=device)
    from mmengine.registry import init_default_scope
    from mmpretrain.apis import ImageClassificationInferencer

    # MMSegInferencer sets the default scope itself; mmpretrain's builds its pipeline in
    # whatever scope is current, which may be mmseg's after a segmentation run
    init_default_scope('mmpretrain')
    return ImageClassificationInferencer(model=cfg, pretrained=ckpt, device=device)


def _progress(n: int):
    from mmengine.utils import ProgressBar

    return ProgressBar(n) if n > 1 else None


def _chunks(items: Sequence[str], size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def segment_images(
    inferencer,
    images: Sequence[str],
    out_dir: str,
    opacity: float = 0.5,
    batch_size: int = 1,
) -> List[Dict[str, Any]]:
    """Overlays (``OUT/vis/NAME``) and palette label PNGs (``OUT/labels/STEM.png``).

    The label PNGs hold class indices with the checkpoint's palette (``dataset_meta``), so
    image viewers show the colours and ``np.array(Image.open(f))`` the indices; mmseg's own
    ``pred/`` files are grey and numbered, not named after the images.

    Returns:
        list[dict]: per image: ``image``, ``overlay``, ``labels`` and the ``classes`` present.
    """
    from PIL import Image

    meta = inferencer.model.dataset_meta
    classes, palette = list(meta['classes']), meta.get('palette')
    flat = [int(c) for rgb in palette for c in rgb] if palette else None
    os.makedirs(osp.join(out_dir, 'labels'), exist_ok=True)
    inferencer.show_progress = False  # one bar over all images instead of one per batch
    bar, records = _progress(len(images)), []
    for chunk in _chunks(list(images), batch_size):
        preds = inferencer(
            list(chunk),
            out_dir=out_dir,
            opacity=opacity,
            return_datasamples=True,
            batch_size=batch_size,
        )
        preds = preds if isinstance(preds, list) else [preds]
        for path, pred in zip(chunk, preds):
            label = pred.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            png = Image.fromarray(label, mode='P' if flat else 'L')
            if flat:
                png.putpalette(flat + [0] * (768 - len(flat)))
            out = osp.join(out_dir, 'labels', _stem(path) + '.png')
            png.save(out)
            present = [classes[i] for i in np.unique(label) if i < len(classes)]
            records.append(
                dict(
                    image=path,
                    overlay=osp.join(out_dir, 'vis', osp.basename(path)),
                    labels=out,
                    classes=present,
                )
            )
            if bar:
                bar.update()
    return records


def _draw_topk(path: str, lines: List[str], out: str) -> None:
    """The image with the top-k lines written on it (mmpretrain's visualizer draws the top
    class only)."""
    import mmcv
    from mmengine.visualization import Visualizer

    img = mmcv.imread(path, channel_order='rgb')
    vis = Visualizer(image=img)
    size = max(8, min(img.shape[:2]) // 16)
    positions = np.array([[4, 4 + i * (size + 4)] for i in range(len(lines))])
    vis.draw_texts(
        lines,
        positions,
        font_sizes=size,
        colors='white',
        bboxes=[dict(facecolor='black', alpha=0.6, pad=1, edgecolor='none')] * len(lines),
    )
    mmcv.imwrite(vis.get_image()[..., ::-1], out)


def classify_images(
    inferencer, images: Sequence[str], out_dir: str, topk: int = 5, batch_size: int = 1
) -> List[Dict[str, Any]]:
    """Top-k classes per image in ``OUT/predictions.json`` and on ``OUT/vis/STEM.png``.

    Returns:
        list[dict]: per image: ``image``, ``vis`` and ``topk`` (``index``, ``class``,
        ``score``, best first).
    """
    classes = inferencer.classes
    os.makedirs(osp.join(out_dir, 'vis'), exist_ok=True)
    bar, records = _progress(len(images)), []
    inferencer.show_progress = False
    for chunk in _chunks(list(images), batch_size):
        for path, res in zip(chunk, inferencer(list(chunk), batch_size=batch_size)):
            scores = np.asarray(res['pred_scores'], dtype=np.float64)
            order = np.argsort(-scores, kind='stable')[: max(1, topk)]
            top = [
                dict(
                    index=int(i),
                    **{'class': classes[i] if classes is not None else str(int(i))},
                    score=round(float(scores[i]), 6),
                )
                for i in order
            ]
            vis = osp.join(out_dir, 'vis', _stem(path) + '.png')
            _draw_topk(path, [f"{t['class']}: {t['score']:.3f}" for t in top], vis)
            records.append(dict(image=path, vis=vis, topk=top))
            if bar:
                bar.update()
    with open(osp.join(out_dir, 'predictions.json'), 'w') as f:
        json.dump(records, f, indent=2)
    return records


def predict_images(
    inferencer,
    images: Sequence[str],
    out_dir: str,
    opacity: float = 0.5,
    topk: int = 5,
    batch_size: int = 1,
) -> Tuple[str, List[Dict[str, Any]]]:
    """Run :func:`segment_images` or :func:`classify_images`, whichever fits the
    inferencer; return ('segmentation' or 'classification', the records)."""
    if type(inferencer).__module__.startswith('mmseg.'):
        return 'segmentation', segment_images(inferencer, images, out_dir, opacity, batch_size)
    return 'classification', classify_images(inferencer, images, out_dir, topk, batch_size)


__all__ = [
    'predict_images',
    'list_images',
    'resolve',
    'scope_of',
    'build_inferencer',
    'segment_images',
    'classify_images',
    'IMG_EXTENSIONS',
]
