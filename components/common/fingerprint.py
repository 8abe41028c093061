"""Code fingerprints for TFX's cache: each component is keyed to the code it runs, no more.

TFX fingerprints a `module_file` but not code referenced by dotted path, so every component that
runs cvpipe code takes a `code_version` parameter. It is the hash of the source files reachable by
import statements (anywhere in a module, lazy imports included) from the component's own module and
the task modules it calls, limited to this repository's files. Editing the report re-runs the
report, not ingest, Transform or the Trainer.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
from typing import Iterable

# The folder holding `components/` (and `pipelines/`, `tests/`): the repository, or
# site-packages for an installed cvpipe.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The top-level packages whose code is fingerprinted (tests: the toy task).
PACKAGES = ("components", "pipelines", "tests")


@functools.lru_cache(maxsize=None)
def _source(module: str) -> str | None:
  """The .py file of `module` if it is part of cvpipe, else None."""
  if module.split(".")[0] not in PACKAGES:
    return None
  try:
    spec = importlib.util.find_spec(module)
  except (ImportError, ValueError, AttributeError):
    return None
  origin = getattr(spec, "origin", None) if spec else None
  if not origin or not origin.endswith(".py"):
    return None
  origin = os.path.abspath(origin)
  if not origin.startswith(REPO_ROOT + os.sep):
    return None
  return origin


def _package_of(module: str, path: str) -> str:
  return module if path.endswith("__init__.py") else module.rpartition(".")[0]


@functools.lru_cache(maxsize=None)
def _imports(module: str) -> tuple[str, ...]:
  """Repository modules that `module` imports (directly), including their parent packages."""
  path = _source(module)
  if path is None:
    return ()
  with open(path, "rb") as f:
    tree = ast.parse(f.read(), path)
  names: set[str] = set()
  package = _package_of(module, path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        parent = ".".join(parts[:len(parts) - node.level + 1])
        base = f"{parent}.{base}" if base else parent
      names.add(base)
      names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
  out = set()
  for name in names:
    parts = name.split(".")
    # Descend only through this repository's packages: looking up `pkg.sub` imports `pkg`, which
    # must never run third-party code (or a module's body) just to fingerprint it.
    for i in range(1, len(parts) + 1):
      candidate = ".".join(parts[:i])
      path = _source(candidate)
      if not path:
        break
      out.add(candidate)
      if not path.endswith("__init__.py"):
        break
  return tuple(sorted(out))


def closure(modules: Iterable[str]) -> list[str]:
  """The repository source files reachable from `modules` by imports, sorted."""
  seen: set[str] = set()
  stack = [m for m in modules if m]
  while stack:
    m = stack.pop()
    if m in seen:
      continue
    seen.add(m)
    stack.extend(_imports(m))
  return sorted({p for p in map(_source, seen) if p})


def of(*modules: str) -> str:
  """A 16-hex-digit hash of the code reachable from `modules` (module names or dotted paths
  of objects in modules, e.g. a `run_fn`)."""
  names = []
  for m in modules:
    while m and _source(m) is None and "." in m:
      m = m.rpartition(".")[0]  # a dotted object path: its module
    names.append(m)
  h = hashlib.sha256()
  for path in closure(names):
    h.update(os.path.relpath(path, REPO_ROOT).encode() + b"\0")
    h.update(_read(path))
  return h.hexdigest()[:16]


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()
