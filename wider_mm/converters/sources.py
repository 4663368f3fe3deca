"""Rename tables: one per released Wider ResNet checkpoint family (pure data).

Each :class:`Source` is a list of ``(source-key regex, target template)`` rules that the one
engine in :mod:`wider_mm.converters.convert` applies; nothing here runs code on tensors.
Targets use ``WiderResNet``'s naming (``stem``, ``block{b}.unit{u}.norm{i}/conv{i}/shortcut``,
``norm_out``), mmpretrain's ``LinearClsHead`` (``head.fc``) and the paper's ``WiderHead``
(``decode_head.conv.conv``, ``decode_head.conv_seg``). Naming facts: WIDER_RESNET.md sec. 4;
the ports' code: jiwoon-ahn/psa ``network/resnet38d.py``, mapillary/inplace_abn
``models/wider_resnet.py`` + ``modules/residual.py``, NVIDIA/semantic-segmentation
``network/wider_resnet.py``; the authors' MXNet symbols: itijyou/ademxapp
``util/symbol/resnet_v2.py``.

Template fields: ``{b}`` block (2..7), ``{u}`` unit (1-based, from the regex's ``u`` group
through ``Source.unit_index``), ``{p}`` parameter (through ``Source.params``), ``{i}`` conv
index. ``{head}`` is ``head.fc`` (classifier) or ``decode_head.conv_seg`` (segmentation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Tuple

#: Units of B2..B7 per published depth. Mirrors ``wider_resnet.DEPTHS`` (the converters
#: import no model code; tests/converters checks that the two agree).
DEPTH_UNITS: Dict[Tuple[int, ...], int] = {
    (1, 1, 1, 1, 1, 1): 16,
    (1, 1, 1, 3, 1, 1): 20,
    (3, 3, 6, 3, 1, 1): 38,
}
BN_TORCH = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


@dataclass(frozen=True)
class Source:
    """How one checkpoint family names the Wider ResNet parameters.

    Attributes:
        name: Short name (the CLI's ``--src``).
        title: What it is, for messages.
        rules: ``(regex, template)`` pairs; a key is renamed by the first regex that
            matches it entirely. The first rule is the stem conv: format detection
            requires it.
        unit_index: Turns the regex's ``u`` group (None if absent) into the 1-based unit.
        params: Source parameter name -> torch name (BN statistics etc.).
        strip: Key prefixes removed first, when present (``module.`` of DataParallel,
            ``arg:``/``aux:`` of MXNet).
        seg_marker: Regex of a key that only segmentation checkpoints have.
        inplace_abn: Gammas are InPlace-ABN weights: ``|gamma| + eps`` in standard BN.
        backbone: ``WiderResNet`` arguments the weights need (the variant and output
            stride can be overridden: they do not show in the weights).
        notes: Facts worth printing with the conversion.
        variant_guess: Why the recorded variant is a guess when ``--variant`` is not
            given ('' if the family has one variant): weights of Model A, A1 and A2
            have the same shapes, so only a name or the user can tell them apart.
        head: The mmpretrain head a classifier of this family becomes (``head.fc`` holds
            its weights); ``bias=False``: the classifier has none.
    """

    name: str
    title: str
    rules: Tuple[Tuple[str, str], ...]
    unit_index: Callable[[Optional[str]], int]
    params: Mapping[str, str] = field(default_factory=lambda: {p: p for p in BN_TORCH})
    strip: Tuple[str, ...] = ()
    seg_marker: Optional[str] = None
    inplace_abn: bool = False
    backbone: Mapping[str, object] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()
    variant_guess: str = ''
    head: Mapping[str, object] = field(default_factory=lambda: dict(type='LinearClsHead'))


def _unit_letter(u: Optional[str]) -> int:
    """ADE: '2a' is unit 1, '2b1' unit 2, '4b5' unit 6."""
    return 1 if u == 'a' else int(u[1:]) + 1


def _unit_suffix(u: Optional[str]) -> int:
    """PSA: 'b2' is unit 1, 'b2_1' unit 2."""
    return 1 if u is None else int(u[1:]) + 1


def _unit_block(u: Optional[str]) -> int:
    """MAP/NV: 'mod2.block1' is unit 1."""
    return int(u)


def _torch_unit_rules(
    unit: str, norm: Tuple[str, str, str], conv: str, shortcut: str, norm_out: str
) -> Tuple[Tuple[str, str], ...]:
    """Rules for the PyTorch ports: same structure, different layer names."""
    p = r'(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)'
    tgt = 'block{b}.unit{u}'
    return (
        *((rf'{unit}\.{n}\.{p}', f'{tgt}.norm{i}.{{p}}') for i, n in enumerate(norm, 1)),
        (rf'{unit}\.{conv}\.weight', f'{tgt}.conv{{i}}.weight'),
        (rf'{unit}\.{shortcut}\.weight', f'{tgt}.shortcut.weight'),
        (rf'{norm_out}\.{p}', 'norm_out.{p}'),
    )


_MXNET_UNIT = r'(?P<b>[2-7])(?P<u>a|b\d+)'
_MXNET_BN = r'(?P<p>gamma|beta|moving_mean|moving_var)'

MXNET = Source(
    name='mxnet',
    title="the authors' MXNet .params (itijyou/ademxapp: ImageNet Model A/A1, VOC, "
    'Cityscapes, ADE20K)',
    rules=(
        ('conv1a_weight', 'stem.weight'),
        *(
            (rf'bn{_MXNET_UNIT}_branch{br}_{_MXNET_BN}', f'block{{b}}.unit{{u}}.norm{i}.{{p}}')
            for i, br in enumerate(('2a', '2b1', '2b2'), 1)
        ),
        *(
            (rf'res{_MXNET_UNIT}_branch{br}_weight', f'block{{b}}.unit{{u}}.conv{i}.weight')
            for i, br in enumerate(('2a', '2b1', '2b2'), 1)
        ),
        (rf'res{_MXNET_UNIT}_branch1_weight', 'block{b}.unit{u}.shortcut.weight'),
        (rf'bn7_{_MXNET_BN}', 'norm_out.{p}'),
        (r'conv6a_(?P<p>weight|bias)', 'decode_head.conv.conv.{p}'),
        (r'linear\d+_(?P<p>weight|bias)', '{head}.{p}'),
    ),
    unit_index=_unit_letter,
    params={
        'gamma': 'weight',
        'beta': 'bias',
        'moving_mean': 'running_mean',
        'moving_var': 'running_var',
        'weight': 'weight',
        'bias': 'bias',
    },
    strip=('arg:', 'aux:'),
    seg_marker=r'conv6a_weight',
    backbone=dict(
        variant='a1',
        contract_dilation=True,
        pool_padding=0,
        norm_cfg=dict(type='BN', eps=1.001e-5, requires_grad=True),
        act_cfg=dict(type='ReLU'),
    ),
    notes=(
        'ADE BatchNorm epsilon is 1.001e-5 (a wrong one, e.g. 1e-3, hurts accuracy).',
        "ADE's Model A weights reproduce their accuracy with max-pool padding 0.",
        'Model A and A1 files have the same keys: the variant comes from the file name '
        "('rna-a_' / 'rna-a1_') or --variant.",
    ),
    variant_guess="Model A and A1 weights have the same shapes; ADE names say 'rna-a_' or "
    "'rna-a1_'",
)

PSA = Source(
    name='psa',
    title='jiwoon-ahn/psa resnet38d (PyTorch port of the MXNet A1 weights, plain BN)',
    rules=(
        ('conv1a.weight', 'stem.weight'),
        *_torch_unit_rules(
            unit=r'b(?P<b>[2-7])(?P<u>_\d+)?',
            norm=('bn_branch2a', 'bn_branch2b1', 'bn_branch2b2'),
            conv=r'conv_branch(?P<i>2a|2b1|2b2)',
            shortcut='conv_branch1',
            norm_out='bn7',
        ),
        # resnet38_cls: the 20-class VOC classifier, a bias-free 1x1 conv on pooled features
        (r'fc8\.weight', 'head.fc.weight'),
    ),
    unit_index=_unit_suffix,
    strip=('module.',),
    backbone=dict(
        variant='a1',
        output_stride=8,
        contract_dilation=True,
        pool_padding=1,
        norm_cfg=dict(type='BN', eps=1e-5, requires_grad=True),
        act_cfg=dict(type='ReLU'),
    ),
    notes=(
        "PSA's BatchNorm has PyTorch's default epsilon 1e-5 (the MXNet original: " '1.001e-5).',
        "PSA's classifier fc8 (res38_cls.pth) becomes head.fc of configs/classification/psa/ "
        '(tools/cam.py computes its class activation maps).',
    ),
    head=dict(type='MultiLabelCAMHead', bias=False),
)

#: PSA names its convs by branch, like MXNet; the engine turns them into conv indices.
BRANCH_INDEX = {'2a': 1, '2b1': 2, '2b2': 3, '1': 1, '2': 2, '3': 3}

MAPILLARY = Source(
    name='mapillary',
    title='mapillary/inplace_abn WiderResNet (trained with InPlace-ABN)',
    rules=(
        (r'mod1\.conv1\.weight', 'stem.weight'),
        *_torch_unit_rules(
            unit=r'mod(?P<b>[2-7])\.block(?P<u>\d+)',
            norm=('bn1', r'convs\.bn2', r'convs\.bn3'),
            conv=r'convs\.conv(?P<i>[123])',
            shortcut='proj_conv',
            norm_out='bn_out',
        ),
        (r'classifier\.fc\.(?P<p>weight|bias)', 'head.fc.{p}'),
    ),
    unit_index=_unit_block,
    # 'body.': the trunk of a segmentation snapshot (wide_resnet38_deeplab_vistas.pth.tar)
    strip=('module.', 'body.'),
    inplace_abn=True,
    backbone=dict(
        variant='a',
        output_stride=32,
        contract_dilation=False,
        pool_padding=1,
        norm_cfg=dict(type='BN', eps=1e-5, requires_grad=True),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.01),
    ),
    notes=(
        'InPlace-ABN computes leaky_relu(BN(x; |gamma| + eps), 0.01): gammas were '
        'converted to |gamma| + 1e-5, and the backbone needs LeakyReLU(0.01).',
    ),
    variant_guess="MAP's released ImageNet model is Model A; its wider_resnet38_a2 has the "
    'same shapes',
)

NVIDIA = Source(
    name='nvidia',
    title='NVIDIA/semantic-segmentation WiderResNet / WiderResNetA2 (BN as Sequential(BN, '
    'ReLU))',
    rules=(
        (r'mod1\.conv1\.weight', 'stem.weight'),
        *_torch_unit_rules(
            unit=r'mod(?P<b>[2-7])\.block(?P<u>\d+)',
            norm=(r'bn1\.0', r'convs\.bn2\.0', r'convs\.bn3\.0'),
            conv=r'convs\.conv(?P<i>[123])',
            shortcut='proj_conv',
            norm_out=r'bn_out\.0',
        ),
        (r'classifier\.fc\.(?P<p>weight|bias)', 'head.fc.{p}'),
    ),
    unit_index=_unit_block,
    strip=('module.',),
    backbone=dict(
        variant='a2',
        output_stride=8,
        contract_dilation=False,
        pool_padding=1,
        norm_cfg=dict(type='BN', eps=1e-5, requires_grad=True),
        act_cfg=dict(type='ReLU'),
    ),
    notes=(
        "NVIDIA's trunk is WiderResNetA2 with dilation (stride 8, both convs of a "
        'dilated unit dilated); their Model A weights load with --variant a '
        '--output-stride 32.',
    ),
    variant_guess="NVIDIA's released trunk is WiderResNetA2; their Model A has the same shapes",
)

SOURCES: Dict[str, Source] = {s.name: s for s in (MXNET, PSA, MAPILLARY, NVIDIA)}

__all__ = [
    'Source',
    'SOURCES',
    'MXNET',
    'PSA',
    'MAPILLARY',
    'NVIDIA',
    'DEPTH_UNITS',
    'BRANCH_INDEX',
]
