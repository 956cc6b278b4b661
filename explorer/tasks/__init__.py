"""The task registry. ``get(name)`` returns a registered ``Task``; ``all_tasks()`` lists them.

Built-in tasks live one module each beside this file and register themselves when imported by
``_load_builtins``; a task defined elsewhere (a plugin, a test) calls ``register(task)``.

Plugin tasks: ``$EXPLORER_TASK_PLUGINS`` lists Python files (``os.pathsep``-separated) that define and register a
task each. The registry imports every listed file on first use (and any file added to the variable later), so the
app, the CLI and library callers started with the variable all know the task::

    EXPLORER_TASK_PLUGINS=/path/to/my_task.py explorer run PROJECT

A plugin's ``Page.file`` is an absolute path to its page script. See ``tests/tasks/toy_plugin.py``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from explorer.tasks.base import CONTROLS, TARGET_ID, TARGET_LEVEL, TARGETS, Outcome, Page, Task

__all__ = ["CONTROLS", "TARGETS", "TARGET_ID", "TARGET_LEVEL", "Outcome", "Page", "Task", "register", "get",
           "all_tasks", "names", "unregister", "load_plugin", "PLUGINS_ENV"]

PLUGINS_ENV = "EXPLORER_TASK_PLUGINS"

_REGISTRY: dict[str, Task] = {}
#: the built-in tasks in the order of ``names()`` (CLI choices, docs), whichever task module was imported first
BUILTIN_ORDER = ("detection", "classification", "segmentation", "regression", "training")
_builtins_loaded = False  # set when loading starts (a task module importing the registry must not reload)
_builtins_done = False  # set when every built-in is registered: the lock-free fast path
#: one loader at a time: the app serves sessions from threads, and a second thread seeing ``_builtins_loaded``
#: before the imports finished found an empty registry ("unknown task 'detection'"); re-entrant for the loader
_LOAD_LOCK = threading.RLock()
_loaded_plugins: dict[str, object] = {}  # resolved plugin path -> its module (each file is executed once)


def register(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry (``replace=True`` to redefine a name); returns it."""
    if task.name in _REGISTRY and not replace and _REGISTRY[task.name] is not task:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove task ``name`` from the registry (tests and plugin reloads; unknown names are ignored)."""
    _REGISTRY.pop(name, None)


def load_plugin(path: str | Path):
    """Execute a task plugin file (it calls ``register``); loading the same file again is a no-op.

    Returns the plugin's module. An error in the file is a ``UserError`` naming it, not our traceback.
    """
    import importlib.util

    from explorer.errors import UserError

    source = str(Path(path).expanduser().resolve())
    with _LOAD_LOCK:  # a thread finding the file listed waits until the thread executing it has finished
        if source in _loaded_plugins:
            return _loaded_plugins[source]
        if not Path(source).is_file():
            raise UserError(f"task plugin {source} not found (listed in ${PLUGINS_ENV})")
        spec = importlib.util.spec_from_file_location(f"explorer_task_plugin_{len(_loaded_plugins)}", source)
        module = importlib.util.module_from_spec(spec)
        _loaded_plugins[source] = module  # before running it: a plugin that reads the registry must not reload itself
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # a user's file: report it by name
            del _loaded_plugins[source]
            if isinstance(e, UserError):
                raise
            raise UserError(f"task plugin {source} failed to load: {type(e).__name__}: {e}") from None
        return module


def _load_builtins() -> None:
    if not _builtins_done:
        with _LOAD_LOCK:
            _import_builtins()
    # the variable is read on every call (a string split): a plugin listed after the first use is still found
    for path in os.environ.get(PLUGINS_ENV, "").split(os.pathsep):
        if path:
            load_plugin(path)


def _import_builtins() -> None:
    global _builtins_loaded, _builtins_done
    if not _builtins_loaded:
        _builtins_loaded = True
        # importing a task module registers its Task (one explicit line per built-in task; names() orders them by
        # BUILTIN_ORDER, since a caller may have imported one of these modules directly before)
        from explorer.tasks import detection  # noqa: F401
        from explorer.tasks import classification  # noqa: F401
        from explorer.tasks import segmentation  # noqa: F401
        from explorer.tasks import regression  # noqa: F401
        from explorer.tasks import training  # noqa: F401
        _builtins_done = True


def get(name: str) -> Task:
    """The registered task ``name``; ``UserError`` naming the known tasks otherwise."""
    _load_builtins()
    task = _REGISTRY.get(name)
    if task is None:
        from explorer.errors import UserError

        raise UserError(f"unknown task {name!r}; expected one of {', '.join(names())}")
    return task


def _ordered() -> list[str]:
    """Registered names: the built-ins in ``BUILTIN_ORDER``, then other tasks in the order they registered."""
    rank = {name: i for i, name in enumerate(BUILTIN_ORDER)}
    return sorted(_REGISTRY, key=lambda name: rank.get(name, len(rank)))  # stable: plugins keep their order


def all_tasks() -> list[Task]:
    _load_builtins()
    return [_REGISTRY[name] for name in _ordered()]


def names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(_ordered())
