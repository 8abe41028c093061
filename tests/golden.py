"""Golden files (the KFP SDK's `read_write_test` pattern): normalised output compared exactly
with a file under tests/testdata/, rewritten instead with `pytest --update-goldens`."""

from __future__ import annotations

import json
import os
import re

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
_HASH = re.compile(r'(code_version(?:\\*")?:\s*(?:\\*")?)[0-9a-f]{16}')


def normalise_pipeline_spec(spec: dict) -> str:
  """A compiled Kubeflow V2 spec without what changes with every release or edit: the SDK
  version and labels, the container image, and code fingerprints."""
  spec = json.loads(json.dumps(spec))
  spec["pipelineSpec"].pop("sdkVersion", None)
  spec.pop("labels", None)
  for executor in spec["pipelineSpec"]["deploymentSpec"]["executors"].values():
    if "container" in executor:
      executor["container"]["image"] = "<image>"
  _strip_code_versions(spec)
  text = json.dumps(spec, indent=1, sort_keys=True)
  return _HASH.sub(r"\1<code-hash>", text) + "\n"


def check(name: str, text: str, update: bool) -> None:
  """Asserts `text` equals the golden file `name` (or rewrites it when `update`)."""
  path = os.path.join(TESTDATA, name)
  if update:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
      f.write(text)
    return
  assert os.path.exists(path), f"{path} is missing: run pytest --update-goldens and review it"
  with open(path) as f:
    golden = f.read()
  if text != golden:
    import difflib  # pylint: disable=g-import-not-at-top
    diff = "".join(list(difflib.unified_diff(golden.splitlines(True), text.splitlines(True),
                                             "golden", "now"))[:80])
    raise AssertionError(f"{name} differs from the golden file (pytest --update-goldens "
                         f"rewrites it; review the diff):\n{diff}")


def _strip_code_versions(node) -> None:
  """Replaces the value of every `code_version` parameter (a nested constant) in place."""
  if isinstance(node, dict):
    for key, value in node.items():
      if key == "code_version" and isinstance(value, dict):
        _replace_strings(value)
      else:
        _strip_code_versions(value)
  elif isinstance(node, list):
    for value in node:
      _strip_code_versions(value)


def _replace_strings(node) -> None:
  for key, value in node.items():
    if isinstance(value, dict):
      _replace_strings(value)
    elif isinstance(value, str):
      node[key] = "<code-hash>"
