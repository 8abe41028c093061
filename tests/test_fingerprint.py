"""Cache keys: each component's `code_version` covers the code it runs and nothing else, so an
edit re-runs only the components that run the edited code (TFX's cache keys on parameters)."""

import json
import os
from unittest import mock

import pytest

from components.common import fingerprint
from pipelines import runners

REPORT_ONLY = os.path.join(fingerprint.REPO_ROOT, "components", "run_report", "report.py")
CLASSIFIER_MODEL = os.path.join(fingerprint.REPO_ROOT, "pipelines", "classification", "model.py")


def _code_versions(tmp_path, name) -> dict[str, str]:
  """node -> code_version of a compiled classification pipeline (Transform/Trainer: in their
  custom_config)."""
  path = runners.compile_task("classification", data="gs://b/d/",
                              output_file=str(tmp_path / f"{name}.json"))
  spec = json.load(open(path))
  out = {}
  for task_name, task in spec["pipelineSpec"]["root"]["dag"]["tasks"].items():
    values = {k: v["runtimeValue"]["constantValue"]["stringValue"]
              for k, v in task.get("inputs", {}).get("parameters", {}).items()
              if "stringValue" in v.get("runtimeValue", {}).get("constantValue", {})}
    if "code_version" in values:
      out[task_name] = values["code_version"]
    elif "code_version" in (json.loads(values.get("custom_config") or "null") or {}):
      out[task_name] = json.loads(values["custom_config"])["code_version"]
  return out


def _edited(path):
  """Reads `path` as if a comment had been appended to it."""
  real = fingerprint._read

  def read(p):
    return real(p) + (b"\n# edited\n" if p == path else b"")
  return mock.patch.object(fingerprint, "_read", side_effect=read)


@pytest.mark.parametrize("edited,changed", [
    (REPORT_ONLY, {"RunReport"}),
    (CLASSIFIER_MODEL, {"Trainer"}),
])
def test_an_edit_changes_only_the_components_that_run_the_code(tmp_path, edited, changed):
  before = _code_versions(tmp_path, "before")
  assert {"ImageIngest", "Transform", "Trainer", "ServingCheck", "EdgeExport",
          "RunReport"} <= set(before)
  with _edited(edited):
    after = _code_versions(tmp_path, "after")
  assert {n for n in before if before[n] != after[n]} == changed


def test_closure_follows_lazy_imports_and_stays_in_the_repository():
  files = fingerprint.closure(["components.image_ingest.component"])
  names = {os.path.relpath(f, fingerprint.REPO_ROOT) for f in files}
  # `readers` and `faces` are imported inside functions.
  assert "components/image_ingest/readers.py" in names
  assert "components/image_ingest/faces.py" in names
  assert not any(n.startswith(("pipelines/", "components/run_report")) for n in names)
  assert all(f.startswith(fingerprint.REPO_ROOT) for f in files)


def test_a_dotted_object_path_fingerprints_its_module():
  assert (fingerprint.of("pipelines.classification.model.run_fn")
          == fingerprint.of("pipelines.classification.model"))
