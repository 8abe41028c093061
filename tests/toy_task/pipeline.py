"""The toy brightness DAG: the shared data half, Trainer and delivery half, its own evaluator."""

from tfx.orchestration.pipeline import Pipeline

from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag
from tests.toy_task.config import ToyConfig
from tests.toy_task.evaluator import BrightnessEvaluator
from tests.toy_task.task import TASK


def create_pipeline(cfg: ToyConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  trainer = dag.trainer(TASK, data, cfg, runtime)
  evaluator = BrightnessEvaluator(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      max_mae=cfg.evaluation.max_mae, code_version=dag.code_version(BrightnessEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, evaluator, *delivery])
