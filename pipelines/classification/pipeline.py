"""The image-classification DAG: ingest -> stats/schema/validation -> Transform -> Trainer ->
Evaluator (blessing gate) + ServingCheck (serves REST?) -> Pusher, EdgeExport (TFLite/ONNX) ->
RunReport. Wiring only."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx.orchestration.pipeline import Pipeline

from pipelines.classification.config import ClassificationConfig
from pipelines.classification.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag
from pipelines.vision import evaluation


def eval_config(cfg: ClassificationConfig) -> tfma.EvalConfig:
  """Accuracy lower bound and change threshold on the overall slice; metrics per class."""
  return evaluation.accuracy_eval_config(cfg.evaluation)


def create_pipeline(cfg: ClassificationConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  # Trainer -> Evaluator (the gate) -> ServingCheck -> Pusher, EdgeExport -> RunReport.
  return dag.pipeline(runtime, [*data.components,
                                *dag.tfma_half(TASK, cfg, data, eval_config(cfg), runtime)])
