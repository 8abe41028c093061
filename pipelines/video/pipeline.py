"""The video-classification DAG: ingest (OpenCV samples frames) -> stats/schema/validation ->
Transform -> Trainer -> Evaluator (TFMA accuracy gate) + ServingCheck -> Pusher, EdgeExport
(TFLite/ONNX) -> RunReport. Wiring only."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx.orchestration.pipeline import Pipeline

from pipelines import config_loader
from pipelines.runtime import PipelineRuntime
from pipelines.video.config import VideoConfig
from pipelines.video.task import TASK
from pipelines.vision import dag
from pipelines.vision import evaluation


def eval_config(cfg: VideoConfig) -> tfma.EvalConfig:
  """Accuracy floor and no drop from the latest blessed model; metrics per class."""
  return evaluation.accuracy_eval_config(cfg.evaluation)


def create_pipeline(cfg: VideoConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime,
                       reader_options=config_loader.to_dict(cfg.frames))
  # Trainer -> Evaluator (the gate) -> ServingCheck -> Pusher, EdgeExport -> RunReport.
  return dag.pipeline(runtime, [*data.components,
                                *dag.tfma_half(TASK, cfg, data, eval_config(cfg), runtime)])
