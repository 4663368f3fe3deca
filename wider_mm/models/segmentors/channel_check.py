"""Check that a segmentor's parts fit together: one dry forward, shape errors as advice.

mmseg builds the backbone, the neck and the heads independently, so a wrong ``in_channels``
(or DeepLabV3+'s ``c1_in_channels``, or a neck's ``in_channels``) shows up only at the first
forward, as a shape error deep inside a conv, after the data pipeline and the checkpoint
have been loaded. :func:`check_segmentor` runs one forward on a tiny input at build time
and, where it fails, names the module, what it was given and the value to set.

It works for any mmseg ``EncoderDecoder`` (``CascadeEncoderDecoder`` and
:class:`WiderEncoderDecoder` included) and any backbone: the channels are measured on the
features the backbone and neck actually return, not read from what a backbone publishes.
The forward runs under ``torch.no_grad`` in eval mode with a private random generator: no
BN running statistic, training flag, gradient or random state of the model changes.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

#: Input side when the backbone publishes no ``out_strides`` (stride 32 -> 2x2 features).
DEFAULT_SIZE = 64
#: Smallest input side used (a few pixels of features at output stride 8 / 16).
MIN_SIZE = 32


def _unwrap(model: nn.Module) -> nn.Module:
    """The segmentor inside DDP / ``SegTTAModel`` wrappers (their ``module``)."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model


def _channels(feats) -> Optional[List[int]]:
    """Channels of each feature map (dim 1), or None if they are not all NCHW tensors."""
    if not isinstance(feats, (list, tuple)):
        return None
    if not all(isinstance(f, torch.Tensor) and f.dim() == 4 for f in feats):
        return None
    return [int(f.shape[1]) for f in feats]


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _describe_source(seg: EncoderDecoder, channels: Sequence[int], neck: bool) -> str:
    if neck:
        return f'the neck ({type(seg.neck).__name__}) emits {tuple(channels)} channels'
    backbone = seg.backbone
    indices = getattr(backbone, 'out_indices', None)
    at = f' at out_indices={tuple(_as_list(indices))}' if indices is not None else ''
    return f'the backbone ({type(backbone).__name__}) emits {tuple(channels)} channels{at}'


def neck_mismatch(seg: EncoderDecoder, feats) -> Optional[str]:
    """The message for a neck whose list ``in_channels`` misfits the backbone's ``feats``.

    Necks with a list (or tuple) ``in_channels`` (mmseg's FPN, MultiLevelNeck, MLANeck,
    JPU, ICNeck) take one entry per backbone output, in order.
    """
    neck, channels = seg.neck, _channels(feats)
    declared = getattr(neck, 'in_channels', None)
    if channels is None or not isinstance(declared, (list, tuple)):
        return None
    if list(declared) == channels:
        return None
    return (
        f'neck ({type(neck).__name__}) has in_channels={list(declared)} but '
        f'{_describe_source(seg, channels, neck=False)}; set neck.in_channels={channels}'
        + (' (one entry per backbone output)' if len(declared) != len(channels) else '')
    )


def head_mismatch(seg: EncoderDecoder, name: str, head: nn.Module, feats) -> Optional[str]:
    """The message for a decode head whose ``in_channels`` misfits the features it gets.

    Follows ``BaseDecodeHead``: ``in_index`` picks the inputs; with ``resize_concat`` the
    head's ``in_channels`` is their sum. DeepLabV3+ (``DepthwiseSeparableASPPHead``) also
    reads a low-level feature (``inputs[0]``, or ``inputs[c1_in_index]`` where a head
    has one) of ``c1_in_channels`` channels.
    """
    channels = _channels(feats)
    in_index = getattr(head, 'in_index', None)
    if channels is None or in_index is None or not hasattr(head, 'in_channels'):
        return None
    kind = f'{name} ({type(head).__name__})'
    source = _describe_source(seg, channels, neck=seg.with_neck)
    n = len(channels)
    bad = [i for i in _as_list(in_index) if not -n <= i < n]
    if bad:
        return (
            f'{kind} in_index={in_index} is out of range: {source}, {n} outputs; use '
            f'in_index within 0..{n - 1}'
            + ('' if seg.with_neck else " or add blocks to the backbone's out_indices")
        )
    got = [channels[i] for i in _as_list(in_index)]
    transform = getattr(head, 'input_transform', None)
    declared = head.in_channels
    if transform == 'resize_concat':  # the head's in_channels is the sum of the list
        ok, value, receives = declared == sum(got), got, f'{got} (sum {sum(got)})'
    elif isinstance(in_index, (list, tuple)):
        ok, value = list(_as_list(declared)) == got, got
        receives = str(got)
    else:
        ok, value = declared == got[0], got[0]
        receives = str(got[0])
    messages = []
    if not ok:
        messages.append(
            f'{kind} has in_channels={declared} but {source}, so in_index={in_index} '
            f'receives {receives}; set {name}.in_channels={value}'
        )
    c1 = getattr(head, 'c1_bottleneck', None)
    if isinstance(c1, nn.Module):
        conv = next((m for m in c1.modules() if isinstance(m, _ConvNd)), None)
        c1_index = getattr(head, 'c1_in_index', 0)
        if conv is not None and -n <= c1_index < n and conv.in_channels != channels[c1_index]:
            messages.append(
                f'{kind} has c1_in_channels={conv.in_channels} but its low-level input '
                f'inputs[{c1_index}] has {channels[c1_index]} channels ({source}); set '
                f'{name}.c1_in_channels={channels[c1_index]} (or change which output '
                'comes first)'
            )
    return '; '.join(messages) or None


