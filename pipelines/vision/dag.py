"""DAG pieces every image task wires the same way, driven by its registered `Task`: the data half
(ingest -> statistics -> schema -> validation -> Transform), the Trainer, and the delivery half
(serving check -> atomic push -> edge export -> report). Task pipelines call these and add their
own evaluation in between. Each component's `code_version` hashes only the code it runs
(`components.common.fingerprint`), so an edit re-runs what it touches and no more.
"""

from __future__ import annotations

import dataclasses

from tfx.components import Evaluator
from tfx.components import ExampleValidator
from tfx.components import SchemaGen
from tfx.components import StatisticsGen
from tfx.components import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components.atomic_pusher.component import AtomicPusher
from components.common import fingerprint
from components.common.contract import Task
from components.edge_export.component import EdgeExport
from components.image_ingest import readers
from components.image_ingest.component import ImageIngest
from components.run_report.component import RunReport
from components.trainer.component import Trainer
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
  statistics: StatisticsGen
  schema: SchemaGen
  validator: ExampleValidator
  transform: Transform

  @property
  def components(self) -> list:
    return [self.ingest, self.statistics, self.schema, self.validator, self.transform]


def code_version(component, task: Task | None = None) -> str:
  """The fingerprint of a custom component's module (and the task module it loads)."""
  module = getattr(component, "__module__", component)
  return fingerprint.of(module, *((task.module,) if task else ()))


def reader_for(task: Task, data: DataConfig, source: str) -> str:
  """The ingest reader of `source`: the configured `data.reader` (one the task accepts) or the
  detected one."""
  if data.reader and task.readers and data.reader not in task.readers:
    raise ValueError(f"data.reader {data.reader!r} is not one of the {task.name} task's readers "
                     f"{list(task.readers)}")
  return readers.get(data.reader).name if data.reader else readers.detect(source, task.readers)


def data_half(task: Task, data: DataConfig, image: ImageConfig, runtime: PipelineRuntime,
              face_align: dict | None = None, split_by: str = "file",
              reader_options: dict | None = None,
              transform_config: dict | None = None) -> DataHalf:
  """ImageIngest (with the task's reader for the source) -> StatisticsGen -> SchemaGen ->
  ExampleValidator -> Transform (the task's preprocessing_fn, whose `custom_config` holds the
  image section and any task sections in `transform_config`)."""
  ingest = ImageIngest(
      source=runtime.ingest_source(),
      reader=reader_for(task, data, runtime.data_source),
      labels=data.labels, train_percent=data.train_percent,
      max_file_bytes=data.max_file_bytes, max_pixels=data.max_pixels,
      face_align=face_align, split_by=split_by, channels=image.channels,
      input_fingerprint=runtime.input_fingerprint, reader_options=reader_options,
      code_version=code_version(ImageIngest))
  statistics = StatisticsGen(examples=ingest.outputs["examples"])
  schema = SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
  validator = ExampleValidator(statistics=statistics.outputs["statistics"],
                               schema=schema.outputs["schema"])
  # No pre-/post-transform statistics: StatisticsGen has the raw ones, and those of transformed
  # pixels (thousands of values per example) cost Transform seconds and say nothing.
  transform = Transform(
      examples=ingest.outputs["examples"], schema=schema.outputs["schema"],
      preprocessing_fn=task.preprocessing_fn, disable_statistics=True,
      custom_config={**image_transform.transform_custom_config(
          image, fingerprint.of(task.preprocessing_fn)), **(transform_config or {})})
  return DataHalf(ingest, statistics, schema, validator, transform)


def trainer(task: Task, data: DataHalf, cfg, runtime: PipelineRuntime) -> Trainer:
  """The Trainer on the transformed examples, running the task's `run_fn` in its step, or as a
  Vertex AI custom training job when the runtime says so.

  Only the config sections training reads (`task.trainer_sections`) are passed (as
  `custom_config[task.name]`), so changing a gate, the index or the export re-runs what follows
  the Trainer, not the training. Compiled for Kubeflow / Vertex, `epochs` and `learning_rate` are
  runtime parameters defaulting to the configured `train` values.
  """
  custom_config = {task.name: {s: config_loader.to_dict(getattr(cfg, s))
                               for s in task.trainer_sections},
                   "code_version": fingerprint.of(task.run_fn, "components.trainer.overrides"),
                   **runtime.vertex_training}
  if runtime.vertex_training:
    from components.trainer.vertex import VertexTrainer as component  # pylint: disable=g-import-not-at-top
  else:
    component = Trainer
  tunable = {}
  if runtime.data_as_parameter:
    from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
    for name, kind in (("epochs", int), ("learning_rate", float)):
      configured = [getattr(getattr(cfg, s), name) for s in task.trainer_sections
                    if hasattr(getattr(cfg, s), name)]
      if configured:
        tunable[name] = data_types.RuntimeParameter(name=name, ptype=kind,
                                                    default=kind(configured[0]))
  return component(
      run_fn=task.run_fn,
      examples=data.transform.outputs["transformed_examples"],
      transform_graph=data.transform.outputs["transform_graph"],
      schema=data.schema.outputs["schema"],
      custom_config=custom_config, **tunable).with_id("Trainer")


