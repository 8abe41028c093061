"""Layering: components never import `pipelines` (nor does `components/common` import a
component), and generic components hold no switch on a task or model kind."""

import ast
import os
import re

import pytest

from components.common import fingerprint

ROOT = fingerprint.REPO_ROOT


def _python_files(folder):
  for base, _, files in os.walk(os.path.join(ROOT, folder)):
    for name in files:
      if name.endswith(".py"):
        yield os.path.join(base, name)


def _imported(path):
  tree = ast.parse(open(path).read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module


def test_components_never_import_pipelines():
  offenders = [(os.path.relpath(p, ROOT), m) for p in _python_files("components")
               for m in _imported(p) if m == "pipelines" or m.startswith("pipelines.")]
  assert not offenders


def test_the_common_layer_imports_no_component():
  offenders = [(os.path.relpath(p, ROOT), m) for p in _python_files("components/common")
               for m in _imported(p)
               if m.startswith("components.") and not m.startswith("components.common")]
  assert not offenders


@pytest.mark.parametrize("folder", ["components/serving_check", "components/edge_export",
                                    "components/run_report", "components/atomic_pusher",
                                    "components/common", "pipelines/vision"])
def test_generic_code_holds_no_switch_on_a_task_or_model_kind(folder):
  pattern = re.compile(r"""(kind|task|model_kind)\s*(==|!=|in)\s*\(?["'](classifi|embedd|retriev"""
                       r"""|similar|detect|segment|caption|generat|video)""")
  offenders = [(os.path.relpath(p, ROOT), i + 1) for p in _python_files(folder)
               for i, line in enumerate(open(p)) if pattern.search(line)]
  assert not offenders
