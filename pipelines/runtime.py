"""Where and how one pipeline run executes: paths, metadata store, Beam args, cache.

Built by `pipelines.runners` for a local run or a Kubeflow compile; `create_pipeline` only reads it.
"""

from __future__ import annotations

import dataclasses
import os

from tfx import v1 as tfx


@dataclasses.dataclass(frozen=True)
class PipelineRuntime:
  pipeline_name: str
  pipeline_root: str
  serving_dir: str  # TF Serving base: models go to <serving_dir>/<model_name>/<version>/
  data_source: str
  input_fingerprint: str = ""
  metadata_path: str | None = None  # SQLite MLMD store for local runs; None on Kubeflow
  beam_pipeline_args: tuple[str, ...] = ()
  enable_cache: bool = True
  # Source hash of cvpipe passed to components that run its code (see `code_fingerprint`).
  code_version: str = ""

  def serving_model_dir(self, model_name: str) -> str:
    return os.path.join(self.serving_dir, model_name)

  def metadata_connection_config(self):
    if self.metadata_path is None:
      return None
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(self.metadata_path)


def code_fingerprint() -> str:
  """A hash of cvpipe's own source (pipelines/ and components/).

  TFX fingerprints a `module_file` for its cache, but not code referenced by dotted path, so the
  components that run our code take this as a parameter: changed code re-runs them.
  """
  import hashlib  # pylint: disable=g-import-not-at-top
  import components  # pylint: disable=g-import-not-at-top
  import pipelines  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  for package in (pipelines, components):
    root = os.path.dirname(package.__file__)
    for folder, dirs, files in os.walk(root):
      dirs.sort()
      for name in sorted(files):
        if name.endswith((".py", ".yaml")):
          path = os.path.join(folder, name)
          h.update(os.path.relpath(path, os.path.dirname(root)).encode())
          with open(path, "rb") as f:
            h.update(f.read())
  return h.hexdigest()[:16]