def baseline_resolver() -> Resolver:
  """The latest blessed model: the baseline an evaluator compares the candidate with."""
  return Resolver(
      strategy_class=latest_blessed_model_strategy.LatestBlessedModelStrategy,
      model=Channel(type=standard_artifacts.Model),
      model_blessing=Channel(type=standard_artifacts.ModelBlessing),
  ).with_id("latest_blessed_model_resolver")


def delivery_half(task: Task, cfg, model, model_run, blessing, evaluation, data: DataHalf,
                  export: ExportConfig, runtime: PipelineRuntime) -> list:
  """ServingCheck -> AtomicPusher (-> a Vertex AI Endpoint push when the runtime has one) ->
  EdgeExport -> RunReport for `model` (a Model channel),
  pushed only with the evaluator's `blessing` and the serving check's. The serving check, edge
  export and report follow the task's contracts; `model_run` is the Trainer's ModelRun (training
  curves and TensorBoard logs for the report)."""
  serving_check = ServingCheck(model=model, examples=data.ingest.outputs["examples"],
                               task=task.ref, code_version=code_version(ServingCheck, task))
  pusher = AtomicPusher(
      model=model, model_blessing=blessing, infra_blessing=serving_check.outputs["blessing"],
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(
              base_directory=runtime.serving_model_dir(cfg.model_name))),
  ).with_id("Pusher")
  edge = EdgeExport(
      model=model, transformed_examples=data.transform.outputs["transformed_examples"],
      transform_graph=data.transform.outputs["transform_graph"], task=task.ref,
      edge_params={k: float(v) for k, v in task.edge_params(cfg).items()},
      int8_max_quality_drop=export.int8_max_quality_drop,
      representative_examples=export.representative_examples, onnx_opset=export.onnx_opset,
      code_version=code_version(EdgeExport, task))
  report = RunReport(
      examples=data.ingest.outputs["examples"], model=model, model_run=model_run,
      evaluation=evaluation, blessing=blessing, infra_blessing=serving_check.outputs["blessing"],
      edge_model=edge.outputs["edge_model"], pushed_model=pusher.outputs["pushed_model"],
      task=task.ref, title=f"{runtime.pipeline_name}: {cfg.model_name}",
      pipeline_name=runtime.pipeline_name, metadata_path=runtime.metadata_path or "", code_version=code_version(RunReport, task))
  endpoint = []
  if runtime.vertex_endpoint:  # the same gates as the TF Serving push
    # Imported here: TFX's Vertex extensions import google-cloud-aiplatform (3.5 s).
    from tfx.extensions.google_cloud_ai_platform.pusher import component as vertex  # pylint: disable=g-import-not-at-top
    endpoint = [vertex.Pusher(
        model=model, model_blessing=blessing, infra_blessing=serving_check.outputs["blessing"],
        custom_config=runtime.vertex_endpoint).with_id("VertexEndpointPusher")]
  return [serving_check, pusher, *endpoint, edge, report]


def tfma_half(task: Task, cfg, data: DataHalf, eval_config, runtime: PipelineRuntime) -> list:
  """Trainer -> TFX's Evaluator (TFMA `eval_config`, against the latest blessed model) ->
  the delivery half: the model half of tasks gated by TFMA (image and video classifiers)."""
  trainer_node = trainer(task, data, cfg, runtime)
  baseline = baseline_resolver()
  evaluator = Evaluator(
      examples=data.ingest.outputs["examples"], model=trainer_node.outputs["model"],
      baseline_model=baseline.outputs["model"], eval_config=eval_config)
  delivery = delivery_half(
      task, cfg, trainer_node.outputs["model"], trainer_node.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return [trainer_node, baseline, evaluator, *delivery]


def with_resources(components: list, step_resources: dict) -> list:
  """Sets each named step's container resources (`StepResources` by component id)."""
  ids = [c.id for c in components]
  unknown = sorted(set(step_resources) - set(ids))
  if unknown:
    raise ValueError(f"infra.kubeflow.resources names no step of this pipeline: {unknown}; "
                     f"its steps: {ids}")
  for component in components:
    if component.id in step_resources:
      component.with_platform_config(step_resources[component.id].platform_config())
  return components


def pipeline(runtime: PipelineRuntime, components: list) -> Pipeline:
  components = with_resources(components, runtime.step_resources)
  return Pipeline(
      pipeline_name=runtime.pipeline_name,
      pipeline_root=runtime.pipeline_root,
      components=components,
      enable_cache=runtime.enable_cache,
      metadata_connection_config=runtime.metadata_connection_config(),
      beam_pipeline_args=list(runtime.beam_pipeline_args))
