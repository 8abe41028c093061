"""Where and how one pipeline run executes: paths, metadata store, Beam args, cache.

Built by `pipelines.runners` for a local run or a Kubeflow compile; `create_pipeline` only reads it.
"""

from __future__ import annotations

import dataclasses
import os


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
  # Kubeflow / Vertex only: extra Trainer custom_config that sends training to Vertex AI custom
  # training ({} trains inside the step), and container resources by component id
  # (`pipelines.infra.StepResources`).
  vertex_training: dict = dataclasses.field(default_factory=dict)
  step_resources: dict = dataclasses.field(default_factory=dict)
  # Kubeflow / Vertex: the data source is the compiled pipeline's runtime parameter `data`
  # (default `data_source`), so a schedule or a run can point at new data without a recompile.
  data_as_parameter: bool = False
  # Kubeflow / Vertex: TFX's Vertex Pusher custom_config when the blessed model also goes to a
  # Vertex AI Endpoint ({}: TF Serving folder only).
  vertex_endpoint: dict = dataclasses.field(default_factory=dict)

  def ingest_source(self):
    """What ImageIngest reads: the source, or the `data` runtime parameter defaulting to it."""
    if not self.data_as_parameter:
      return self.data_source
    from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
    return data_types.RuntimeParameter(name="data", ptype=str, default=self.data_source)

  def serving_model_dir(self, model_name: str) -> str:
    return os.path.join(self.serving_dir, model_name)

  def metadata_connection_config(self):
    if self.metadata_path is None:
      return None
    from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
    return metadata.sqlite_metadata_connection_config(self.metadata_path)
