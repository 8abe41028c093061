"""The image-classification DAG: ingest -> stats/schema/validation -> Transform -> Trainer ->
Evaluator (blessing gate) + ServingCheck (serves REST?) -> Pusher, EdgeExport (TFLite/ONNX) ->
RunReport. Wiring only."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.atomic_pusher.component import AtomicPusher
from components.edge_export.component import EdgeExport
from components.image_ingest.component import ImageIngest
from components.run_report.component import RunReport
from components.serving_check.component import ServingCheck
from pipelines import config_loader
from pipelines.classification import model
from pipelines.classification.config import ClassificationConfig
from pipelines.runtime import PipelineRuntime
from pipelines.vision import transform as image_transform

TASK = "classification"


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
  ingest = ImageIngest(
      source=runtime.data_source, labels=cfg.data.labels, train_percent=cfg.data.train_percent,
      max_file_bytes=cfg.data.max_file_bytes, max_pixels=cfg.data.max_pixels,
      input_fingerprint=runtime.input_fingerprint, code_version=runtime.code_version)
  statistics = tfx.components.StatisticsGen(examples=ingest.outputs["examples"])
  schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"],
                                    infer_feature_shape=True)
  validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                              schema=schema.outputs["schema"])
  transform = tfx.components.Transform(
      examples=ingest.outputs["examples"], schema=schema.outputs["schema"],
      preprocessing_fn=image_transform.PREPROCESSING_FN,
      custom_config=image_transform.transform_custom_config(cfg.image, runtime.code_version))
  trainer = tfx.components.Trainer(
      run_fn=model.RUN_FN,
      examples=transform.outputs["transformed_examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=schema.outputs["schema"],
      train_args=tfx.proto.TrainArgs(),
      eval_args=tfx.proto.EvalArgs(),
      custom_config={"classification": config_loader.to_dict(cfg),
                     "code_version": runtime.code_version})
  baseline = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id("latest_blessed_model_resolver")
  evaluator = tfx.components.Evaluator(
      examples=ingest.outputs["examples"], model=trainer.outputs["model"],
      baseline_model=baseline.outputs["model"], eval_config=eval_config(cfg))
  serving_check = ServingCheck(model=trainer.outputs["model"],
                               examples=ingest.outputs["examples"],
                               code_version=runtime.code_version)
  pusher = AtomicPusher(
      model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
      infra_blessing=serving_check.outputs["blessing"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=runtime.serving_model_dir(cfg.model_name))),
  ).with_id("Pusher")
  edge = EdgeExport(
      model=trainer.outputs["model"],
      transformed_examples=transform.outputs["transformed_examples"],
      image_key=image_transform.xf(image_transform.IMAGE_KEY),
      label_key=image_transform.xf(image_transform.LABEL_KEY),
      int8_max_quality_drop=cfg.export.int8_max_quality_drop,
      representative_examples=cfg.export.representative_examples,
      onnx_opset=cfg.export.onnx_opset, code_version=runtime.code_version)
  report = RunReport(
      examples=ingest.outputs["examples"], model=trainer.outputs["model"],
      evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"],
      infra_blessing=serving_check.outputs["blessing"],
      edge_model=edge.outputs["edge_model"], pushed_model=pusher.outputs["pushed_model"],
      title=f"{runtime.pipeline_name}: {cfg.model_name}", code_version=runtime.code_version)
  return tfx.dsl.Pipeline(
      pipeline_name=runtime.pipeline_name,
      pipeline_root=runtime.pipeline_root,
      components=[ingest, statistics, schema, validator, transform, trainer, baseline,
                  evaluator, serving_check, pusher, edge, report],
      enable_cache=runtime.enable_cache,
      metadata_connection_config=runtime.metadata_connection_config(),
      beam_pipeline_args=list(runtime.beam_pipeline_args))
