"""Checkpoints that survive a kill, a resume that never starts over, loads that do not guess.

What this adds to mmengine 0.10.7, and why:

* **Atomic writes** (:class:`AtomicLocalBackend`, a file backend registered with mmengine's
  ``register_backend``): a checkpoint is written to ``NAME.tmp`` in the same folder,
  flushed, fsynced and renamed over ``NAME`` (``os.replace``); mmengine's ``LocalBackend``
  writes in place, so a kill mid-write leaves a truncated ``iter_N.pth``.
* **Safe order** (:class:`SafeCheckpointHook`, mmengine's ``CheckpointHook`` with the same
  arguments): new checkpoint complete -> ``last_checkpoint`` (atomically) -> older
  checkpoints over ``max_keep_ckpts`` removed. mmengine removes the oldest one *before*
  writing the new one, so a kill in between can leave nothing loadable. The previous best
  checkpoint (``save_best``) is likewise removed only after the new best is written.
* **Bit-exact resume**: the hook saves the random-number states of every process (python,
  numpy, torch CPU and CUDA) in ``checkpoint['meta']['rng_states']`` and restores them when
  a run resumes, right after mmengine has replayed the data loader over the batches
  trained before the checkpoint (``IterBasedTrainLoop`` skips them by drawing them again,
  which with ``num_workers=0`` runs the random transforms in the main process). Validation
  during training gets its own copy of the random state, so the training draws do not
  depend on when validation runs (a checkpoint saved before validation then holds the
  state the next training iteration starts from).
* **Resume that never overwrites** (:func:`find_resume_checkpoint`): the newest *loadable*
  ``iter_*.pth`` / ``epoch_*.pth`` of the work dir (``last_checkpoint`` is a hint, not the
  only source); a truncated or corrupt one is skipped with a message naming it; if there
  are checkpoints but none loads, it refuses instead of training from scratch over them.
* **Strict loading** (:class:`WiderRunner`, mmengine's ``Runner``): ``load_from``, resume
  and ``tools/test.py``'s checkpoint must fit the model exactly (mmengine loads with
  ``strict=False`` and only logs the mismatch); ``load_from_strict=False`` in the config
  loads the tensors that fit and logs a summary of what was and was not loaded. Converted
  checkpoints also have their recorded backbone arguments checked
  (:func:`wider_mm.converters.recorded.check_recorded_args`; config key
  ``load_from_ignore_recorded`` lists arguments to leave unchecked).

``tools/train.py`` and ``tools/test.py`` use all of this (:func:`use_safe_checkpoints`,
:func:`build_runner <wider_mm.engine.launch.build_runner>`); with mmseg's or mmpretrain's
own tools, set ``runner_type='WiderRunner'`` (or only
``default_hooks.checkpoint.type='SafeCheckpointHook'``) in a config that imports wider_mm.
"""

from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import random
import re
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import all_gather_object, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.registry import HOOKS, RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict

from wider_mm.converters.recorded import RecordedArgsError, check_recorded_args
from wider_mm.fileio import atomic_write

from .config_checks import ConfigError

