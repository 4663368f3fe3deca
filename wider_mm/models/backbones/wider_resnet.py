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
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
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
        pre = self.act(self.norm1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        for i in range(2, self.num_convs + 1):
            out = self.act(getattr(self, f'norm{i}')(out))
            if i == self.num_convs and self.dropout is not None:
                out = self.dropout(out)
            out = getattr(self, f'conv{i}')(out)
        return out + shortcut

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
        out_indices (Sequence[int]): Blocks to output, in 0..6. Default: (6,).
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
        init_cfg (dict | list, optional): mmengine init config; a ``Pretrained`` entry
            (with optional ``prefix``) is loaded strictly: missing or unexpected keys
            raise an error that lists them. Default: None.

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
        init_cfg: Optional[Union[dict, List[dict]]] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        spec = resolve_arch(depth, variant, arch)
        if output_stride not in OUTPUT_STRIDES:
            _fail(f'output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}')
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        out_indices = tuple(out_indices)
        if not out_indices or any(
            not isinstance(i, int) or not 0 <= i < NUM_BLOCKS for i in out_indices
        ):
            _fail(
                f'out_indices must be a non-empty sequence of block indices in '
                f'0..{NUM_BLOCKS - 1} (B1..B7), got {out_indices!r}'
            )
        if not -1 <= frozen_stages < NUM_BLOCKS:
            _fail(f'frozen_stages must be in -1..{NUM_BLOCKS - 1}, got {frozen_stages!r}')
        if not widen_factor > 0:
            _fail(f'widen_factor must be > 0, got {widen_factor!r}')
        if dropout_type not in ('Dropout', 'Dropout2d'):
            _fail(f"dropout_type must be 'Dropout' or 'Dropout2d', got {dropout_type!r}")
        if len(drop_rates) != 2 or not all(0 <= p < 1 for p in drop_rates):
            _fail(f'drop_rates must be two rates in [0, 1) for B6 and B7, got {drop_rates!r}')
        if pool_padding not in (0, 1):
            _fail(f'pool_padding must be 0 or 1, got {pool_padding!r}')

        self.depth, self.variant, self.arch = depth, variant, spec
        self.out_indices = out_indices
        self.output_stride = output_stride
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        def width(c: int) -> int:
            return max(1, int(round(c * widen_factor)))

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
        )
        self._is_init = True


def load_pretrained(
    module: nn.Module, checkpoint: str, prefix: Optional[str] = None, map_location: str = 'cpu'
) -> None:
    """Load ``checkpoint`` into ``module`` strictly, naming any missing/unexpected keys.

    mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs what did not
    match, which can leave half a model at its random init without anyone noticing; this
    refuses instead.

    Args:
        module: The model to load into.
        checkpoint: Path or URL of an mmengine/PyTorch checkpoint.
        prefix: Only keys under this prefix (e.g. 'backbone.'), with it stripped.
        map_location: Where to map tensors. Default: 'cpu'.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    ckpt = _load_checkpoint(checkpoint, map_location=map_location)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise KeyError(f'{checkpoint}: no key starts with prefix {prefix!r}')
    state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise KeyError(
            f'{checkpoint} does not match {type(module).__name__}: '
            f'{len(missing)} missing keys {_head(missing)}, '
            f'{len(unexpected)} unexpected keys {_head(unexpected)}. If it is a released '
            'Wider ResNet checkpoint (MXNet, PSA, MAP, NVIDIA), convert it first with '
            'tools/model_converters/wrn2mm.py; check depth/variant/prefix otherwise.'
        )


def _head(keys: Sequence[str], n: int = 8) -> str:
    keys = list(keys)
    return str(keys[:n])[:-1] + (', ...]' if len(keys) > n else ']')


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
