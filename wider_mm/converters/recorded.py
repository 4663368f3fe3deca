"""Where converted checkpoints meet the model: the arguments the weights need, checked.

A checkpoint written by ``tools/model_converters/wrn2mm.py`` records in
``meta['backbone']`` the ``WiderResNet`` arguments its weights need (depth, variant, width,
max-pool padding, dilation convention, activation, BN epsilon). Two checks use them:

- :func:`check_converted_shapes` (when converting): every tensor has the shape the model
  built from those arguments (backbone and head) has; else nothing is written.
- :func:`check_recorded_args` (when loading: the backbone's ``Pretrained`` init_cfg,
  ``load_from``, ``tools/test.py``): the model was built with those arguments; a model
  that differs would load the weights without a word and compute other features (e.g. the
  released Model A with ``pool_padding=1``: 1-3% off).

This is the one converter module that imports model code (lazily: the conversion engine
in :mod:`.convert` stays pure).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn

from .convert import ConversionError

#: Shown with each difference: the config key that fixes it.
_CFG = 'model.backbone.'
_MAX_LISTED = 3


class RecordedArgsError(ValueError):
    """A model's backbone differs from the arguments a converted checkpoint records."""


def _fmt(value: Any) -> str:
    if isinstance(value, Mapping):
        return 'dict(' + ', '.join(f'{k}={_fmt(v)}' for k, v in value.items()) + ')'
    return repr(value)


