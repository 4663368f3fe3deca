"""The registry of released Wider ResNet checkpoints (the files wrn2mm.py converts).

One entry per file that the authors of "Wider or Deeper" (Wu, Shen, van den Hengel,
arXiv:1611.10080) and the ports (PSA, 1-stage-wseg, MAP, NVIDIA) released, read from
``released.yml`` beside this module: its published name and MD5, which converter format
(``--src``) and which ``WiderResNet`` arguments it needs, its label space and the model of
``model-index.yml`` it becomes. :func:`identify` recognises a file by its MD5 and, failing
that, by its name (a guess, and said so); a known name with another MD5 is flagged (a
corrupt download or a different file).

Example:
    >>> from wider_mm.zoo import RELEASED
    >>> RELEASED.by_name('voc_rna-a1_cls21_s8_ep-0001.params').zoo_model
    'widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504'
"""

from __future__ import annotations

import hashlib
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml

REGISTRY_FILE = osp.join(osp.dirname(__file__), 'released.yml')
FORMATS = ('mxnet', 'psa', 'mapillary', 'nvidia')
TASKS = ('classification', 'segmentation', 'backbone')


@dataclass(frozen=True)
class ReleasedFile:
    """One released checkpoint.

    Attributes:
        name: File name as released.
        md5: Published MD5 (lower-case hex), or None where none was published.
        origin: Who released it and what it is.
        format: Converter source family (``wrn2mm.py --src``).
        task: 'classification', 'segmentation' or 'backbone' (no head kept).
        dataset: Label space key ('imagenet', 'voc', 'cityscapes', 'ade20k') or None.
        backbone: ``WiderResNet`` arguments the weights need beyond what their keys show.
        drop: Regexes of source keys to discard (heads without a model here).
        zoo_model: Name of the model-index.yml model it becomes, or None.
        code: The releasing project's repository.
        links: Download links as published (dicts with ``url``, ``published_in`` and,
            where a check is known, ``last_seen``).
        md5_published_in: Where the MD5 was published.
        note: Anything else worth printing.
    """

    name: str
    md5: Optional[str]
    origin: str
    format: str
    task: str
    dataset: Optional[str] = None
    backbone: Mapping[str, Any] = field(default_factory=dict)
    drop: Tuple[str, ...] = ()
    zoo_model: Optional[str] = None
    code: Optional[str] = None
    links: Tuple[Mapping[str, Any], ...] = ()
    md5_published_in: Optional[str] = None
    note: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReleasedFile:
        """Build and validate an entry (a bad one raises ``ValueError`` naming the field)."""
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(d) - known)
        name = d.get('name')
        if extra:
            raise ValueError(
                f'released file {name!r}: unknown fields {extra}; allowed: ' f'{sorted(known)}'
            )
        if not name or not isinstance(name, str):
            raise ValueError(f'released file entry without a name: {dict(d)}')
        if d.get('format') not in FORMATS:
            raise ValueError(f'{name}: format {d.get("format")!r} is not one of {FORMATS}')
        if d.get('task') not in TASKS:
            raise ValueError(f'{name}: task {d.get("task")!r} is not one of {TASKS}')
        md5 = d.get('md5')
        if md5 is not None:
            md5 = str(md5).lower()
            if len(md5) != 32 or any(c not in '0123456789abcdef' for c in md5):
                raise ValueError(f'{name}: md5 {d.get("md5")!r} is not 32 hex digits')
        links = tuple(dict(x) for x in d.get('links') or ())
        for link in links:
            if 'url' not in link:
                raise ValueError(f'{name}: a link without url: {link}')
        return cls(
            name=name,
            md5=md5,
            origin=str(d.get('origin', '')),
            format=d['format'],
            task=d['task'],
            dataset=d.get('dataset'),
            backbone=dict(d.get('backbone') or {}),
            drop=tuple(d.get('drop') or ()),
            zoo_model=d.get('zoo_model'),
            code=d.get('code'),
            links=links,
            md5_published_in=d.get('md5_published_in'),
            note=d.get('note'),
        )