def _layer_mismatch(module: nn.Module, x) -> Optional[Tuple[int, int]]:
    """``(expected, received)`` input channels of a conv / norm / linear layer, or None."""
    if not isinstance(x, torch.Tensor):
        return None
    if isinstance(module, _ConvNd):
        dims = len(module.kernel_size) + 2
        if x.dim() == dims and x.shape[1] != module.in_channels:
            return module.in_channels, int(x.shape[1])
    elif isinstance(module, (_BatchNorm, nn.GroupNorm)):
        want = module.num_features if isinstance(module, _BatchNorm) else module.num_channels
        if x.dim() >= 2 and x.shape[1] != want:
            return want, int(x.shape[1])
    elif isinstance(module, nn.Linear):
        if x.dim() >= 1 and x.shape[-1] != module.in_features:
            return module.in_features, int(x.shape[-1])
    return None


class _Probe:
    """Pre-forward hooks that record the first channel mismatch of one dry-forward stage."""

    def __init__(self, seg: EncoderDecoder, heads: Sequence[Tuple[str, nn.Module]]) -> None:
        self.found: List[str] = []
        self.handles = []
        if seg.with_neck:
            self._hook(seg.neck, lambda args: neck_mismatch(seg, args[0]))
        for name, head in heads:
            if isinstance(head, BaseDecodeHead):
                self._hook(
                    head, lambda args, name=name, head=head: head_mismatch(seg, name, head, args[0])
                )
        for path, module in seg.named_modules():
            if isinstance(module, (_ConvNd, _BatchNorm, nn.GroupNorm, nn.Linear)):
                self._hook(module, lambda args, path=path, m=module: self._layer(path, m, args))

    @staticmethod
    def _layer(path: str, module: nn.Module, args) -> Optional[str]:
        mismatch = _layer_mismatch(module, args[0] if args else None)
        if mismatch is None:
            return None
        part = path.split('.')[0]
        return (
            f'{path} ({type(module).__name__}) expects {mismatch[0]} input channels but '
            f'receives {mismatch[1]}; fix the channel arguments of {part} so that it gets '
            f'{mismatch[1]}'
        )

    def _hook(self, module: nn.Module, check: Callable) -> None:
        def hook(_module, args):
            if not self.found:
                message = check(args)
                if message:
                    self.found.append(message)

        self.handles.append(module.register_forward_pre_hook(hook))

    def run(self, stage: str, fn: Callable, *args):
        """``(output, error message)`` of ``fn(*args)``; a failure that is no channel
        mismatch is logged and gives ``(None, None)`` (the real forward will report it)."""
        self.found.clear()
        try:
            return fn(*args), None
        except Exception as e:  # any shape error of any module: classify it below
            if self.found:
                return None, self.found[0]
            first = str(e).strip().splitlines()[0] if str(e).strip() else ''
            print_log(
                f'wider_mm: channel check skipped for {stage}: the dry forward failed with '
                f'{type(e).__name__}: {first}',
                logger='current',
                level=logging.WARNING,
            )
            return None, None

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _heads(seg: EncoderDecoder) -> List[Tuple[str, nn.Module]]:
    heads = []
    for attr in ('decode_head', 'auxiliary_head'):
        head = getattr(seg, attr, None)
        if isinstance(head, nn.ModuleList):
            heads += [(f'{attr}[{i}]', h) for i, h in enumerate(head)]
        elif isinstance(head, nn.Module):
            heads.append((attr, head))
    return heads


