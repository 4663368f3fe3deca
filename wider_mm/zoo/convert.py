"""Convert a released file the registry knows into a ready-to-use checkpoint.

:func:`convert_release` is :func:`wider_mm.converters.convert_file` with the registry of
:mod:`.released` in front: it recognises the file (MD5, else name), takes the converter
format, variant, output stride and keys to drop from its entry unless given, and adds to the
converted checkpoint's ``meta`` the zoo model, its config and ``dataset_meta``
(:func:`.meta.ready_meta`). An unregistered file converts exactly as with ``convert_file``.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

from ..converters import Conversion, convert_file
from ..converters.files import check_destination, save_checkpoint
from .meta import ready_meta
from .released import RELEASED, Identification, ReleasedRegistry


def convert_release(
    src_path: str,
    dst_path: Optional[str] = None,
    src: str = 'auto',
    *,
    force: bool = False,
    drop: Sequence[str] = (),
    variant: Optional[str] = None,
    output_stride: Optional[int] = None,
    allow_pickle: bool = False,
    log: Callable[[str], None] = lambda s: None,
    warn: Callable[[str], None] = lambda s: None,
    registry: ReleasedRegistry = RELEASED,
) -> Tuple[Conversion, Identification]:
    """Identify, convert and (if ``dst_path``) save a released checkpoint.

    Args:
        src_path, dst_path, src, force, drop, variant, output_stride, allow_pickle, log,
            warn: As :func:`wider_mm.converters.convert_file`; ``src='auto'``, no
            ``variant`` / ``output_stride`` take the registry's values for a known file.
        registry: The released files to recognise.

    Returns:
        tuple: (the conversion, what the registry said about the file).
    """
    if dst_path is not None:
        check_destination(dst_path, force)
    ident = registry.identify(src_path)
    (warn if ident.hash_mismatch else log)(ident.describe())
    entry = ident.entry
    drops: List[str] = list(drop)
    if entry is not None:
        picked = []
        if src == 'auto':
            src = entry.format
            picked.append(f'--src {src}')
        if variant is None and 'variant' in entry.backbone:
            variant = entry.backbone['variant']
            picked.append(f'--variant {variant}')
        if output_stride is None and 'output_stride' in entry.backbone:
            output_stride = entry.backbone['output_stride']
            picked.append(f'--output-stride {output_stride}')
        for d in entry.drop:
            if d not in drops:
                drops.append(d)
                picked.append(f"--drop '{d}'")
        if picked:
            log(f'arguments from the registry entry of {entry.name}: {" ".join(picked)}')
        if entry.note:  # e.g. what is and is not converted, and what to do with the rest
            log(f'{entry.name}: {entry.note}')
    conv = convert_file(
        src_path,
        None,
        src,
        force=force,
        drop=drops,
        variant=variant,
        output_stride=output_stride,
        allow_pickle=allow_pickle,
        log=log,
        warn=warn,
    )
    conv.meta.update(ready_meta(ident))
    if conv.meta.get('zoo_model'):
        log(f"zoo model {conv.meta['zoo_model']}, config {conv.meta['config']}")
    if dst_path is not None:
        save_checkpoint(conv, dst_path, force=force)
    return conv, ident


__all__ = ['convert_release']
