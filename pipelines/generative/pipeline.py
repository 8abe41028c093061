"""The generative DAG: ingest (labelled images) -> stats/schema/validation -> Transform (the
shared image step) -> Trainer (judge classifier, then the GAN) -> GenerativeEvaluator (FID against
the real-vs-real floor, conditional accuracy, against the latest blessed model) + ServingCheck ->
Pusher, EdgeExport (the generator as TFLite/ONNX, each scored by FID) -> RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.gen_eval.component import GenerativeEvaluator
from pipelines.generative.config import GenerativeConfig
from pipelines.generative.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag


def create_pipeline(cfg: GenerativeConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  trainer = dag.trainer(TASK, data, cfg, runtime)
  baseline = dag.baseline_resolver()
  gate = cfg.evaluation
  evaluator = GenerativeEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      baseline_model=baseline.outputs["model"], max_fid_to_floor=gate.max_fid_to_floor,
      conditional_accuracy_lower_bound=gate.conditional_accuracy_lower_bound,
      max_fid_to_floor_increase=gate.max_fid_to_floor_increase,
      max_conditional_accuracy_drop=gate.max_conditional_accuracy_drop,
      code_version=dag.code_version(GenerativeEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
