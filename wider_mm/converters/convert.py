"""The one conversion engine: a source-family state dict -> wider_mm's naming (pure functions).

Works on plain mappings of numpy arrays or torch tensors, driven by the rename tables of
:mod:`wider_mm.converters.sources`; it imports no model code. Strict by construction: every
source key must be renamed (or explicitly dropped) and every key the structure implies must
be produced, else :class:`ConversionError` lists what is left over or missing. BatchNorm
``num_batches_tracked`` buffers the sources lack are produced as zeros, so that
``load_state_dict(strict=True)`` works.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .sources import BN_TORCH, BRANCH_INDEX, DEPTH_UNITS, SOURCES, Source

#: Parameters of a converted BN layer, in order (``num_batches_tracked`` may be produced).
_BN_KEYS = BN_TORCH
_UNIT_KEY = re.compile(r'block(?P<b>\d)\.unit(?P<u>\d+)\.(?P<layer>norm|conv|shortcut)(?P<i>\d?)\.')
_HEADS = {
    'classification': ('head.fc.weight', 'head.fc.bias'),
    'segmentation': (
        'decode_head.conv.conv.weight',
        'decode_head.conv.conv.bias',
        'decode_head.conv_seg.weight',
        'decode_head.conv_seg.bias',
    ),
}
#: ``{head}`` of a rule template, per task.
_HEAD_NAME = {'classification': 'head.fc', 'segmentation': 'decode_head.conv_seg'}
_MAX_LISTED = 30
#: Dimensions of the tensors the recorded arguments are read from.
_DIMS = {
    'stem.weight': 4,
    'head.fc.weight': 2,
    'decode_head.conv.conv.weight': 4,
    'decode_head.conv_seg.weight': 4,
}
#: BatchNorm scales (gammas) in the target naming.
_GAMMA = re.compile(r'(block\d\.unit\d+\.norm\d|norm_out)\.weight')


class ConversionError(ValueError):
    """A checkpoint cannot be converted; the message names the keys and the fix.

    Attributes:
        leftover (list): Source keys no rule consumed.
        missing (list): Target keys the structure implies but nothing produced.
        unexpected (list): Target keys produced outside the structure.
    """

    def __init__(
        self,
        message: str,
        leftover: Sequence[str] = (),
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.leftover, self.missing, self.unexpected = (
            list(leftover),
            list(missing),
            list(unexpected),
        )


@dataclass
class Conversion:
    """Result of :func:`convert_state_dict`.

    Attributes:
        state_dict: Converted tensors (``backbone.``-prefixed when a head is present).
        meta: What the weights need and where they came from (see :func:`convert_state_dict`).
        renamed: ``(source key, target key)`` pairs, in source order.
        dropped: Source keys removed on request (``drop``).
        added: Target keys produced without a source (``num_batches_tracked`` zeros).
    """

    state_dict: OrderedDict[str, torch.Tensor]
    meta: Dict[str, Any]
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)


def _listing(keys: Sequence[str]) -> str:
    keys = list(keys)
    shown = ', '.join(keys[:_MAX_LISTED])
    more = f', ... ({len(keys) - _MAX_LISTED} more)' if len(keys) > _MAX_LISTED else ''
    return f'{len(keys)}: {shown}{more}'


def _strip(key: str, prefixes: Sequence[str]) -> str:
    for p in prefixes:
        if key.startswith(p):
            return key[len(p) :]
    return key


def _compiled(source: Source) -> List[Tuple[re.Pattern[str], str]]:
    return [(re.compile(pat), tpl) for pat, tpl in source.rules]


def _match(source: Source, rules, key: str) -> Optional[Tuple[str, Dict[str, str]]]:
    """Return (template, groups) of the first rule matching ``key`` entirely."""
    for pat, tpl in rules:
        m = pat.fullmatch(_strip(key, source.strip))
        if m:
            return tpl, m.groupdict()
    return None


def detect_format(
    keys: Iterable[str], candidates: Sequence[str] = tuple(SOURCES)
) -> Tuple[str, str]:
    """Guess which source family names ``keys``.

    Args:
        keys: The checkpoint's keys.
        candidates: Source names to consider (an MXNet file can only be 'mxnet').

    Returns:
        tuple: (source name, a sentence saying what was found).

    Raises:
        ConversionError: no family fits (the message shows sample keys), or the keys are
            already in wider_mm's naming.
    """
    keys = list(keys)
    if not keys:
        raise ConversionError('the checkpoint holds no parameters')
    bare = [_strip(k, ('module.', 'backbone.')) for k in keys]
    if 'stem.weight' in bare and any(k.startswith('block2.unit1.') for k in bare):
        raise ConversionError(
            'the keys are already in wider_mm naming (stem.weight, block2.unit1....): '
            'nothing to convert; load the file directly'
        )
    scores = []
    for name in candidates:
        source = SOURCES[name]
        rules = _compiled(source)
        hits = [k for k in keys if _match(source, rules, k)]
        stem = any(_match(source, rules[:1], k) for k in keys)
        scores.append((stem, len(hits), name, hits))
    scores.sort(key=lambda s: (s[0], s[1]), reverse=True)
    stem, n, name, hits = scores[0]
    if not stem or n == 0:
        raise ConversionError(
            f'unrecognised checkpoint: none of the known namings ({", ".join(candidates)}) '
            f'fits its keys (first keys: {keys[:5]}). Known stems: MXNet arg:conv1a_weight, '
            'PSA conv1a.weight, MAP/NVIDIA [module.]mod1.conv1.weight'
        )
    source = SOURCES[name]
    prefixes = sorted({p for k in keys for p in source.strip if k.startswith(p)})
    pre = f', prefixes {prefixes}' if prefixes else ''
    return name, (
        f'{name}: {source.title}; {n} of {len(keys)} keys fit its naming{pre} '
        f'(e.g. {hits[0]!r})'
    )


def _to_tensor(key: str, value: Any) -> torch.Tensor:
    if value is None:
        raise ConversionError(f'{key}: the source holds an empty (shapeless) array here')
    if isinstance(value, np.ndarray):
        if value.dtype.kind != 'f' or value.dtype.itemsize > 8:  # (torch has no float128)
            raise ConversionError(f'{key}: expected floating-point values, got {value.dtype}')
        if value.dtype.byteorder == '>' or not value.flags.writeable:
            value = value.astype(value.dtype.newbyteorder('='), copy=True)
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise ConversionError(f'{key}: expected an array or tensor, got {type(value).__name__}')
    if value.layout != torch.strided:  # (densifying could take any amount of memory)
        raise ConversionError(f'{key}: a {value.layout} tensor; expected a dense one')
    return value.detach().cpu()


def _name_hints(name_hint: Optional[str]) -> Dict[str, Any]:
    """Variant and output stride from an ADE file name, e.g. voc_rna-a1_cls21_s8_ep-0001."""
    hints: Dict[str, Any] = {}
    if not name_hint:
        return hints
    m = re.search(r'rna-(a1|a2|a)(?=[_.\-]|$)', name_hint)
    if m:
        hints['variant'] = m.group(1)
    m = re.search(r'_s(8|16|32)(?=[_.\-]|$)', name_hint)
    if m:
        hints['output_stride'] = int(m.group(1))
    return hints


def _structure(produced: Iterable[str]) -> Tuple[Dict[int, int], Dict[int, int]]:
    """Units per block and convs per unit of each block, from the produced keys."""
    units: Dict[int, int] = {}
    convs: Dict[int, int] = {}
    for k in produced:
        m = _UNIT_KEY.match(k)
        if m:
            b, u = int(m['b']), int(m['u'])
            units[b] = max(units.get(b, 0), u)
            if m['i']:
                convs[b] = max(convs.get(b, 0), int(m['i']))
    return units, convs


def expected_keys(
    units: Mapping[int, int], convs: Mapping[int, int], task: str = 'backbone'
) -> List[str]:
    """Every key of a ``WiderResNet`` (+ head) with these units/convs per block (2..7)."""
    keys = ['stem.weight']
    for b in range(2, 8):
        for u in range(1, units.get(b, 0) + 1):
            for i in range(1, convs.get(b, 0) + 1):
                keys += [f'block{b}.unit{u}.norm{i}.{p}' for p in _BN_KEYS]
                keys.append(f'block{b}.unit{u}.conv{i}.weight')
            if u == 1:
                keys.append(f'block{b}.unit{u}.shortcut.weight')
    keys += [f'norm_out.{p}' for p in _BN_KEYS]
    return keys + list(_HEADS.get(task, ()))


def convert_state_dict(
    state: Mapping[str, Any],
    src: str,
    *,
    name_hint: Optional[str] = None,
    drop: Sequence[str] = (),
    variant: Optional[str] = None,
    output_stride: Optional[int] = None,
    abn_eps: float = 1e-5,
) -> Conversion:
    """Convert a released Wider ResNet state dict to ``WiderResNet`` (+ head) naming.

    Args:
        state: Source key -> numpy array or torch tensor, as stored (``module.``,
            ``arg:``/``aux:`` prefixes included).
        src: 'mxnet', 'psa', 'mapillary' or 'nvidia' (see :func:`detect_format`).
        name_hint: The source file name; ADE names tell the variant and output stride
            (``ilsvrc-cls_rna-a_cls1000``: Model A; ``voc_rna-a1_cls21_s8``: A1, stride 8).
        drop: Regexes of source keys to discard on purpose (e.g. a foreign head).
            Anything else left over is an error.
        variant: Override the variant recorded in ``meta`` ('a', 'a1', 'a2').
        output_stride: Override the output stride recorded in ``meta``.
        abn_eps: InPlace-ABN epsilon, for ``gamma <- |gamma| + eps`` (mapillary).

    Returns:
        Conversion: float tensors in float32; backbone keys get a ``backbone.`` prefix
        when the checkpoint has a classifier (``head.fc.*``, mmpretrain
        ``ImageClassifier`` + ``LinearClsHead``) or a segmentation head
        (``decode_head.*``, ``WiderHead``). ``meta['backbone']`` holds the
        ``WiderResNet`` arguments the weights need.

    Raises:
        ConversionError: unknown ``src``, left-over source keys, missing or unexpected
            target keys, or values that are not arrays.
    """
    if src not in SOURCES:
        raise ConversionError(f'unknown source {src!r}; choose one of {sorted(SOURCES)}')
    source = SOURCES[src]
    rules = _compiled(source)
    drops = [re.compile(d) for d in drop]
    seg = source.seg_marker is not None and any(
        re.fullmatch(source.seg_marker, _strip(k, source.strip)) for k in state
    )

    head = _HEAD_NAME['segmentation' if seg else 'classification']
    out: Dict[str, torch.Tensor] = OrderedDict()
    renamed, dropped, leftover, clashes = [], [], [], []
    head_keys = set()
    for key, value in state.items():
        if any(d.search(key) for d in drops):
            dropped.append(key)
            continue
        hit = _match(source, rules, key)
        if hit is None:
            leftover.append(key)
            continue
        tpl, g = hit
        fields = dict(b=g.get('b'), p=source.params.get(g.get('p')), head=head)
        if 'u' in g:
            fields['u'] = source.unit_index(g['u'])
        if g.get('i'):
            fields['i'] = BRANCH_INDEX[g['i']]
        target = tpl.format(**fields)
        if target in out:
            clashes.append(f'{key} -> {target}')
            continue
        tensor = _to_tensor(key, value)
        if target.endswith('num_batches_tracked'):
            if tensor.numel() != 1:
                raise ConversionError(
                    f'{key}: a BatchNorm counter must be one number, got shape '
                    f'{tuple(tensor.shape)}'
                )
            tensor = tensor.to(torch.int64).reshape(())
        elif tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
            bad = tensor.numel() - int(torch.isfinite(tensor).sum())
            if bad:
                raise ConversionError(
                    f'{key}: {bad} of its {tensor.numel()} values are NaN or infinite; the '
                    'checkpoint is corrupt'
                )
        else:
            raise ConversionError(f'{key}: expected floating-point values, got {tensor.dtype}')
        if source.inplace_abn and _GAMMA.fullmatch(target):
            tensor = tensor.abs() + abn_eps
        if target == 'head.fc.weight' and tensor.dim() == 4 and tensor.shape[2:] == (1, 1):
            tensor = tensor.flatten(1)  # a 1x1 conv on pooled features is a linear layer
        if target.startswith(('head.', 'decode_head.')):
            head_keys.add(target)
        out[target] = tensor
        renamed.append((key, target))

    if clashes:
        raise ConversionError(
            'several source keys map to the same target (e.g. keys with '
            f'and without a prefix): {_listing(clashes)}'
        )
    task = ('segmentation' if seg else 'classification') if head_keys else 'backbone'
    units, convs = _structure(out)
    want = expected_keys(units, convs, task)
    if task == 'classification' and not source.head.get('bias', True):
        want.remove('head.fc.bias')
    added = [k for k in want if k.endswith('num_batches_tracked') and k not in out]
    for k in added:
        out[k] = torch.zeros((), dtype=torch.int64)
    missing = [k for k in want if k not in out]
    want_set = set(want)
    unexpected = [k for k in out if k not in want_set]
    absent = [b for b in range(2, 8) if b not in units]
    # (units with only a shortcut left: how many convs they had cannot be known)
    convless = [b for b in range(2, 8) if b in units and b not in convs]
    missing = (
        [f'block{b}.* (no unit of block B{b} at all)' for b in absent]
        + [f'block{b}.unit*.norm*/conv* (no conv of block B{b} at all)' for b in convless]
        + missing
    )
    problems = []
    if leftover:
        problems.append(
            f'source keys left over (not part of the {src} naming; pass '
            f'--drop REGEX to discard them on purpose) {_listing(leftover)}'
        )
    if missing:
        problems.append(
            f'target keys not produced (truncated or partial checkpoint, or '
            f'the wrong --src?) {_listing(missing)}'
        )
    if unexpected:
        problems.append(f'target keys outside the WiderResNet structure {_listing(unexpected)}')
    if problems:
        raise ConversionError(
            f'cannot convert as {src!r} ({source.title}): ' + '; '.join(problems),
            leftover=leftover,
            missing=missing,
            unexpected=unexpected,
        )

    for key, dims in _DIMS.items():
        if key in out and out[key].dim() != dims:
            raise ConversionError(
                f'{key}: expected a {dims}-D tensor, got shape {tuple(out[key].shape)}; the '
                'checkpoint is corrupt'
            )
    meta = _meta(source, out, units, task, name_hint, variant, output_stride)
    if task != 'backbone':
        out = OrderedDict(
            (k if k.startswith(('head.', 'decode_head.')) else f'backbone.{k}', v)
            for k, v in out.items()
        )
    else:
        out = OrderedDict(out)
    return Conversion(out, meta, renamed, dropped, added)


def _meta(
    source: Source,
    out: Mapping[str, torch.Tensor],
    units: Mapping[int, int],
    task: str,
    name_hint: Optional[str],
    variant: Optional[str],
    output_stride: Optional[int],
) -> Dict[str, Any]:
    backbone: Dict[str, Any] = dict(type='WiderResNet')
    unit_counts = tuple(units[b] for b in range(2, 8))
    depth = DEPTH_UNITS.get(unit_counts)
    if depth is not None:
        backbone['depth'] = depth
    else:
        backbone['arch'] = dict(units=list(unit_counts))
    args = dict(source.backbone)
    hints: Dict[str, Any] = {}
    if source.name == 'mxnet':
        args['output_stride'] = 8 if task == 'segmentation' else 32
        hints = _name_hints(name_hint)
        args.update(hints)
    guessed: Dict[str, str] = {}
    if variant is not None:
        args['variant'] = variant
    elif 'variant' in hints:
        guessed['variant'] = (
            f'guessed variant {hints["variant"]!r} from the file name {name_hint!r} '
            f'({source.variant_guess}); pass --variant if the file was renamed'
        )
    elif source.variant_guess:
        guessed['variant'] = (
            f'guessed variant {args["variant"]!r} ({source.variant_guess}'
            + (f'; the file name {name_hint!r} does not say' if source.name == 'mxnet' else '')
            + '); pass --variant if wrong'
        )
    if output_stride is not None:
        args['output_stride'] = output_stride
    stem = out['stem.weight']
    if stem.shape[0] != 64:
        args['widen_factor'] = stem.shape[0] / 64
    if stem.shape[1] != 3:
        args['in_channels'] = int(stem.shape[1])
    order = (
        'variant',
        'output_stride',
        'contract_dilation',
        'pool_padding',
        'widen_factor',
        'in_channels',
        'norm_cfg',
        'act_cfg',
    )
    backbone.update((k, args[k]) for k in order if k in args)
    meta: Dict[str, Any] = dict(
        converted_by='wider_mm.converters (tools/model_converters/wrn2mm.py)',
        source=dict(format=source.name, title=source.title, file=name_hint),
        task=task,
        backbone=backbone,
        prefix='backbone.' if task != 'backbone' else '',
        notes=list(source.notes),
    )
    if guessed:  # argument -> how it was guessed and how to override it
        meta['guessed'] = guessed
    if task == 'classification':
        w = out['head.fc.weight']
        meta['head'] = dict(source.head, in_channels=int(w.shape[1]), num_classes=int(w.shape[0]))
        meta['num_classes'] = int(w.shape[0])
    elif task == 'segmentation':
        conv, cls = out['decode_head.conv.conv.weight'], out['decode_head.conv_seg.weight']
        meta['decode_head'] = dict(
            type='WiderHead',
            in_channels=int(conv.shape[1]),
            channels=int(conv.shape[0]),
            num_classes=int(cls.shape[0]),
            dilation=12,
            norm_cfg=None,
        )
        meta['num_classes'] = int(cls.shape[0])
    return meta


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return 'dict(' + ', '.join(f'{k}={_fmt(v)}' for k, v in value.items()) + ')'
    if isinstance(value, (list, tuple)):
        return '(' + ', '.join(_fmt(v) for v in value) + (',)' if len(value) == 1 else ')')
    return repr(value)


def _model(**fields: Any) -> str:
    body = ',\n'.join(f'    {k}={_fmt(v)}' for k, v in fields.items())
    return f'model = dict(\n{body})'


def config_snippet(meta: Mapping[str, Any], checkpoint: str) -> str:
    """A config fragment that builds the model these weights need and loads them."""
    backbone = dict(meta['backbone'])
    if meta['task'] == 'backbone':
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
        return _model(backbone=backbone)
    if meta['task'] == 'classification':
        return '\n'.join(
            [
                '# mmpretrain ImageClassifier (as a pretrained backbone elsewhere: init_cfg='
                f"dict(type='Pretrained', checkpoint={checkpoint!r}, prefix='backbone.'))",
                _model(
                    type='ImageClassifier',
                    backbone=backbone,
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(meta['head']),
                ),
                f'load_from = {checkpoint!r}',
            ]
        )
    return '\n'.join(
        [
            '# mmseg segmentor (evaluate: tools/test.py CONFIG CHECKPOINT)',
            _model(backbone=backbone, decode_head=dict(meta['decode_head'])),
            f'load_from = {checkpoint!r}',
        ]
    )


__all__ = [
    'ConversionError',
    'Conversion',
    'detect_format',
    'convert_state_dict',
    'expected_keys',
    'config_snippet',
]