def dry_input(seg: EncoderDecoder, size: Optional[int] = None) -> torch.Tensor:
    """A ``1 x C x size x size`` input on the model's device and dtype.

    ``size`` defaults to twice the backbone's largest published ``out_strides`` (at least
    :data:`MIN_SIZE`), else :data:`DEFAULT_SIZE`. ``C`` is the backbone's ``in_channels``
    (else the data preprocessor's number of means, else 3). Drawn from a private generator:
    the global random state is not touched.
    """
    backbone = seg.backbone
    if size is None:
        strides = getattr(backbone, 'out_strides', None)
        size = max(MIN_SIZE, 2 * max(strides)) if strides else DEFAULT_SIZE
    chans = getattr(backbone, 'in_channels', None)
    if not isinstance(chans, int):
        mean = getattr(getattr(seg, 'data_preprocessor', None), 'mean', None)
        chans = int(mean.numel()) if isinstance(mean, torch.Tensor) else 3
    ref = next((p for p in seg.parameters() if p.is_floating_point()), None)
    device = ref.device if ref is not None else torch.device('cpu')
    dtype = ref.dtype if ref is not None else torch.float32
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, chans, size, size, generator=gen, device='cpu')
    return x.to(device=device, dtype=dtype)


@contextmanager
def _frozen_state(seg: nn.Module) -> Iterator[None]:
    """Eval mode and no grad inside; every module's training flag restored afterwards."""
    modes = [(m, m.training) for m in seg.modules()]
    try:
        seg.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def segmentor_channel_errors(model: nn.Module, size: Optional[int] = None) -> List[str]:
    """One message per part of ``model`` that does not fit the features it receives.

    Runs backbone (+ neck) once, then every decode head (a cascade in sequence) and every
    auxiliary head on the features, on a tiny input (:func:`dry_input`). Models that are
    not an mmseg ``EncoderDecoder`` (e.g. mmpretrain classifiers) give ``[]``.

    Args:
        model: The segmentor, possibly wrapped (DDP, ``SegTTAModel``).
        size: Side of the square dry input. Default: see :func:`dry_input`.

    Returns:
        list[str]: Empty if everything fits.
    """
    seg = _unwrap(model)
    if not isinstance(seg, EncoderDecoder):
        return []
    heads = _heads(seg)
    x = dry_input(seg, size)
    probe = _Probe(seg, heads)
    errors: List[str] = []
    try:
        with _frozen_state(seg):
            feats, error = probe.run('backbone/neck', seg.extract_feat, x)
            if error:
                return [error]
            if feats is None:
                return []
            prev = None
            for name, head in heads:
                cascade = name.startswith('decode_head[') and name != 'decode_head[0]'
                if cascade and prev is None:
                    continue  # the previous stage failed: nothing to feed this one
                out, error = probe.run(name, head, *((feats, prev) if cascade else (feats,)))
                if error:
                    errors.append(error)
                if name.startswith('decode_head'):
                    prev = out
    finally:
        probe.remove()
    return errors


def check_segmentor(model: nn.Module, size: Optional[int] = None) -> None:
    """Raise ``ValueError`` naming every misfit of ``model`` (:func:`segmentor_channel_errors`).

    Called by ``wider_mm.engine.launch.build_runner`` on every mmseg model the tools build,
    and by :class:`WiderEncoderDecoder` when it is built.

    Example:
        >>> from mmseg.registry import MODELS
        >>> model = MODELS.build(dict(type='EncoderDecoder',
        ...     backbone=dict(type='WiderResNet', depth=16, widen_factor=1 / 16,
        ...                   output_stride=8, out_indices=(6,)),
        ...     decode_head=dict(type='FCNHead', in_channels=4096, channels=8,
        ...                      num_classes=3)))
        >>> check_segmentor(model)
        Traceback (most recent call last):
        ValueError: EncoderDecoder: decode_head (FCNHead) has in_channels=4096 but the
        backbone (WiderResNet) emits (256,) channels at out_indices=(6,), so in_index=-1
        receives 256; set decode_head.in_channels=256
    """
    errors = segmentor_channel_errors(model, size)
    if errors:
        name = type(_unwrap(model)).__name__
        raise ValueError(f'{name}: ' + '\n  '.join(errors))


@MODELS.register_module()
class WiderEncoderDecoder(EncoderDecoder):
    """mmseg's ``EncoderDecoder`` that runs :func:`check_segmentor` when it is built.

    A drop-in replacement (same arguments). The tools check every mmseg segmentor anyway
    (``build_runner``); this class also checks models built directly with
    ``MODELS.build``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_segmentor(self)
