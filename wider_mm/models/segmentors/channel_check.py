"""Check a segmentor's heads against what its backbone publishes (channels per output).

mmseg builds the backbone and the heads independently, so a wrong ``in_channels`` only
shows up at the first forward, as a shape error deep inside a conv. Backbones that publish
``out_channels`` (``WiderResNet`` does, per ``out_indices``) let us fail at build time with
the numbers to use instead.
"""

from __future__ import annotations

from typing import List, Sequence

import torch.nn as nn
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def channel_errors(backbone: nn.Module, heads: Sequence[nn.Module]) -> List[str]:
    """Return one message per ``(name, head)`` whose ``in_channels`` misfits ``backbone``."""
    emitted = getattr(backbone, 'out_channels', None)
    if emitted is None:
        return []
    indices = getattr(backbone, 'out_indices', tuple(range(len(emitted))))
    errors = []
    for name, head in heads:
        in_index, in_channels = _as_list(head.in_index), _as_list(head.in_channels)
        want = []
        for idx in in_index:
            if not -len(emitted) <= idx < len(emitted):
                errors.append(
                    f'{name} ({type(head).__name__}) in_index={head.in_index} is out of '
                    f'range: the backbone emits {len(emitted)} outputs '
                    f'(out_indices={tuple(indices)}). Use in_index within '
                    f'0..{len(emitted) - 1} or add blocks to out_indices.'
                )
                break
            want.append(emitted[idx])
        else:
            if want != in_channels:
                fix = want[0] if not isinstance(head.in_channels, (list, tuple)) else want
                errors.append(
                    f'{name} ({type(head).__name__}) has in_channels={head.in_channels} '
                    f'but {type(backbone).__name__} emits {tuple(emitted)} channels at '
                    f'out_indices={tuple(indices)}, so in_index={head.in_index} receives '
                    f'{fix}. Set {name}.in_channels={fix} (scaled widths: see the '
                    "backbone's out_channels/feature_info)."
                )
    return errors


@MODELS.register_module()
class WiderEncoderDecoder(EncoderDecoder):
    """mmseg's ``EncoderDecoder`` that checks head channels against the backbone at build.

    A drop-in replacement (same arguments); the only difference is the check, which
    raises ``ValueError`` naming the numbers to use. Skipped when a neck sits between
    (the neck owns the channel change).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.with_neck:
            return
        heads = [('decode_head', self.decode_head)]
        if self.with_auxiliary_head:
            aux = self.auxiliary_head
            if isinstance(aux, nn.ModuleList):
                heads += [(f'auxiliary_head[{i}]', h) for i, h in enumerate(aux)]
            else:
                heads.append(('auxiliary_head', aux))
        errors = channel_errors(self.backbone, heads)
        if errors:
            raise ValueError(
                'channel mismatch between backbone and heads:\n  ' + '\n  '.join(errors)
            )
