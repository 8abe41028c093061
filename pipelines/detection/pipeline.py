"""The object-detection DAG: ingest (COCO JSON or Pascal VOC boxes) -> stats/schema/validation ->
Transform -> Trainer -> DetectionEvaluator (COCO AP50/AP gate against the latest blessed model) +
ServingCheck -> Pusher, EdgeExport (TFLite/ONNX with NMS inside, each scored by COCO AP) ->
RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.box_eval.component import DetectionEvaluator
from pipelines.detection.config import DetectionConfig
from pipelines.detection.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag


def create_pipeline(cfg: DetectionConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime,
                       reader_options={"unannotated": cfg.data.unannotated})
  trainer = dag.trainer(TASK, data, cfg, runtime)
  baseline = dag.baseline_resolver()
  evaluator = DetectionEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      baseline_model=baseline.outputs["model"],
      ap50_lower_bound=cfg.evaluation.ap50_lower_bound,
      ap_lower_bound=cfg.evaluation.ap_lower_bound,
      max_ap_drop=cfg.evaluation.max_ap_drop,
      code_version=dag.code_version(DetectionEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