#: Name of :class:`AtomicLocalBackend` in mmengine's file backends (``backend_args``).
ATOMIC_BACKEND = 'wider_mm_atomic_local'
#: Suffix of the temporary file a checkpoint is written to before its rename.
TMP_SUFFIX = '.tmp'
#: Checkpoint names written by ``CheckpointHook`` (default ``filename_tmpl``).
CHECKPOINT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')
_LISTED = 5  # keys listed per kind in a message


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used as asked; the message names the file and the fix.

    A :class:`~wider_mm.engine.config_checks.ConfigError`, so the tools print it as one line
    (exit code 2) instead of a traceback.
    """


# ----------------------------------------------------------------------------- atomic writes
def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, whole.

    ``path + '.tmp'`` (same folder, so the rename cannot cross file systems) is written,
    flushed and fsynced, then renamed over ``path`` and the folder fsynced.

    Raises:
        CheckpointError: the write failed (disk full, permissions); ``path`` is unchanged.
    """
    path = osp.abspath(path)
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with atomic_write(path, path + TMP_SUFFIX) as f:
            f.write(data)
    except OSError as e:
        raise CheckpointError(
            f'could not write {path}: {e.strerror or e}; the files written before are '
            'intact (free space or fix the permissions, then continue with --resume)'
        ) from e


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put``/``put_text`` write atomically
    (:func:`write_atomic`) and whose removals can be held back (:meth:`deferred_removal`)."""

    def __init__(self) -> None:
        super().__init__()
        self._held: Optional[List[Tuple[str, str]]] = None
        self._written: set = set()

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write bytes atomically."""
        write_atomic(str(filepath), obj)
        if self._held is not None:  # a held removal of this name must not delete it
            self._written.add(osp.abspath(str(filepath)))

    def put_text(
        self, obj: str, filepath: Union[str, os.PathLike], encoding: str = 'utf-8'
    ) -> None:
        """Write text atomically."""
        write_atomic(str(filepath), obj.encode(encoding))

    def remove(self, filepath: Union[str, os.PathLike]) -> None:
        """Remove a file (later, inside :meth:`deferred_removal`)."""
        if self._held is not None:
            self._held.append(('file', str(filepath)))
        else:
            super().remove(filepath)

    def rmtree(self, dir_path: Union[str, os.PathLike]) -> None:
        """Remove a folder (later, inside :meth:`deferred_removal`)."""
        if self._held is not None:
            self._held.append(('dir', str(dir_path)))
        else:
            super().rmtree(dir_path)

    @contextmanager
    def deferred_removal(self) -> Iterator[None]:
        """Hold the removals asked for inside; carry them out only if the block completes."""
        if self._held is not None:  # nested: the outer block decides
            yield
            return
        self._held, self._written = [], set()
        try:
            yield
            held, written = self._held, self._written
        finally:
            self._held, self._written = None, set()
        for kind, path in held:
            if osp.abspath(path) in written:
                continue
            if kind == 'file' and osp.isfile(path):
                super().remove(path)
            elif kind == 'dir' and osp.isdir(path):
                super().rmtree(path)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


# ----------------------------------------------------------------------------- reading
def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0].split('. ')[0] if text else ''  # torch's first sentence says it
    first = first if len(first) <= 120 else first[:117] + '...'
    return f'{type(e).__name__}: {first}' if first else type(e).__name__


