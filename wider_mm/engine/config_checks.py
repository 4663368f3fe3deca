"""Config checks that turn silent mistakes into one-line errors before anything runs.

mmengine reads a config leniently: a ``--cfg-options`` key that nothing reads is merged and
ignored, and an argument of a hook that its class does not take (say
``default_hooks.checkpoint.intervl=1``) is kept until the hook first uses it (for
``CheckpointHook``: the first save, after the first interval of training). These checks run
where the launch tools load and build a config (:func:`wider_mm.engine.launch.load_config`,
:func:`wider_mm.engine.launch.build_runner`).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from mmengine.config import Config

#: Top-level keys read outside ``Runner.__init__``'s arguments (by the Runner's methods, the
#: libraries' tools and this package's tools). A top-level key that is neither one of these
#: nor a ``Runner.__init__`` argument nor already in the config is read by nothing.
EXTRA_RUNTIME_KEYS = (
    'model_wrapper_cfg',
    'find_unused_parameters',
    'compile',
    'sync_bn',
    'runner_type',
    'tta_model',
    'tta_pipeline',
    'strategy',
    'check_annotations',  # wider_mm.datasets.checks: False turns the label-map checks off
    'load_from_strict',  # wider_mm.engine.checkpoint.WiderRunner: False allows a partial load
    'load_from_ignore_recorded',  # ... converter-recorded backbone arguments left unchecked
)


class ConfigError(ValueError):
    """A config (or a ``--cfg-options`` key) that cannot work; the message names the fix."""


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ''


def runtime_keys() -> List[str]:
    """Top-level config keys that mmengine's Runner or the tools read."""
    from mmengine.runner import Runner

    params = inspect.signature(Runner.__init__).parameters
    return [p for p in params if p not in ('self', 'cfg')] + list(EXTRA_RUNTIME_KEYS)


def check_cfg_options(cfg: Config, options: Optional[Mapping[str, Any]]) -> List[str]:
    """Refuse ``--cfg-options`` keys that would be ignored; return notes on those that add keys.

    * A new top-level key that neither the Runner nor the tools read: :class:`ConfigError`.
    * A new nested key whose name is close to one already there (a likely typo, e.g.
      ``train_cfg.max_iter``): :class:`ConfigError` naming the existing key.
    * Any other new nested key (e.g. a backbone argument left at its default in the
      config): a note (to log), since the module it goes to checks its own arguments.
    """
    known = set(runtime_keys())
    notes: List[str] = []
    for key in options or {}:
        node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        parts = key.split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    raise ConfigError(
                        f'--cfg-options {key}: {".".join(parts[:depth]) or "config"} has '
                        f'{len(node)} items, so index {part} does not exist (indices '
                        f'0..{len(node) - 1})'
                    )
                node = node[int(part)]
                continue
            if not isinstance(node, Mapping):
                break  # replacing a value by a dict: mmengine's merge decides
            if part in node:
                node = node[part]
                continue
            where = '.'.join(parts[:depth])
            if depth == 0 and part not in known:
                raise ConfigError(
                    f'--cfg-options {key}: the config has no key {part!r} and nothing reads '
                    f'one{_suggest(part, [*node.keys(), *known])}; check the spelling'
                )
            hint = _suggest(part, [k for k in node.keys() if isinstance(k, str)])
            if hint:
                raise ConfigError(
                    f'--cfg-options {key}: {where} has no key {part!r}{hint}; check the '
                    'spelling (to add a new key with a name this close, edit the config)'
                )
            if depth:
                notes.append(f'--cfg-options {key} adds {part!r} to {where} (not in the config)')
            break
    return notes


def _hook_cfgs(cfg: Config) -> Dict[str, Mapping]:
    found: Dict[str, Mapping] = {}
    for name, hook in (cfg.get('default_hooks') or {}).items():
        if isinstance(hook, Mapping) and 'type' in hook:
            found[f'default_hooks.{name}'] = hook
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, Mapping) and 'type' in hook:
            found[f'custom_hooks.{i}'] = hook
    return found


def check_hook_args(cfg: Config) -> None:
    """Every hook argument in ``default_hooks`` / ``custom_hooks`` must be one its class takes.

    ``CheckpointHook`` passes unknown arguments on to ``Runner.save_checkpoint``, so those
    are checked against that method's arguments. Hooks whose ``__init__`` takes ``**kwargs``
    for other purposes are left to their class. Call after the library's modules are
    registered (the hook types are looked up in mmengine's HOOKS registry and its children).
    """
    from mmengine.hooks import CheckpointHook
    from mmengine.registry import HOOKS
    from mmengine.runner import Runner

    for where, hook in _hook_cfgs(cfg).items():
        cls = hook['type']
        if not inspect.isclass(cls):
            # as the Runner builds them: in the registry of the config's scope
            with HOOKS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
                cls = registry.get(cls)
        if cls is None:
            raise ConfigError(
                f'{where}: unknown hook type {hook["type"]!r}'
                f'{_suggest(str(hook["type"]), HOOKS.module_dict)}; check the spelling or '
                'add the module that registers it to custom_imports'
            )
        params = inspect.signature(cls.__init__).parameters
        variadic = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        allowed = {p for p, v in params.items() if p != 'self' and v.kind not in variadic}
        if any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values()):
            if not issubclass(cls, CheckpointHook):
                continue
            save = inspect.signature(Runner.save_checkpoint).parameters
            allowed |= {p for p in save if p not in ('self', 'out_dir', 'filename')}
        for arg in hook:
            if arg != 'type' and not arg.startswith('_') and arg not in allowed:
                raise ConfigError(
                    f'{where}.{arg}: {cls.__name__} takes no argument {arg!r}'
                    f'{_suggest(arg, allowed)}; its arguments: {", ".join(sorted(allowed))}'
                )


def walk_dicts(node: Any, path: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dict in a config tree (through dicts, lists and tuples), with its path.

    Paths use mmengine's ``--cfg-options`` syntax (``model.auxiliary_head.0.norm_cfg``), so a
    message can name the option to set. A dict is yielded before its children, so the caller
    may replace its values (e.g. set ``init_cfg`` to None) and the walk follows the new ones.
    """
    if isinstance(node, dict):
        yield path or '<root>', node
        for k, v in node.items():
            yield from walk_dicts(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from walk_dicts(v, f'{path}.{i}' if path else str(i))
