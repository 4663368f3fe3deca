"""Convert released Wider ResNet weights to a wider_mm (mmengine) checkpoint.

Reads the authors' MXNet ``.params`` (no MXNet needed) and the PSA, MAP (InPlace-ABN) and
NVIDIA PyTorch ports; writes ``{'meta', 'state_dict'}`` that ``WiderResNet`` (and, for
classification / segmentation checkpoints, the mmpretrain / mmseg model) loads strictly,
then prints the backbone arguments the weights need as a config snippet.

Examples::

    python tools/model_converters/wrn2mm.py ilsvrc-cls_rna-a1_cls1000_ep-0001.params \
        checkpoints/wrn38a1_in1k.pth
    python tools/model_converters/wrn2mm.py wider_resnet38.pth.tar wrn38a2_nv.pth --src nvidia
    python tools/model_converters/wrn2mm.py res38_cls.pth psa.pth --src psa --drop '^fc8\\.'
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from wider_mm.converters import SOURCES, ConversionError, config_snippet, convert_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        prog='wrn2mm.py',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('src_path', metavar='SRC', help='released checkpoint (.params or PyTorch)')
    p.add_argument('dst_path', metavar='DST', help='converted checkpoint to write (.pth)')
    p.add_argument(
        '--src',
        default='auto',
        choices=['auto', *SOURCES],
        help='checkpoint family (default: detect it from the file and say so)',
    )
    p.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    p.add_argument(
        '--drop',
        action='append',
        default=[],
        metavar='REGEX',
        help='discard source keys matching REGEX (e.g. a foreign head); other '
        'left-over keys are an error. Repeatable',
    )
    p.add_argument(
        '--variant',
        choices=['a', 'a1', 'a2'],
        help='record this variant in meta (it does not show in the weights)',
    )
    p.add_argument(
        '--output-stride', type=int, choices=[8, 16, 32], help='record this output stride in meta'
    )
    p.add_argument(
        '--allow-pickle',
        action='store_true',
        help='load PyTorch files with weights_only=False (trusted files only)',
    )
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; return the exit status (0 ok, 1 conversion failed)."""
    args = parse_args(argv)
    try:
        conv = convert_file(
            args.src_path,
            args.dst_path,
            args.src,
            force=args.force,
            drop=args.drop,
            variant=args.variant,
            output_stride=args.output_stride,
            allow_pickle=args.allow_pickle,
            log=print,
        )
    except (ConversionError, FileNotFoundError) as e:
        print(f'wrn2mm: error: {e}', file=sys.stderr)
        return 1
    meta = conv.meta
    extra = ''
    if conv.added:
        extra += f', {len(conv.added)} num_batches_tracked added as zeros'
    if conv.dropped:
        extra += f', {len(conv.dropped)} dropped on request ({conv.dropped[:3]}...)'
    print(
        f"converted {len(conv.renamed)} keys as {meta['source']['format']}{extra}; task: "
        f"{meta['task']}" + (f" ({meta['num_classes']} classes)" if 'num_classes' in meta else '')
    )
    for note in meta['notes']:
        print(f'note: {note}')
    print(f'wrote {args.dst_path} ({len(conv.state_dict)} tensors)')
    print('# config snippet (the arguments these weights need):')
    print(config_snippet(meta, args.dst_path))
    return 0


if __name__ == '__main__':
    sys.exit(main())