def recorded_args(checkpoint: Any) -> Optional[Dict[str, Any]]:
    """The ``WiderResNet`` arguments a converted checkpoint records (None: it records none)."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    backbone = meta.get('backbone') if isinstance(meta, Mapping) else None
    if not isinstance(backbone, Mapping) or backbone.get('type') != 'WiderResNet':
        return None
    return dict(backbone)


def find_backbone(model: nn.Module) -> Optional[nn.Module]:
    """The ``WiderResNet`` of ``model``: itself or its ``backbone`` (DDP's ``module`` too)."""
    from ..models.backbones.wider_resnet import WiderResNet

    for m in (model, getattr(model, 'module', None)):
        if isinstance(m, WiderResNet):
            return m
        if isinstance(getattr(m, 'backbone', None), WiderResNet):
            return m.backbone
    return None


def _act(cfg: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """An activation config as it computes: no ``inplace``, LeakyReLU's default slope."""
    cfg = {k: v for k, v in dict(cfg or {}).items() if k != 'inplace'}
    if cfg.get('type') == 'LeakyReLU':
        cfg.setdefault('negative_slope', 0.01)
    return cfg


def _differences(rec: Mapping[str, Any], bb: nn.Module) -> List[Tuple[str, Any, Any]]:
    """(argument, recorded value, model's value) for every argument that matters here."""
    from ..models.backbones.wider_resnet import DEPTHS, VARIANTS

    out: List[Tuple[str, Any, Any]] = []
    units = tuple(bb.arch['units'])
    if 'depth' in rec and DEPTHS.get(rec['depth']) != units:
        out.append(('depth', rec['depth'], bb.depth if DEPTHS.get(bb.depth) == units else units))
    elif 'arch' in rec and tuple(rec['arch'].get('units', units)) != units:
        out.append(('arch', dict(units=list(rec['arch']['units'])), dict(units=list(units))))
    want = rec.get('variant')
    if want is not None and VARIANTS.get(want, want) != tuple(bb.arch['downsample']):
        out.append(('variant', want, bb.variant))
    width = rec.get('widen_factor', 1.0)
    if not math.isclose(width, bb.widen_factor, rel_tol=1e-6):
        out.append(('widen_factor', width, bb.widen_factor))
    if rec.get('in_channels', 3) != bb.stem.in_channels:
        out.append(('in_channels', rec.get('in_channels', 3), bb.stem.in_channels))
    # Padding matters only where the model max-pools (Model A1 has no pool).
    has_pool = any(isinstance(m, nn.MaxPool2d) for m in bb.modules())
    if has_pool and 'pool_padding' in rec and rec['pool_padding'] != bb.pool_padding:
        out.append(('pool_padding', rec['pool_padding'], bb.pool_padding))
    # The dilation convention matters only for weights trained dilated, used dilated.
    dilated = rec.get('output_stride', 32) < 32 and bb.output_stride < 32
    if dilated and 'contract_dilation' in rec and rec['contract_dilation'] != bb.contract_dilation:
        out.append(('contract_dilation', rec['contract_dilation'], bb.contract_dilation))
    if 'act_cfg' in rec and _act(rec['act_cfg']) != _act(bb.act_cfg):
        out.append(('act_cfg', _act(rec['act_cfg']), _act(bb.act_cfg)))
    eps = getattr(bb.norm_out, 'eps', None)  # the layer's own: BN, SyncBN, GN alike
    want_eps = dict(rec.get('norm_cfg') or {}).get('eps')
    if want_eps is not None and eps is not None and not math.isclose(want_eps, eps, rel_tol=1e-6):
        out.append(('norm_cfg.eps', want_eps, eps))
    return out


def check_recorded_args(
    checkpoint: dict, model: torch.nn.Module, ignore: Iterable[str] = ()
) -> None:
    """Refuse to load a converted checkpoint into a backbone built with other arguments.

    Args:
        checkpoint: The loaded checkpoint (``{'meta': ..., 'state_dict': ...}``). One
            without ``meta['backbone']`` (not converted by wrn2mm) passes unchecked.
        model: The model to load into: a ``WiderResNet``, or a model whose ``backbone``
            is one (mmseg segmentors, mmpretrain classifiers); other models pass.
        ignore: Arguments to leave unchecked on purpose (e.g. ``['act_cfg']`` to
            fine-tune InPlace-ABN weights with ReLU).

    Compared: depth (or ``arch`` units), variant, widen_factor, in_channels, BN epsilon
    (of the model's norm layers), activation; ``pool_padding`` only if the model
    max-pools, ``contract_dilation`` only if both the weights and the model are dilated
    (output stride < 32). The output stride itself is free (ImageNet weights are meant to
    be used at stride 8).

    Raises:
        RecordedArgsError: (a ``ValueError``) one line naming each differing argument,
            the recorded and the model's value and the config key that fixes it.
    """
    rec = recorded_args(checkpoint)
    backbone = find_backbone(model) if rec is not None else None
    if backbone is None:
        return
    skip = set(ignore)
    try:
        diffs = [d for d in _differences(rec, backbone) if d[0] not in skip]
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise RecordedArgsError(
            f"the checkpoint's meta['backbone'] is malformed ({type(e).__name__}: {e}): "
            f'{_fmt(rec)}; convert the released file again with wrn2mm.py'
        ) from e
    if not diffs:
        return
    meta = checkpoint['meta']
    guessed = meta.get('guessed') if isinstance(meta.get('guessed'), Mapping) else {}
    source = meta.get('source')
    source = (
        source.get('file') if isinstance(source, Mapping) else None
    ) or 'a converted checkpoint'
    parts = []
    for name, want, have in diffs:
        part = (
            f'{name}: the weights need {_fmt(want)}, the model has {_fmt(have)}; set '
            f'{_CFG}{name}={_fmt(want)} in the config'
        )
        if name in guessed:
            part += f' (the converter {guessed[name]})'
        parts.append(part)
    raise RecordedArgsError(
        f'the checkpoint converted from {source} records backbone arguments the model '
        f'does not have: {"; ".join(parts)}'
    )


def _describe(args: Mapping[str, Any]) -> str:
    shown = ('depth', 'arch', 'variant', 'widen_factor', 'in_channels')
    return 'WiderResNet(' + ', '.join(f'{k}={_fmt(args[k])}' for k in shown if k in args) + ')'


def model_shapes(meta: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of the model the recorded arguments build (backbone + head).

    Built on PyTorch's meta device: no memory is allocated, even at full width.

    Raises:
        ConversionError: the arguments do not build a model.
    """
    from ..models.backbones.wider_resnet import WiderResNet

    args = {k: v for k, v in meta['backbone'].items() if k != 'type'}
    prefix = meta.get('prefix', '')
    try:
        with torch.device('meta'):
            backbone = WiderResNet(**args)
            shapes = {prefix + k: tuple(v.shape) for k, v in backbone.state_dict().items()}
            channels = backbone.out_channels[-1]
            if meta['task'] == 'classification':
                from mmpretrain.registry import MODELS

                from ..models.heads import cam_head  # noqa: F401  (PSA's head, registered)

                # in mmpretrain's scope whatever the current default scope is (e.g. mmseg)
                head = MODELS.build(dict(meta['head'], in_channels=channels, _scope_='mmpretrain'))
                shapes.update((f'head.{k}', tuple(v.shape)) for k, v in head.state_dict().items())
            elif meta['task'] == 'segmentation':
                from ..models.decode_heads.wider_head import WiderHead

                cfg = {k: v for k, v in meta['decode_head'].items() if k != 'type'}
                head = WiderHead(**dict(cfg, in_channels=channels))
                shapes.update(
                    (f'decode_head.{k}', tuple(v.shape)) for k, v in head.state_dict().items()
                )
    except (TypeError, ValueError, KeyError) as e:
        raise ConversionError(
            f'the recorded arguments {_describe(args)} do not build a model ({e}); the '
            'checkpoint is corrupt'
        ) from e
    return shapes


def check_converted_shapes(
    state_dict: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    renamed: Iterable[Tuple[str, str]] = (),
) -> None:
    """Every converted tensor must have the shape of the model ``meta`` describes.

    Args:
        state_dict: The converted tensors.
        meta: Their ``meta`` (``backbone``, ``task``, head, ``prefix``).
        renamed: ``(source key, target key)`` pairs (``Conversion.renamed``), to name
            the source key of a mismatched tensor too.

    Raises:
        ConversionError: one line naming the first mismatched key and both shapes (and
            how many more), or keys one side lacks.
    """
    want = model_shapes(meta)
    desc = _describe(meta['backbone'])
    bad = [
        (k, tuple(v.shape), want[k])
        for k, v in state_dict.items()
        if k in want and tuple(v.shape) != want[k]
    ]
    if bad:
        key, got, need = bad[0]
        prefix = meta.get('prefix', '')
        source = {
            (t if t.startswith(('head.', 'decode_head.')) else prefix + t): s for s, t in renamed
        }.get(key)
        more = f' (and {len(bad) - 1} more tensors)' if len(bad) > 1 else ''
        raise ConversionError(
            f'{key}' + (f' (from {source})' if source else '') + f': the checkpoint gives '
            f'shape {got}, but {desc}, the model its recorded arguments build, needs '
            f'{need}{more}; the checkpoint is corrupt, or its layers do not share one width'
        )
    missing = [k for k in want if k not in state_dict]
    extra = [k for k in state_dict if k not in want]
    if missing or extra:
        raise ConversionError(
            f'the converted keys do not match {desc}: {len(missing)} missing '
            f'{missing[:_MAX_LISTED]}, {len(extra)} unexpected {extra[:_MAX_LISTED]}'
        )


__all__ = [
    'RecordedArgsError',
    'check_recorded_args',
    'check_converted_shapes',
    'find_backbone',
    'model_shapes',
    'recorded_args',
]
