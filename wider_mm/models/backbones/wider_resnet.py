"""Wider ResNet backbone (ResNet-38 "Model A" family).

Wu, Shen, van den Hengel, "Wider or Deeper: Revisiting the ResNet Model for Visual
Recognition", Pattern Recognition 90 (2019), arXiv:1611.10080.

The whole family (depth 16/20/38; Model A, A1, A2; output stride 8/16/32) is ONE class,
``WiderResNet``, built from the tables below. This module imports only torch, mmengine and
mmcv's pure-Python parts (``mmcv.cnn``), so it can be carried to a machine without mmcv's
compiled ops or mmseg; registration in mmseg's and mmpretrain's registries happens in
:mod:`wider_mm.registry`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from .memory_efficient import norm_act_conv

#: Units per block B2..B7 for each published depth (B1 is the stem conv).
DEPTHS: Dict[int, Tuple[int, ...]] = {
    16: (1, 1, 1, 1, 1, 1),
    20: (1, 1, 1, 3, 1, 1),
    38: (3, 3, 6, 3, 1, 1),
}
#: Widths of the units of B2..B7: two entries = basic unit, three = bottleneck unit.
WIDTHS: Tuple[Tuple[int, ...], ...] = (
    (128, 128),
    (256, 256),
    (512, 512),
    (512, 1024),
    (512, 1024, 2048),
    (1024, 2048, 4096),
)
#: How resolution halves on entry to B2..B6: 'pool' (3x3/2 max-pool) or 'stride'.
VARIANTS: Dict[str, Tuple[str, ...]] = {
    'a': ('pool',) * 5,
    'a1': ('stride',) * 5,
    'a2': ('pool', 'pool', 'stride', 'stride', 'stride'),
}
OUTPUT_STRIDES = (8, 16, 32)
NUM_BLOCKS = 7  # B1 (stem) .. B7
ARCH_KEYS = ('stem_channels', 'units', 'widths', 'downsample')


def _fail(msg: str) -> None:
    raise ValueError(f'WiderResNet: {msg}')


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _scaled(c: int, widen_factor: float) -> int:
    """A width of the tables times ``widen_factor`` (at least 1)."""
    return max(1, int(round(c * widen_factor)))


def _check_out_indices(out_indices) -> Tuple[int, ...]:
    """Validate ``out_indices``: block indices 0..6, strictly increasing.

    ``forward`` returns the outputs in block order (as mmseg's and mmpretrain's ResNet do),
    so an unsorted or repeated entry would make ``out_channels`` describe another order or
    count than what is returned; it is refused with the sorted tuple to use.
    """
    if _is_int(out_indices):
        out_indices = (out_indices,)
    if isinstance(out_indices, (str, bytes)) or not isinstance(out_indices, Sequence):
        _fail(f'out_indices must be a sequence of block indices, got {out_indices!r}')
    out_indices = tuple(out_indices)
    if not out_indices or not all(_is_int(i) and 0 <= i < NUM_BLOCKS for i in out_indices):
        _fail(
            f'out_indices must be a non-empty sequence of block indices in '
            f'0..{NUM_BLOCKS - 1} (B1..B7), got {out_indices!r}'
        )
    if list(out_indices) != sorted(set(out_indices)):
        _fail(
            f'out_indices={out_indices!r} must be increasing without repeats: outputs come '
            f"in block order (as in mmseg's ResNet); use out_indices="
            f'{tuple(sorted(set(out_indices)))!r} (heads choose outputs and their order by '
            'in_index)'
        )
    return out_indices


def _normed_channels(spec: dict, widen_factor: float) -> List[int]:
    """Every channel count a norm layer of the network sees (stem and all unit widths)."""
    chans = {_scaled(spec['stem_channels'], widen_factor)}
    for widths in spec['widths']:
        chans.update(_scaled(c, widen_factor) for c in widths)
    return sorted(chans)


#: Norm layers that normalise the channels of an NCHW feature map (for the error message).
KNOWN_NORMS = ('BN', 'SyncBN', 'GN', 'IN')


def _check_layer_cfgs(norm_cfg, act_cfg, channels: Sequence[int]) -> None:
    """Fail with the fix on a norm/act config that mmcv would reject deep in the build.

    mmcv's builders raise a registry ``KeyError`` (under mmseg's scope: "Cannot find None in
    registry"), a bare ``AssertionError`` for GN without ``num_groups``, or torch's
    ``TypeError`` for a misspelt keyword; this checks first and names the argument.
    """
    import math

    from mmengine.registry import MODELS

    for name, cfg, known in (
        ('norm_cfg', norm_cfg, KNOWN_NORMS),
        ('act_cfg', act_cfg, ('ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'GELU', 'SiLU')),
    ):
        if not isinstance(cfg, dict) or 'type' not in cfg:
            _fail(
                f"{name} must be a dict with a 'type' key, e.g. dict(type={known[0]!r}), "
                f'got {cfg!r}'
            )
        layer_type = cfg['type']
        if isinstance(layer_type, type):
            continue
        with MODELS.switch_scope_and_registry(None) as registry:
            cls = registry.get(layer_type) if isinstance(layer_type, str) else None
        if cls is None:
            _fail(
                f'{name} type {layer_type!r} is not a registered layer; use one of '
                f'{", ".join(known)} (or register yours in the MODELS registry)'
            )
        if name == 'norm_cfg' and issubclass(
            cls,
            (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm3d),
        ):
            _fail(
                f'norm_cfg type {layer_type!r} does not normalise the channels of NCHW feature '
                f'maps; use one of {", ".join(KNOWN_NORMS)} (GN with num_groups=1 for a layer norm)'
            )
    if norm_cfg['type'] == 'GN' or norm_cfg['type'] is nn.GroupNorm:
        groups = norm_cfg.get('num_groups')
        common = math.gcd(*channels)
        divisors = [d for d in range(1, common + 1) if common % d == 0]
        if not _is_int(groups) or groups <= 0 or common % groups:
            _fail(
                f'GN needs num_groups dividing every normalised width {channels}, got '
                f"num_groups={groups!r}; use e.g. norm_cfg=dict(type='GN', num_groups="
                f'{max(d for d in divisors if d <= 32)}) (divisors: {divisors})'
            )
    from mmcv.cnn import build_activation_layer, build_norm_layer

    for name, build in (
        ('norm_cfg', lambda: build_norm_layer(norm_cfg, channels[0])),
        ('act_cfg', lambda: build_activation_layer(act_cfg)),
    ):
        try:
            build()
        except (TypeError, ValueError, KeyError, AssertionError) as e:
            cfg = norm_cfg if name == 'norm_cfg' else act_cfg
            _fail(f'{name}={cfg!r} cannot be built: {type(e).__name__}: {e}; check its keys')


def resolve_arch(depth: int, variant: str, arch: Optional[dict]) -> dict:
    """Return the validated architecture table for ``depth``/``variant`` or a custom dict.

    Args:
        depth (int): One of ``DEPTHS`` (ignored for the keys a custom ``arch`` gives).
        variant (str): One of ``VARIANTS`` (ignored if ``arch`` gives ``downsample``).
        arch (dict, optional): Custom architecture with any of the keys
            ``stem_channels`` (int), ``units`` (6 ints, units of B2..B7), ``widths``
            (6 tuples of 2 or 3 ints) and ``downsample`` (5 of 'pool'/'stride', B2..B6).

    Returns:
        dict: with all four keys.
    """
    arch = dict(arch or {})
    unknown = set(arch) - set(ARCH_KEYS)
    if unknown:
        _fail(f'unknown arch keys {sorted(unknown)}; allowed keys are {list(ARCH_KEYS)}')
    if 'units' not in arch and depth not in DEPTHS:
        _fail(
            f'unknown depth {depth!r}; allowed depths are {sorted(DEPTHS)} '
            '(or pass arch=dict(units=...))'
        )
    if 'downsample' not in arch and variant not in VARIANTS:
        _fail(
            f'unknown variant {variant!r}; allowed variants are {sorted(VARIANTS)} '
            '(or pass arch=dict(downsample=...))'
        )
    out = dict(
        stem_channels=arch.get('stem_channels', 64),
        units=tuple(arch.get('units', DEPTHS.get(depth, ()))),
        widths=tuple(tuple(w) for w in arch.get('widths', WIDTHS)),
        downsample=tuple(arch.get('downsample', VARIANTS.get(variant, ()))),
    )
    if not (isinstance(out['stem_channels'], int) and out['stem_channels'] > 0):
        _fail(f"arch['stem_channels'] must be a positive int, got {out['stem_channels']!r}")
    if len(out['units']) != 6 or not all(isinstance(u, int) and u > 0 for u in out['units']):
        _fail(f"arch['units'] must be 6 positive ints (units of B2..B7), got {out['units']!r}")
    if len(out['widths']) != 6 or not all(
        len(w) in (2, 3) and all(isinstance(c, int) and c > 0 for c in w) for w in out['widths']
    ):
        _fail(
            "arch['widths'] must be 6 tuples (B2..B7) of 2 (basic unit) or 3 "
            f"(bottleneck unit) positive ints, got {out['widths']!r}"
        )
    if len(out['downsample']) != 5 or not set(out['downsample']) <= {'pool', 'stride'}:
        _fail(
            "arch['downsample'] must be 5 entries (B2..B6), each 'pool' or 'stride', "
            f"got {out['downsample']!r}"
        )
    return out


class PreActUnit(nn.Module):
    """Pre-activation residual unit: ``y = shortcut(x) + F(x)``.

    Every conv is preceded by its own norm -> activation; no conv has a bias. A basic
    unit has two 3x3 convs, a bottleneck unit 1x1 -> 3x3 -> 1x1. The stride sits on the
    first conv. With ``project=True`` the shortcut is a 1x1 conv (same stride) applied to
    the pre-activated input.

    Args:
        in_channels (int): Input channels.
        widths (Sequence[int]): Output channels of each conv (2 or 3 entries).
        stride (int): Stride of the first conv and the shortcut. Default: 1.
        dilation (int): Dilation of the 3x3 convs. Default: 1.
        first_dilation (int, optional): Dilation of the first 3x3 conv of a basic unit
            (``contract_dilation``). Default: None (= ``dilation``).
        project (bool): Use a 1x1 projection shortcut. Default: False.
        dropout (nn.Module, optional): Applied before the last conv. Default: None.
        norm_cfg (dict): Norm layer config. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation config. Default: ``dict(type='ReLU')``.
        with_cp (bool): Checkpoint the unit's activations. Default: False.
        memory_efficient (bool): Keep only each norm's input for the backward pass and
            recompute norm + activation there (:func:`norm_act_conv`). Default: False.
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        *,
        stride: int = 1,
        dilation: int = 1,
        first_dilation: Optional[int] = None,
        project: bool = False,
        dropout: Optional[nn.Module] = None,
        norm_cfg: dict = dict(type='BN'),
        act_cfg: dict = dict(type='ReLU'),
        with_cp: bool = False,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.memory_efficient = memory_efficient
        bottleneck = len(widths) == 3
        first_dilation = dilation if first_dilation is None else first_dilation
        if bottleneck:
            kernels, dils = (1, 3, 1), (1, dilation, 1)
        else:
            kernels, dils = (3, 3), (first_dilation, dilation)
        self.num_convs = len(widths)
        chans = (in_channels, *widths)
        for i, (k, d) in enumerate(zip(kernels, dils), start=1):
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, chans[i - 1])[1])
            self.add_module(
                f'conv{i}',
                nn.Conv2d(
                    chans[i - 1],
                    chans[i],
                    k,
                    stride=stride if i == 1 else 1,
                    padding=d * (k // 2),
                    dilation=d,
                    bias=False,
                ),
            )
        self.act = build_activation_layer(act_cfg)
        self.dropout = dropout
        self.shortcut = (
            nn.Conv2d(in_channels, widths[-1], 1, stride=stride, bias=False) if project else None
        )

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        efficient = self.memory_efficient
        convs = (self.conv1,) if self.shortcut is None else (self.conv1, self.shortcut)
        out, *shortcut = norm_act_conv(x, self.norm1, self.act, convs, None, efficient)
        for i in range(2, self.num_convs + 1):
            norm, conv = getattr(self, f'norm{i}'), getattr(self, f'conv{i}')
            dropout = self.dropout if i == self.num_convs else None
            (out,) = norm_act_conv(out, norm, self.act, (conv,), dropout, efficient)
        return out + (shortcut[0] if shortcut else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward, with activation checkpointing when ``with_cp`` and training."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class WiderResNet(BaseModule):
    """Wider ResNet backbone: depth 16/20/38, Model A / A1 / A2, output stride 8/16/32.

    Seven blocks B1..B7 (``out_indices`` 0..6): B1 is a 3x3 stem conv (64 channels,
    stride 1); B2..B7 are stacks of pre-activation units (basic in B2..B5, bottleneck in
    B6, B7). The output at index 6 is the final norm-activation of B7 (4096 channels at
    full width); outputs 0..5 are the raw block outputs (pre-activation features).

    Args:
        depth (int): 16, 20 or 38. Default: 38.
        variant (str): 'a' (3x3/2 max-pools before B2..B6), 'a1' (stride-2 first unit
            of B2..B6) or 'a2' (pools before B2, B3; strided B4..B6). Default: 'a1'.
        arch (dict, optional): Custom architecture overriding the tables, see
            :func:`resolve_arch`. Default: None.
        in_channels (int): Input image channels. Default: 3.
        widen_factor (float): Multiplies every width (e.g. 0.125 for tests and demos,
            or the paper's width study). Default: 1.0.
        output_stride (int): 8, 16 or 32. The down-samplings past it are replaced by
            dilation (x2 each). Default: 32.
        contract_dilation (bool): True (ADE/PSA): the first 3x3 conv of the first unit of
            a block whose dilation grows keeps the previous dilation. False (MAP/NV): both
            convs dilated. Default: True.
        pool_padding (int): Padding of the 3x3/2 max-pools (0 matches ADE's released
            Model A, 1 matches MAP/NV). Default: 1.
        out_indices (Sequence[int]): Blocks to output, in 0..6, increasing without
            repeats (outputs come in block order, as in mmseg's ResNet; ``(6, 2)`` or
            ``(6, 6)`` is refused with the tuple to use). Default: (6,).
        frozen_stages (int): Freeze blocks 0..frozen_stages (params and norm stats);
            -1 freezes nothing. Default: -1.
        norm_eval (bool): Keep all BN layers in eval mode while training. Default: False.
        norm_cfg (dict): Norm config (BN, SyncBN, GN, ...). ``eps`` goes here (ADE's
            weights: 1.001e-5). Default: ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Activation config; ``dict(type='LeakyReLU', negative_slope=0.01)``
            for weights trained with InPlace-ABN. Default: ``dict(type='ReLU')``.
        drop_rates (Sequence[float]): Dropout rates before the last 1x1 conv of the B6
            and B7 units (paper, segmentation: (0.3, 0.5)). Default: (0.0, 0.0).
        dropout_type (str): 'Dropout' (element-wise, ADE) or 'Dropout2d' (channel-wise,
            MAP/NV). Default: 'Dropout'.
        with_cp (bool): Activation checkpointing per unit (``use_reentrant=False``).
            Default: False.
        memory_efficient (bool): Every norm -> activation -> conv (and the projection
            shortcut) keeps only the norm's input for the backward pass and recomputes
            norm + activation there: about half the saved activations, same outputs,
            gradients and running statistics (:mod:`.memory_efficient`); combines with
            ``with_cp``. Default: False.
        init_cfg (dict | list, optional): mmengine init config; a ``Pretrained`` entry
            (with optional ``prefix``) is loaded strictly: missing or unexpected keys
            raise an error that lists them, and so do backbone arguments that differ from
            those a converted checkpoint records (``ignore_recorded=[...]`` to allow
            them). Default: None.

    Example:
        >>> import torch
        >>> m = WiderResNet(depth=38, variant='a1', output_stride=8, widen_factor=0.125,
        ...                 out_indices=(2, 6)).eval()
        >>> [tuple(o.shape) for o in m(torch.rand(1, 3, 64, 64))]
        [(1, 32, 16, 16), (1, 512, 8, 8)]
        >>> m.out_channels, m.out_strides
        ((32, 512), (4, 8))
    """

    def __init__(
        self,
        depth: int = 38,
        variant: str = 'a1',
        arch: Optional[dict] = None,
        in_channels: int = 3,
        widen_factor: float = 1.0,
        output_stride: int = 32,
        contract_dilation: bool = True,
        pool_padding: int = 1,
        out_indices: Sequence[int] = (6,),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        norm_cfg: dict = dict(type='BN', requires_grad=True),
        act_cfg: dict = dict(type='ReLU'),
        drop_rates: Sequence[float] = (0.0, 0.0),
        dropout_type: str = 'Dropout',
        with_cp: bool = False,
        memory_efficient: bool = False,
        init_cfg: Optional[Union[dict, List[dict]]] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        spec = resolve_arch(depth, variant, arch)
        if output_stride not in OUTPUT_STRIDES:
            _fail(f'output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}')
        out_indices = _check_out_indices(out_indices)
        if not _is_int(frozen_stages) or not -1 <= frozen_stages < NUM_BLOCKS:
            _fail(
                f'frozen_stages must be an int in -1..{NUM_BLOCKS - 1} (-1 freezes nothing, '
                f'k freezes B1..B(k+1)), got {frozen_stages!r}'
            )
        if not _is_number(widen_factor) or not widen_factor > 0:
            _fail(f'widen_factor must be a number > 0 (e.g. 0.125), got {widen_factor!r}')
        if not _is_int(in_channels) or in_channels <= 0:
            _fail(f'in_channels must be a positive int (3 for RGB), got {in_channels!r}')
        for name, flag in (
            ('contract_dilation', contract_dilation),
            ('norm_eval', norm_eval),
            ('with_cp', with_cp),
        ):
            if not isinstance(flag, bool):
                _fail(f'{name} must be True or False, got {flag!r}')
        if dropout_type not in ('Dropout', 'Dropout2d'):
            _fail(f"dropout_type must be 'Dropout' or 'Dropout2d', got {dropout_type!r}")
        if (
            isinstance(drop_rates, (str, bytes))
            or not isinstance(drop_rates, Sequence)
            or len(drop_rates) != 2
            or not all(_is_number(p) and 0 <= p < 1 for p in drop_rates)
        ):
            _fail(
                f'drop_rates must be two rates in [0, 1) for B6 and B7 (e.g. (0.3, 0.5)), '
                f'got {drop_rates!r}'
            )
        if pool_padding not in (0, 1) or isinstance(pool_padding, bool):
            _fail(f'pool_padding must be 0 or 1, got {pool_padding!r}')
        _check_layer_cfgs(norm_cfg, act_cfg, _normed_channels(spec, widen_factor))

        self.depth, self.variant, self.arch = depth, variant, spec
        # What a converted checkpoint records (compared on load: converters.recorded).
        self.widen_factor, self.in_channels = widen_factor, in_channels
        self.contract_dilation, self.pool_padding = contract_dilation, pool_padding
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        self.out_indices = out_indices
        self.output_stride = output_stride
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        def width(c: int) -> int:
            return _scaled(c, widen_factor)

        stem = width(spec['stem_channels'])
        self.stem = nn.Conv2d(in_channels, stem, 3, padding=1, bias=False)
        self.feature_info: List[dict] = [dict(num_chs=stem, reduction=1, module='stem')]
        self.block_names = ['stem']
        channels, stride, dilation = stem, 1, 1
        for j, (units, widths) in enumerate(zip(spec['units'], spec['widths'])):
            widths = tuple(width(c) for c in widths)
            down = spec['downsample'][j] if j < 5 else None
            prev_dilation, unit_stride, layers = dilation, 1, OrderedDict()
            if down is not None:
                if stride < output_stride:
                    stride *= 2
                    if down == 'pool':
                        layers['pool'] = nn.MaxPool2d(3, stride=2, padding=pool_padding)
                    else:
                        unit_stride = 2
                else:
                    dilation *= 2
            drop = drop_rates[j - 4] if j >= 4 else 0.0
            for u in range(units):
                first = u == 0
                layers[f'unit{u + 1}'] = PreActUnit(
                    channels if first else widths[-1],
                    widths,
                    stride=unit_stride if first else 1,
                    dilation=dilation,
                    first_dilation=prev_dilation if (first and contract_dilation) else None,
                    project=first and (unit_stride != 1 or channels != widths[-1]),
                    dropout=getattr(nn, dropout_type)(drop) if drop > 0 else None,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=with_cp,
                    memory_efficient=memory_efficient,
                )
            channels = widths[-1]
            name = f'block{j + 2}'
            self.add_module(name, nn.Sequential(layers))
            self.block_names.append(name)
            self.feature_info.append(dict(num_chs=channels, reduction=stride, module=name))
        self.norm_out = build_norm_layer(norm_cfg, channels)[1]
        self.act_out = build_activation_layer(act_cfg)
        self.feature_info[-1]['module'] = 'norm_out'
        self._freeze_stages()

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each output, in ``out_indices`` order."""
        return tuple(self.feature_info[i]['num_chs'] for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Stride (reduction) of each output, in ``out_indices`` order."""
        return tuple(self.feature_info[i]['reduction'] for i in self.out_indices)

    def output_shape(self) -> Dict[int, dict]:
        """Shape contract: ``{index: dict(channels=..., stride=...)}`` per output."""
        return {
            i: dict(
                channels=self.feature_info[i]['num_chs'], stride=self.feature_info[i]['reduction']
            )
            for i in self.out_indices
        }

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the outputs of the blocks in ``out_indices``, as a tuple."""
        outs = []
        last = max(self.out_indices)
        for i, name in enumerate(self.block_names[: last + 1]):
            x = getattr(self, name)(x)
            if i == NUM_BLOCKS - 1:
                x = self.act_out(self.norm_out(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        mods = [getattr(self, n) for n in self.block_names[: self.frozen_stages + 1]]
        if self.frozen_stages == NUM_BLOCKS - 1:
            mods.append(self.norm_out)
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> WiderResNet:
        """Set train mode, keeping frozen blocks (and all BN with ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Kaiming init, or a strict load of a ``Pretrained`` ``init_cfg``."""
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [c for c in cfgs if c and c.get('type') == 'Pretrained']
        if not pretrained:
            if self.init_cfg is not None:
                return super().init_weights()
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                elif isinstance(m, (_BatchNorm, nn.GroupNorm)) and m.weight is not None:
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            return
        cfg = pretrained[-1]
        load_pretrained(
            self,
            cfg['checkpoint'],
            prefix=cfg.get('prefix'),
            map_location=cfg.get('map_location', 'cpu'),
            ignore_recorded=cfg.get('ignore_recorded', ()),
        )
        self._is_init = True


def load_pretrained(
    module: nn.Module,
    checkpoint: str,
    prefix: Optional[str] = None,
    map_location: str = 'cpu',
    ignore_recorded: Sequence[str] = (),
) -> None:
    """Load ``checkpoint`` into ``module`` strictly, naming any missing/unexpected keys.

    mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs what did not
    match, which can leave half a model at its random init without anyone noticing; this
    refuses instead (:func:`wider_mm.engine.checkpoint.load_state`, the one strict load).

    Args:
        module: The model to load into.
        checkpoint: Path or URL of an mmengine/PyTorch checkpoint.
        prefix: Only keys under this prefix (e.g. 'backbone.'), with it stripped.
        map_location: Where to map tensors. Default: 'cpu'.
        ignore_recorded: Arguments recorded by the converter to leave unchecked on
            purpose (init_cfg key ``ignore_recorded``). A checkpoint converted by
            tools/model_converters/wrn2mm.py records the backbone arguments its weights
            need; a ``module`` built with others is refused, naming them.

    Raises:
        CheckpointError: (a ``ValueError``, one line) the file does not load, its keys or
            shapes do not fit, or its recorded arguments differ.
    """
    # (lazy: this module imports only torch, mmengine and mmcv.cnn; see its docstring)
    from wider_mm.engine.checkpoint import load_state, read_checkpoint

    load_state(
        module,
        read_checkpoint(checkpoint, map_location=map_location),
        checkpoint,
        ignore_recorded=ignore_recorded,
        prefix=prefix,
        fix="check depth, variant, widen_factor and the init_cfg's prefix",
        ignore_option="the init_cfg's ignore_recorded",
    )


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (conv + norm affine + fc), running stats excluded."""
    return sum(p.numel() for p in module.parameters())


__all__ = [
    'WiderResNet',
    'PreActUnit',
    'resolve_arch',
    'load_pretrained',
    'count_parameters',
    'DEPTHS',
    'WIDTHS',
    'VARIANTS',
]
