"""The similarity-learning (verification) DAG: ingest (optionally MTCNN face alignment) ->
stats/schema/validation -> Transform -> Trainer (Siamese contrastive or semi-hard triplet
embedding + threshold chosen on eval) -> VerificationEvaluator (blessing gate) + ServingCheck ->
Pusher, EdgeExport (TFLite/ONNX + threshold) -> RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.embedding_eval.component import VerificationEvaluator
from pipelines.runtime import PipelineRuntime
from pipelines.similarity.config import SimilarityConfig
from pipelines.similarity.task import TASK
from pipelines.vision import dag


def create_pipeline(cfg: SimilarityConfig, runtime: PipelineRuntime) -> Pipeline:
  faces = cfg.faces
  face_align = ({"min_confidence": faces.min_confidence, "margin": faces.margin,
                 "crop_size": faces.crop_size} if faces.enabled else None)
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime, face_align=face_align,
                       split_by=cfg.split_by)
  trainer = dag.trainer(TASK, data, cfg, runtime)
  evaluator = VerificationEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      far=cfg.evaluation.far, max_positive_pairs=cfg.evaluation.max_positive_pairs,
      max_negative_pairs=cfg.evaluation.max_negative_pairs,
      lower_bounds=cfg.evaluation.lower_bounds(),
      code_version=dag.code_version(VerificationEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, evaluator, *delivery])
