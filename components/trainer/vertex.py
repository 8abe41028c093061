"""The Trainer as a Vertex AI custom training job (TFX's `google_cloud_ai_platform.Trainer`
launcher running our `Executor`). Its own module: TFX's Vertex extension imports
google-cloud-aiplatform (3.5 s per process), which local runs never need."""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor

from components.trainer.component import Executor
from components.trainer.component import Trainer


class VertexExecutor(vertex_executor.GenericExecutor):
  """Launches `Executor` (not TFX's own) in the Vertex AI custom job's replicas."""

  def _GetExecutorClass(self):
    return Executor


class VertexTrainer(Trainer):
  """`Trainer` as a Vertex AI custom training job (custom_config carries TFX's Vertex keys)."""
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(VertexExecutor)
