"""The task registry: every `pipelines/<task>/task.py` registers one `Task` by name.

The CLI's task choices and help, `compile`, `submit`, `predict` and the README's task table come
from here; generic components receive a task by its dotted path (`Task.ref`). A task registered
elsewhere (a plug-in, or the toy task of the tests) only needs its module imported.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from components.common.contract import Task

_TASKS: dict[str, Task] = {}
_DISCOVERED = False


def register(task: Task) -> Task:
  """Registers `task` under its name; returns it (`TASK = tasks.register(Task(...))`)."""
  known = _TASKS.get(task.name)
  if known is not None and known.module != task.module:
    raise ValueError(f"task {task.name!r} is registered by {known.module} and {task.module}")
  _TASKS[task.name] = task
  return task


def _discover() -> None:
  """Imports every `pipelines/<package>/task.py` once."""
  global _DISCOVERED
  if _DISCOVERED:
    return
  root = os.path.dirname(__file__)
  for info in sorted(pkgutil.iter_modules([root]), key=lambda i: i.name):
    if info.ispkg and os.path.exists(os.path.join(root, info.name, "task.py")):
      importlib.import_module(f"pipelines.{info.name}.task")
  _DISCOVERED = True


def names() -> tuple[str, ...]:
  _discover()
  return tuple(sorted(_TASKS))


def get(name: str) -> Task:
  _discover()
  if name not in _TASKS:
    raise KeyError(f"unknown task {name!r}; available: {', '.join(names())}")
  return _TASKS[name]


def all_tasks() -> list[Task]:
  return [get(n) for n in names()]
