"""The translation DAG: ingest (labelled images) -> stats/schema/validation -> Transform (the
shared image step) -> Trainer (judge classifier, then the pix2pix translator) ->
TranslationEvaluator (PSNR against the true images, FID against the real-vs-real floor, against
the latest blessed model) + ServingCheck -> Pusher, EdgeExport (the generator as TFLite/ONNX,
each scored by PSNR and FID) -> RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.gen_eval.component import TranslationEvaluator
from pipelines.runtime import PipelineRuntime
from pipelines.translation.config import TranslationConfig
from pipelines.translation.task import TASK
from pipelines.vision import dag


def create_pipeline(cfg: TranslationConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  trainer = dag.trainer(TASK, data, cfg, runtime)
  baseline = dag.baseline_resolver()
  gate = cfg.evaluation
  evaluator = TranslationEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      baseline_model=baseline.outputs["model"], psnr_lower_bound=gate.psnr_lower_bound,
      max_fid_to_floor=gate.max_fid_to_floor, max_psnr_drop=gate.max_psnr_drop,
      max_fid_to_floor_increase=gate.max_fid_to_floor_increase,
      code_version=dag.code_version(TranslationEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