def read_checkpoint(path: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file (or URL) with mmengine's loaders.

    Raises:
        CheckpointError: a local file that does not exist or cannot be unpickled (truncated
            or corrupt), in one line naming it.
    """
    if '://' not in path and not osp.isfile(path):
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        return _load_checkpoint(path, map_location=map_location)
    except Exception as e:  # torch.load fails in many ways on a damaged file (zip, pickle)
        if '://' in path:
            raise
        raise CheckpointError(
            f'{path} is not a readable checkpoint (truncated or corrupt: {_reason(e)})'
        ) from None


def _resumable(ckpt: Any, path: str) -> Mapping[str, Any]:
    """The ``meta`` of a checkpoint a run can resume from (raises if it has none)."""
    meta = ckpt.get('meta') if isinstance(ckpt, Mapping) else None
    if not isinstance(meta, Mapping) or 'iter' not in meta or 'state_dict' not in ckpt:
        raise CheckpointError(
            f'{path} is a model file, not a training checkpoint (no meta.iter / state_dict): '
            'it cannot be resumed; use it as load_from to start a new run from its weights'
        )
    return meta


def _step(path: str) -> Tuple[int, float]:
    m = CHECKPOINT_NAME.match(osp.basename(path))
    return (int(m.group(2)) if m else -1, osp.getmtime(path))


def find_resume_checkpoint(
    work_dir: str,
) -> Tuple[Optional[str], Optional[Mapping[str, Any]], List[str]]:
    """The checkpoint a ``--resume`` without a file continues from.

    The newest (highest iteration / epoch) ``iter_*.pth`` / ``epoch_*.pth`` in ``work_dir``
    that loads, plus the file ``last_checkpoint`` names if it has another name or folder
    (tried first). A checkpoint that does not load is skipped with a note naming it.

    Returns:
        ``(path, meta, notes)``; ``(None, None, notes)`` if the work dir holds no checkpoint.

    Raises:
        CheckpointError: there are checkpoints, but none can be loaded (names them).
    """
    notes: List[str] = []
    named = None
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip() or None
        if named is None:
            notes.append(f'{pointer} is empty; looking for checkpoints in {work_dir}')
    found = [
        p
        for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
        if CHECKPOINT_NAME.match(osp.basename(p)) and osp.isfile(p)
    ]
    candidates = sorted(found, key=_step, reverse=True)
    same = {osp.abspath(p) for p in candidates}
    if named and osp.abspath(named) not in same:
        if osp.isfile(named):
            candidates.insert(0, named)
        else:
            notes.append(f'last_checkpoint names {named}, which does not exist')
    bad: List[str] = []
    for path in candidates:
        try:
            meta = _resumable(read_checkpoint(path), path)
        except CheckpointError as e:
            notes.append(f'--resume: {e}; skipped')
            bad.append(path)
            continue
        if named and osp.abspath(named) == osp.abspath(path):
            why = 'last_checkpoint'
        elif named:
            why = f'newest loadable checkpoint; last_checkpoint names {named}'
        else:
            why = 'newest loadable checkpoint; the work dir has no last_checkpoint'
        notes.append(f'--resume: resuming from {path} ({why})')
        return path, meta, notes
    if bad:
        raise CheckpointError(
            f'--resume: no checkpoint in {work_dir} can be loaded '
            f'({", ".join(osp.basename(p) for p in bad)}: truncated or corrupt); refusing to '
            'train from scratch over them. Pass a good one with --resume FILE, or move them '
            'away to start afresh'
        )
    return None, None, notes


def resolve_resume(cfg: Config, resume: Optional[str]) -> List[str]:
    """``tools/train.py --resume [FILE]``: point ``cfg`` at the checkpoint; return log notes.

    ``resume='auto'`` (the flag without a file) uses :func:`find_resume_checkpoint`; no
    checkpoint at all starts from the beginning (with a note). The config's
    ``randomness.seed`` becomes the checkpoint's, before the Runner builds the data loaders
    (mmengine re-seeds only after building them, so their samplers and workers would keep
    the new run's seed).

    Raises:
        CheckpointError: the file does not exist or does not load, or no checkpoint of the
            work dir loads.
    """
    if resume is None:
        return []
    if resume == 'auto':
        if not osp.isdir(cfg.work_dir):
            path, meta, notes = None, None, []
        else:
            path, meta, notes = find_resume_checkpoint(cfg.work_dir)
        if path is None:
            notes.append(
                f'--resume: no checkpoint in {cfg.work_dir} yet; training starts from the '
                'beginning'
            )
            return notes
    else:
        if '://' not in resume and not osp.isfile(resume):
            raise CheckpointError(f'--resume {resume}: no such checkpoint file')
        path, notes = resume, []
        meta = _resumable(read_checkpoint(resume), resume)
    cfg.resume, cfg.load_from = True, path
    seed = meta.get('seed')
    if seed is not None:
        randomness = dict(cfg.get('randomness') or {})
        if randomness.get('seed') not in (None, seed):
            notes.append(
                f'--resume: the checkpoint was trained with seed {seed}, the config says '
                f'{randomness["seed"]}; continuing with {seed}'
            )
        cfg.randomness = dict(randomness, seed=seed)
    return notes


# ----------------------------------------------------------------------------- random state
def rng_state() -> Dict[str, Any]:
    """This process's random-number states: python, numpy, torch CPU (and CUDA)."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (tensors may come back on another device)."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())


class _RestoreAfterSkip:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` while the loop replays the
    batches trained before the checkpoint; before the first new batch it restores the
    random state and puts the loop's iterator back."""

    def __init__(self, loop: Any, iterator: Any, skip: int, state: Mapping[str, Any]) -> None:
        self._loop, self._iterator, self._left, self._state = loop, iterator, skip, state

    def __iter__(self) -> _RestoreAfterSkip:
        return self

    def __next__(self) -> Any:
        if self._left > 0:
            self._left -= 1
            return next(self._iterator)
        set_rng_state(self._state)
        self._loop.dataloader_iterator = self._iterator
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._iterator, name)


# ----------------------------------------------------------------------------- the hook
def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) that a kill cannot corrupt and that
    makes a resumed run draw the same random numbers as an uninterrupted one.

    * Every checkpoint is written atomically (:class:`AtomicLocalBackend`, for a local
      ``out_dir`` and no ``backend_args`` of the user's); ``last_checkpoint`` is replaced
      atomically after the checkpoint is complete; checkpoints beyond ``max_keep_ckpts``
      and the previous best are removed only after that.
    * ``checkpoint['meta']['rng_states']``: one :func:`rng_state` per process; restored on
      resume when the number of processes is the same (else a warning says the run is
      not bit-exact). Validation runs on a copy of the random state.

    Example (a config that imports wider_mm)::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                                             interval=2000, max_keep_ckpts=2))
    """

    _val_rng: Optional[Dict[str, Any]] = None
    _loaded_meta: Optional[Mapping[str, Any]] = None

    def before_train(self, runner) -> None:
        """Use the atomic backend, clear temp files of killed writes, restore on resume."""
        if (
            self.backend_args is None
            and self.file_client_args is None
            and _is_local(self.out_dir or runner.work_dir)
        ):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if is_main_process() and _is_local(self.out_dir):
            for tmp in glob.glob(osp.join(glob.escape(str(self.out_dir)), '*.pth' + TMP_SUFFIX)):
                os.remove(tmp)
                runner.logger.info(f'wider_mm: removed {tmp}, left by an interrupted write')
        self._restore_rng(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the loaded checkpoint's ``meta`` for :meth:`before_train`."""
        meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
        self._loaded_meta = meta if isinstance(meta, Mapping) else None

    def _restore_rng(self, runner) -> None:
        meta, self._loaded_meta = self._loaded_meta, None
        resumed = (
            meta is not None
            and (meta.get('iter'), meta.get('epoch')) == (runner.iter, runner.epoch)
            and (runner.iter > 0 or runner.epoch > 0)
        )  # a load_from (fine-tuning) starts at 0 with fresh random streams
        if not resumed:
            return
        states = meta.get('rng_states')
        if not states:
            runner.logger.warning(
                'wider_mm: the checkpoint holds no random-number states (not written by '
                'SafeCheckpointHook); the resumed run draws other random numbers (dropout, '
                'augmentation) than an uninterrupted run would'
            )
            return
        if len(states) != runner.world_size:
            runner.logger.warning(
                f'wider_mm: the checkpoint was written by {len(states)} processes, this run '
                f'has {runner.world_size}: the random-number states are not restored (the '
                'resumed run is not bit-exact)'
            )
            return
        state = states[runner.rank]
        loop = runner.train_loop
        if getattr(loop, 'dataloader_iterator', None) is not None and loop.iter > 0:
            loop.dataloader_iterator = _RestoreAfterSkip(
                loop, loop.dataloader_iterator, loop.iter, state
            )
        else:
            set_rng_state(state)
        runner.logger.info('wider_mm: random-number states restored from the checkpoint')

    def before_val(self, runner) -> None:
        """Give validation a copy of the random state (restored in :meth:`after_val`)."""
        self._val_rng = rng_state()

    def after_val(self, runner) -> None:
        """Restore the random state validation started from."""
        if self._val_rng is not None:
            set_rng_state(self._val_rng)
            self._val_rng = None

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # mmengine removes the previous best before writing the new one: hold that back
        held = getattr(self.file_backend, 'deferred_removal', None)
        if held is None:
            return super()._save_best_checkpoint(runner, metrics)
        with held():
            super()._save_best_checkpoint(runner, metrics)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's body in a safe order: it removes the oldest checkpoint first and
        # writes last_checkpoint in place. Same bookkeeping (keep_ckpt_ids in the message
        # hub, saved in the checkpoint), then: write, point at it, remove.
        states = all_gather_object(self._val_rng or rng_state())  # every process calls this
        meta = dict(meta, rng_states=states)
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        write_atomic(osp.join(runner.work_dir, 'last_checkpoint'), str(self.last_ckpt).encode())
        if stale is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are folders
                self.file_backend.rmtree(path)


_MMENGINE_CHECKPOINT_HOOK = ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook)


def use_safe_checkpoints(cfg: Config) -> Optional[str]:
    """Swap mmengine's ``CheckpointHook`` in ``cfg.default_hooks`` for
    :class:`SafeCheckpointHook` (same arguments); return a log note (None: nothing to say)."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not isinstance(hook, Mapping):
        return None
    kind = hook.get('type')
    if kind in _MMENGINE_CHECKPOINT_HOOK:
        hook['type'] = 'SafeCheckpointHook'
        return None
    if kind in ('SafeCheckpointHook', SafeCheckpointHook):
        return None
    return (
        f'default_hooks.checkpoint is {kind!r}, not CheckpointHook: its checkpoints are '
        'written as that class does (not atomically, no random-number states)'
    )


# ----------------------------------------------------------------------------- strict loading
@dataclass
class LoadReport:
    """How a checkpoint's tensors meet a model's (keys after the ``revise_keys`` rules)."""

    model_keys: int
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Whether every model tensor is loaded and every checkpoint tensor used."""
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        """One line: the missing, unexpected and mismatched keys (first few of each)."""

        def listed(keys: Sequence[str]) -> str:
            more = f' and {len(keys) - _LISTED} more' if len(keys) > _LISTED else ''
            return f'[{", ".join(keys[:_LISTED])}{more}]'

        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} missing keys {listed(self.missing)}')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected keys {listed(self.unexpected)}')
        if self.mismatched:
            shapes = [f'{k}: {a} vs {b}' for k, a, b in self.mismatched]
            parts.append(
                f'{len(self.mismatched)} shape mismatches (checkpoint vs model) {listed(shapes)}'
            )
        return ', '.join(parts)


def compare_state_dict(model_state: Mapping[str, Any], state: Mapping[str, Any]) -> LoadReport:
    """Compare a checkpoint's ``state`` with ``model_state`` (BN ``num_batches_tracked``
    may be absent, as mmengine allows)."""
    report = LoadReport(model_keys=len(model_state))
    for key, want in model_state.items():
        have = state.get(key)
        if key not in state:
            if not key.endswith('num_batches_tracked'):
                report.missing.append(key)
        elif hasattr(have, 'shape') and tuple(have.shape) != tuple(want.shape):
            report.mismatched.append((key, tuple(have.shape), tuple(want.shape)))
        else:
            report.loaded.append(key)
    report.unexpected = [k for k in state if k not in model_state]
    return report


#: What a strict load that does not fit suggests (a model built from a config) ...
CONFIG_FIX = 'check that config and checkpoint belong together (depth, variant, widths, classes)'
#: ... and for ``load_from`` / tools/test.py, whose config can ask for a partial load.
LOAD_FROM_FIX = (
    f'{CONFIG_FIX}; to start from the tensors that fit (e.g. another number of classes) set '
    'load_from_strict=False (--cfg-options load_from_strict=False)'
)


def load_state(
    model: torch.nn.Module,
    checkpoint: Any,
    source: str,
    strict: bool = True,
    ignore_recorded: Sequence[str] = (),
    revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),),
    logger: Any = None,
    prefix: Optional[str] = None,
    fix: str = LOAD_FROM_FIX,
    ignore_option: Optional[str] = 'load_from_ignore_recorded',
) -> LoadReport:
    """Load ``checkpoint`` (a loaded file) into ``model``, strictly unless asked otherwise.

    The one strict load of wider_mm: the Runner's ``load_checkpoint`` (``load_from``,
    resume, tools/test.py), the backbone's ``Pretrained`` init_cfg
    (:func:`~wider_mm.models.backbones.wider_resnet.load_pretrained`) and tools/cam.py.

    Args:
        model: The model (not its DDP wrapper).
        checkpoint: ``{'state_dict': ..., 'meta': ...}`` or a bare state dict.
        source: The file, for messages.
        strict: Refuse any missing, unexpected or shape-mismatched key. False: load the
            tensors that fit, leave the rest at their initialisation, log a summary.
        ignore_recorded: Backbone arguments recorded by the converter to leave unchecked.
        revise_keys: ``(pattern, replacement)`` rules for the checkpoint's keys (mmengine's;
            the default strips DataParallel's ``module.``).
        logger: Where the partial-load summary goes (mmengine's current logger if None).
        prefix: Only the keys under this prefix (e.g. 'backbone.'), with it stripped
            (before ``revise_keys``).
        fix: What the strict error suggests after the keys (the caller's options).
        ignore_option: The option that lists ``ignore_recorded``, named by the recorded
            arguments' error (None: not offered).

    Raises:
        CheckpointError: a converted checkpoint's recorded backbone arguments differ from
            the model's (checked first: it names the argument to set); (strict) the
            tensors do not fit, listing the keys; no key under ``prefix``.
    """
    from mmengine.logging import print_log

    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f'{source} holds no state_dict (weights) to load')
    metadata = getattr(state, '_metadata', OrderedDict())
    try:
        check_recorded_args(checkpoint, model, ignore=ignore_recorded)
    except RecordedArgsError as e:
        hint = f' (or list the argument in {ignore_option})' if ignore_option else ''
        raise CheckpointError(f'{source}: {e}{hint}') from None
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = OrderedDict((k[len(prefix) :], v) for k, v in state.items() if k.startswith(prefix))
        if not state:
            raise CheckpointError(f'{source}: no key starts with prefix {prefix!r}')
    for pattern, repl in revise_keys:
        state = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state.items())
    report = compare_state_dict(model.state_dict(), state)
    if strict and not report.exact:
        raise CheckpointError(
            f'{source} does not fit the model ({type(model).__name__}): {report.problems()}. '
            'If it is a released Wider ResNet checkpoint (MXNet, PSA, MAP, NVIDIA), convert it '
            f'first with tools/model_converters/wrn2mm.py; otherwise {fix}'
        )
    bad = {k for k, _, _ in report.mismatched}
    state = OrderedDict((k, v) for k, v in state.items() if k not in bad)
    state._metadata = metadata  # BN version info, as mmengine keeps it
    load_state_dict(model, state, strict=False, logger=logger)
    if not report.exact:
        print_log(
            f'wider_mm: partial load (load_from_strict=False): loaded {len(report.loaded)} of '
            f'{report.model_keys} model tensors from {source}; not loaded: '
            f'{report.problems()}',
            logger=logger or 'current',
            level=logging.WARNING,
        )
    return report


@RUNNERS.register_module()
class WiderRunner(Runner):
    """mmengine's ``Runner`` with strict checkpoint loading and a resume that never
    starts over.

    * ``load_checkpoint`` (``load_from``, ``tools/test.py``, resume) refuses a checkpoint
      that does not fit the model, listing the keys (:func:`load_state`); config keys:
      ``load_from_strict`` (default True; False: partial load + summary; a resume is
      always strict) and ``load_from_ignore_recorded`` (backbone arguments recorded by
      the converter to leave unchecked, e.g. ``['variant']`` to fine-tune Model A
      weights as A1).
    * ``resume=True`` without ``load_from`` resumes from :func:`find_resume_checkpoint`
      (mmengine reads only ``last_checkpoint`` and trains from scratch without one).
    * mmengine's ``CheckpointHook`` (the config's, or the one mmengine adds) becomes
      :class:`SafeCheckpointHook`.

    ``tools/train.py`` and ``tools/test.py`` build it unless the config names another
    ``runner_type``; with the libraries' own tools set ``runner_type='WiderRunner'``.
    """

    _resuming = False

    def register_default_hooks(self, hooks: Optional[Dict[str, Any]] = None) -> None:
        """mmengine's default hooks, with :class:`SafeCheckpointHook` in place of its
        ``CheckpointHook`` (also the one it adds when the config names none)."""
        hooks = dict(hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt, Mapping) and ckpt.get('type') in _MMENGINE_CHECKPOINT_HOOK:
            hooks['checkpoint'] = dict(ckpt, type='SafeCheckpointHook')
        super().register_default_hooks(hooks)

    def load_or_resume(self) -> None:
        """mmengine's, with :func:`find_resume_checkpoint` for ``resume=True`` alone."""
        if self._has_loaded or not (self._resume and self._load_from is None):
            return super().load_or_resume()
        path, _, notes = find_resume_checkpoint(self.work_dir)
        for note in notes:
            self.logger.info(f'wider_mm: {note}')
        if path is None:
            self.logger.info(f'wider_mm: no checkpoint in {self.work_dir}; training starts')
            return None
        self.resume(path)
        self._has_loaded = True
        return None

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        """mmengine's resume; its checkpoint is loaded strictly whatever the config says."""
        self._resuming = True
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def load_checkpoint(
        self,
        filename: str,
        map_location: Any = 'cpu',
        strict: Optional[bool] = None,
        revise_keys: list = [(r'^module\.', '')],  # noqa: B006  (mmengine's signature)
    ) -> Any:
        """Load ``filename`` into the model; ``strict=None``: the config's
        ``load_from_strict`` (True by default; always True when resuming)."""
        checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module  # DDP, and --tta's wrapper (mmengine's loader unwraps both)
        if strict is None:
            strict = self._resuming or bool(self.cfg.get('load_from_strict', True))
        load_state(
            model,
            checkpoint,
            filename,
            strict=strict,
            ignore_recorded=tuple(self.cfg.get('load_from_ignore_recorded') or ()),
            revise_keys=revise_keys,
            logger=self.logger,
        )
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


__all__ = [
    'ATOMIC_BACKEND',
    'AtomicLocalBackend',
    'CheckpointError',
    'CONFIG_FIX',
    'LOAD_FROM_FIX',
    'LoadReport',
    'SafeCheckpointHook',
    'WiderRunner',
    'compare_state_dict',
    'find_resume_checkpoint',
    'load_state',
    'read_checkpoint',
    'resolve_resume',
    'rng_state',
    'set_rng_state',
    'use_safe_checkpoints',
    'write_atomic',
]
