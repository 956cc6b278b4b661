"""The task registry. ``get(name)`` returns a registered ``Task``; ``all_tasks()`` lists them.

Built-in tasks live one module each beside this file and register themselves when imported by
``_load_builtins``; a task defined elsewhere (a plugin, a test) calls ``register(task)``.
"""
from __future__ import annotations

from explorer.tasks.base import CONTROLS, TARGET_ID, TARGET_LEVEL, TARGETS, Outcome, Page, Task

__all__ = ["CONTROLS", "TARGETS", "TARGET_ID", "TARGET_LEVEL", "Outcome", "Page", "Task", "register", "get",
           "all_tasks", "names"]

_REGISTRY: dict[str, Task] = {}
_builtins_loaded = False


def register(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry (``replace=True`` to redefine a name); returns it."""
    if task.name in _REGISTRY and not replace and _REGISTRY[task.name] is not task:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    # importing a task module registers its Task (one explicit line per built-in task)
    from explorer.tasks import classification, detection, regression, segmentation, training  # noqa: F401


def get(name: str) -> Task:
    """The registered task ``name``; ``UserError`` naming the known tasks otherwise."""
    _load_builtins()
    task = _REGISTRY.get(name)
    if task is None:
        from explorer.errors import UserError

        raise UserError(f"unknown task {name!r}; expected one of {', '.join(names())}")
    return task


def all_tasks() -> list[Task]:
    _load_builtins()
    return list(_REGISTRY.values())


def names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(_REGISTRY)
