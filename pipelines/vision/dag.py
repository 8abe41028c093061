"""DAG pieces every image task wires the same way: the data half (ingest -> statistics -> schema ->
validation -> Transform), the Trainer, and the delivery half (serving check -> atomic push ->
edge export -> report). Task pipelines call these and add their own evaluation in between."""

from __future__ import annotations

import dataclasses

from tfx import v1 as tfx

from components.atomic_pusher.component import AtomicPusher
from components.edge_export.component import EdgeExport
from components.image_ingest.component import ImageIngest
from components.run_report.component import RunReport
from components.embedding_index import embed
from components.serving_check import check as serving_check_lib
from components.serving_check.component import ServingCheck
from pipelines import config_loader
from pipelines.runtime import PipelineRuntime
from pipelines.vision import transform as image_transform
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig


@dataclasses.dataclass(frozen=True)
class DataHalf:
  ingest: ImageIngest
  statistics: tfx.components.StatisticsGen
  schema: tfx.components.SchemaGen
  validator: tfx.components.ExampleValidator
  transform: tfx.components.Transform

  @property
  def components(self) -> list:
    return [self.ingest, self.statistics, self.schema, self.validator, self.transform]


def data_half(data: DataConfig, image: ImageConfig, runtime: PipelineRuntime,
              face_align: dict | None = None, split_by: str = "file") -> DataHalf:
  """ImageIngest -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (shared fn)."""
  ingest = ImageIngest(
      source=runtime.data_source, labels=data.labels, train_percent=data.train_percent,
      max_file_bytes=data.max_file_bytes, max_pixels=data.max_pixels,
      face_align=face_align, split_by=split_by, input_fingerprint=runtime.input_fingerprint,
      code_version=runtime.code_version)
  statistics = tfx.components.StatisticsGen(examples=ingest.outputs["examples"])
  schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"],
                                    infer_feature_shape=True)
  validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                              schema=schema.outputs["schema"])
  transform = tfx.components.Transform(
      examples=ingest.outputs["examples"], schema=schema.outputs["schema"],
      preprocessing_fn=image_transform.PREPROCESSING_FN,
      custom_config=image_transform.transform_custom_config(image, runtime.code_version))
  return DataHalf(ingest, statistics, schema, validator, transform)


def trainer(run_fn: str, data: DataHalf, task: str, cfg, sections: tuple[str, ...],
            code_version: str) -> tfx.components.Trainer:
  """The standard Trainer on the transformed examples.

  Only the config `sections` training reads are passed (as `custom_config[task]`), so changing
  a gate, the index or the export re-runs what follows the Trainer, not the training.
  """
  custom_config = {task: {s: config_loader.to_dict(getattr(cfg, s)) for s in sections},
                   "code_version": code_version}
  return tfx.components.Trainer(
      run_fn=run_fn,
      examples=data.transform.outputs["transformed_examples"],
      transform_graph=data.transform.outputs["transform_graph"],
      schema=data.schema.outputs["schema"],
      train_args=tfx.proto.TrainArgs(),
      eval_args=tfx.proto.EvalArgs(),
      custom_config=custom_config)


def delivery_half(model, blessing, evaluation, data: DataHalf, export: ExportConfig,
                  runtime: PipelineRuntime, model_name: str, kind: str = "classifier",
                  k: int = 10) -> list:
  """ServingCheck -> AtomicPusher -> EdgeExport -> RunReport for `model` (a Model channel),
  pushed only with the evaluator's `blessing` and the serving check's.

  Args:
    kind: "classifier" or "embedding" (what the serving check and edge export measure).
  """
  expected, compared = ((serving_check_lib.EXPECTED_OUTPUTS, "scores") if kind == "classifier"
                        else ((embed.EMBEDDING_OUTPUT,), embed.EMBEDDING_OUTPUT))
  serving_check = ServingCheck(model=model, examples=data.ingest.outputs["examples"],
                               expected_outputs=",".join(expected), compare_output=compared,
                               code_version=runtime.code_version)
  pusher = AtomicPusher(
      model=model, model_blessing=blessing, infra_blessing=serving_check.outputs["blessing"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=runtime.serving_model_dir(model_name))),
  ).with_id("Pusher")
  edge = EdgeExport(
      model=model, transformed_examples=data.transform.outputs["transformed_examples"],
      image_key=image_transform.xf(image_transform.IMAGE_KEY),
      label_key=image_transform.xf(image_transform.LABEL_KEY),
      int8_max_quality_drop=export.int8_max_quality_drop,
      representative_examples=export.representative_examples, onnx_opset=export.onnx_opset,
      kind=kind, k=k, code_version=runtime.code_version)
  report = RunReport(
      examples=data.ingest.outputs["examples"], model=model, evaluation=evaluation,
      blessing=blessing, infra_blessing=serving_check.outputs["blessing"],
      edge_model=edge.outputs["edge_model"], pushed_model=pusher.outputs["pushed_model"],
      title=f"{runtime.pipeline_name}: {model_name}", code_version=runtime.code_version)
  return [serving_check, pusher, edge, report]


def pipeline(runtime: PipelineRuntime, components: list) -> tfx.dsl.Pipeline:
  return tfx.dsl.Pipeline(
      pipeline_name=runtime.pipeline_name,
      pipeline_root=runtime.pipeline_root,
      components=components,
      enable_cache=runtime.enable_cache,
      metadata_connection_config=runtime.metadata_connection_config(),
      beam_pipeline_args=list(runtime.beam_pipeline_args))
