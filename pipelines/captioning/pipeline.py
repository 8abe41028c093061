"""The image-captioning DAG: ingest (images + reference captions) -> stats/schema/validation ->
Transform (image + tokenizer vocabulary) -> Trainer -> CaptionEvaluator (BLEU-4 / CIDEr-D gate
against the latest blessed model) + ServingCheck -> Pusher, EdgeExport (encoder + one-step
decoder, TFLite/ONNX, each scored by BLEU-4) -> RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.caption_eval.component import CaptionEvaluator
from pipelines import config_loader
from pipelines.captioning.config import CaptioningConfig
from pipelines.captioning.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag


def create_pipeline(cfg: CaptioningConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime,
                       reader_options=cfg.text.reader_options(),
                       transform_config={"text": config_loader.to_dict(cfg.text)})
  trainer = dag.trainer(TASK, data, cfg, runtime)
  baseline = dag.baseline_resolver()
  gate = cfg.evaluation
  evaluator = CaptionEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      baseline_model=baseline.outputs["model"],
      bleu4_lower_bound=gate.bleu4_lower_bound, cider_d_lower_bound=gate.cider_d_lower_bound,
      max_bleu4_drop=gate.max_bleu4_drop, max_cider_d_drop=gate.max_cider_d_drop,
      object_words=" ".join(gate.object_words),
      code_version=dag.code_version(CaptionEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
