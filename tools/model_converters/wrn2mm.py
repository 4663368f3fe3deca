"""Convert released Wider ResNet weights to a wider_mm (mmengine) checkpoint.

Reads the authors' MXNet ``.params`` (no MXNet needed) and the PSA, MAP (InPlace-ABN) and
NVIDIA PyTorch ports; writes ``{'meta', 'state_dict'}`` that ``WiderResNet`` (and, for
classification / segmentation checkpoints, the mmpretrain / mmseg model) loads strictly,
then prints the backbone arguments the weights need as a config snippet.

Examples::

    python tools/model_converters/wrn2mm.py ilsvrc-cls_rna-a1_cls1000_ep-0001.params \
        checkpoints/wrn38a1_in1k.pth
    python tools/model_converters/wrn2mm.py wider_resnet38.pth.tar wrn38a2_nv.pth --src nvidia
    python tools/model_converters/wrn2mm.py res38_cls.pth psa_cls.pth --src psa  # fc8 -> head.fc
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import List, NoReturn, Optional

from wider_mm.converters import (
    SOURCES,
    ConversionError,
    check_destination,
    config_snippet,
    sniff,
)
from wider_mm.zoo.convert import convert_release

#: Exit status of every refused input (argparse's own usage errors give 2 as well).
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f'wrn2mm: error: {message} (see --help)\n')


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f'invalid regular expression {text!r}: {e}') from e
    return text


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = _Parser(
        prog='wrn2mm.py',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('src_path', metavar='SRC', help='released checkpoint (.params or PyTorch)')
    p.add_argument(
        'dst_path',
        metavar='DST',
        help='converted checkpoint to write (.pth); a missing folder is created; written '
        'atomically (a failure leaves no partial file)',
    )
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
        type=_regex,
        metavar='REGEX',
        help='discard source keys matching REGEX (e.g. a foreign head); other '
        'left-over keys are an error. Repeatable',
    )
    p.add_argument(
        '--variant',
        choices=['a', 'a1', 'a2'],
        help='record this variant in meta (it does not show in the weights: without it, '
        'the variant is guessed from the file name or the family, and the guess is said)',
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


def _error(message: str) -> int:
    line = '; '.join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f'wrn2mm: error: {line}', file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; return the exit status (0 ok, 2 refused input, nothing written)."""
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    try:
        sniff(args.src_path)  # SRC and DST problems first, each in one line
        check_destination(args.dst_path, args.force, args.src_path)
        # the registry of released files (wider_mm/zoo/released.yml) recognises the file
        # by MD5 or name and picks --src / --variant / --output-stride / --drop for it
        conv, _ = convert_release(
            args.src_path,
            args.dst_path,
            args.src,
            force=args.force,
            drop=args.drop,
            variant=args.variant,
            output_stride=args.output_stride,
            allow_pickle=args.allow_pickle,
            log=print,
            warn=lambda guess: print(f'wrn2mm: warning: {guess}', file=sys.stderr),
        )
    except (ConversionError, OSError) as e:
        return _error(str(e))
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