@dataclass(frozen=True)
class Identification:
    """What :func:`ReleasedRegistry.identify` found.

    Attributes:
        entry: The registry entry, or None when the file is unknown.
        by: 'md5' (certain), 'name' (a guess: no MD5 was published for it) or None.
        md5: The file's MD5.
        hash_mismatch: The name is known but the file's MD5 differs from the published one.
    """

    entry: Optional[ReleasedFile]
    by: Optional[str]
    md5: str
    hash_mismatch: bool = False

    def describe(self) -> str:
        """One line for the converter's log."""
        if self.entry is None:
            return f'not a registered release (md5 {self.md5}): converting by its keys alone'
        e = self.entry
        if self.by == 'md5':
            return f'recognised by its MD5 as {e.name}: {e.origin}'
        if self.hash_mismatch:
            return (
                f'WARNING: the name {e.name} is a known release ({e.origin}) but its MD5 '
                f'{self.md5} is not the published {e.md5}: a corrupt or incomplete download, '
                'or a different file. Converting it as that release (a guess); check the file'
            )
        return (
            f'guessed from its name as {e.name}: {e.origin} (no MD5 was published for it, '
            'so the name is all there is to go by)'
        )


def md5sum(path: str, chunk: int = 1 << 20) -> str:
    """MD5 of a file, read in chunks (released files are hundreds of MB)."""
    h = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


class ReleasedRegistry:
    """Released files by name and by MD5; more can be registered (e.g. a mirror's copy)."""

    def __init__(self, entries: Optional[List[ReleasedFile]] = None) -> None:
        self._by_name: Dict[str, ReleasedFile] = {}
        self._by_md5: Dict[str, ReleasedFile] = {}
        for e in entries or ():
            self.register(e)

    @classmethod
    def from_yaml(cls, path: str = REGISTRY_FILE) -> ReleasedRegistry:
        """Load a registry file (a YAML list of entries, see ``released.yml``)."""
        with open(path) as f:
            data = yaml.safe_load(f) or []
        if not isinstance(data, list):
            raise ValueError(f'{path}: expected a list of released files, got {type(data)}')
        return cls([ReleasedFile.from_dict(d) for d in data])

    def register(self, entry: ReleasedFile | Mapping[str, Any], force: bool = False) -> None:
        """Add an entry; a name or MD5 already registered raises unless ``force``."""
        if not isinstance(entry, ReleasedFile):
            entry = ReleasedFile.from_dict(entry)
        if not force:
            if entry.name in self._by_name:
                raise ValueError(f'{entry.name} is already registered (force=True replaces it)')
            if entry.md5 and entry.md5 in self._by_md5:
                raise ValueError(
                    f'md5 {entry.md5} is already registered as {self._by_md5[entry.md5].name}'
                )
        self._by_name[entry.name] = entry
        if entry.md5:
            self._by_md5[entry.md5] = entry

    def remove(self, name: str) -> None:
        """Remove an entry by name (tests undo their registrations with it)."""
        entry = self._by_name.pop(name)
        if entry.md5:
            self._by_md5.pop(entry.md5, None)

    def __iter__(self) -> Iterator[ReleasedFile]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    def by_name(self, name: str) -> Optional[ReleasedFile]:
        """The entry released under this file name (the base name of a path), or None."""
        return self._by_name.get(osp.basename(name))

    def by_md5(self, md5: str) -> Optional[ReleasedFile]:
        """The entry whose published MD5 this is, or None."""
        return self._by_md5.get(md5.lower())

    def identify(self, path: str, md5: Optional[str] = None) -> Identification:
        """Recognise a file: by MD5 first, then by name (flagging a known name, other MD5).

        Args:
            path: The file.
            md5: Its MD5, if already computed.
        """
        md5 = md5 or md5sum(path)
        hit = self.by_md5(md5)
        if hit is not None:
            return Identification(hit, 'md5', md5)
        named = self.by_name(path)
        if named is None:
            return Identification(None, None, md5)
        return Identification(named, 'name', md5, hash_mismatch=named.md5 is not None)


#: The registry of ``released.yml``.
RELEASED = ReleasedRegistry.from_yaml()

__all__ = [
    'ReleasedFile',
    'ReleasedRegistry',
    'Identification',
    'RELEASED',
    'REGISTRY_FILE',
    'md5sum',
]
