"""The semantic-segmentation DAG: ingest (image + mask pairs) -> stats/schema/validation ->
Transform -> Trainer -> SegmentationEvaluator (mean-IoU gate against the latest blessed model) +
ServingCheck -> Pusher, EdgeExport (TFLite/ONNX, each scored by mIoU) -> RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.mask_eval.component import SegmentationEvaluator
from pipelines.runtime import PipelineRuntime
from pipelines.segmentation.config import SegmentationConfig
from pipelines.segmentation.task import TASK
from pipelines.vision import dag


def create_pipeline(cfg: SegmentationConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime,
                       reader_options={"unannotated": cfg.data.unannotated})
  trainer = dag.trainer(TASK, data, cfg, runtime)
  baseline = dag.baseline_resolver()
  evaluator = SegmentationEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      baseline_model=baseline.outputs["model"],
      miou_lower_bound=cfg.evaluation.miou_lower_bound,
      max_miou_drop=cfg.evaluation.max_miou_drop,
      code_version=dag.code_version(SegmentationEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
