"""The image-classification DAG: ingest -> stats/schema/validation -> Transform -> Trainer ->
Evaluator (blessing gate) + ServingCheck (serves REST?) -> Pusher, EdgeExport (TFLite/ONNX) ->
RunReport. Wiring only."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from pipelines.classification.config import ClassificationConfig
from pipelines.classification.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag
from pipelines.vision import transform as image_transform


def eval_config(cfg: ClassificationConfig) -> tfma.EvalConfig:
  """Accuracy lower bound and change threshold on the overall slice; metrics per class."""
  gate = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(
          lower_bound={"value": cfg.evaluation.accuracy_lower_bound}),
      change_threshold=tfma.GenericChangeThreshold(
          direction=tfma.MetricDirection.HIGHER_IS_BETTER,
          absolute={"value": -cfg.evaluation.max_accuracy_drop - 1e-9}))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name="serving_examples",
          label_key=image_transform.xf(image_transform.LABEL_KEY),
          prediction_key="scores", preprocessing_function_names=["transform_features"])],
      # Overall, and one slice per true class (its accuracy there is the class's recall).
      slicing_specs=[tfma.SlicingSpec(),
                     tfma.SlicingSpec(feature_keys=[image_transform.LABEL_KEY])],
      metrics_specs=[tfma.MetricsSpec(
          metrics=[tfma.MetricConfig(
                       class_name="SparseCategoricalAccuracy",
                       # The gate applies to the overall slice only, not to each class.
                       per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                           slicing_specs=[tfma.SlicingSpec()], threshold=gate)]),
                   tfma.MetricConfig(class_name="ExampleCount"),
                   tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")])])


def create_pipeline(cfg: ClassificationConfig, runtime: PipelineRuntime) -> tfx.dsl.Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  trainer = dag.trainer(TASK, data, cfg)
  baseline = dag.baseline_resolver()
  evaluator = tfx.components.Evaluator(
      examples=data.ingest.outputs["examples"], model=trainer.outputs["model"],
      baseline_model=baseline.outputs["model"], eval_config=eval_config(cfg))
  delivery = dag.delivery_half(
      TASK, cfg, trainer.outputs["model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, baseline, evaluator, *delivery])
