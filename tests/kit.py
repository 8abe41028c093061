"""The shared task test kit (keras-hub's `run_task_test` idea): what every registered task must
pass, so a new task inherits its tests. `tests/test_task_kit.py` runs the fast checks for every
registered task (the toy task of `tests/toy_task/` included); each task's e2e module runs its DAG
and calls `check_e2e`.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from components.common import contract
from components.common import keras_bundle
from components.common import outcome
from components.common.contract import Task
from components.image_ingest import readers
from pipelines import runners
from tests import golden

KUBEFLOW = {"image": "europe-docker.pkg.dev/p/cvpipe/cvpipe:1.2.3",
            "pipeline_root": "gs://b/root", "serving_dir": "gs://b/serving",
            "beam_pipeline_args": ["--runner=DataflowRunner", "--project=p",
                                   "--region=europe-west4", "--temp_location=gs://b/tmp"]}
# Nodes whose outputs depend only on the data, the code and the training config: an unchanged
# rerun serves them from the cache.
DETERMINED_BY_INPUTS = ("ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator",
                        "Transform", "Trainer", "ServingCheck", "EdgeExport")


# ---------------------------------------------------------------------------------------------
# Fast checks


def check_declaration(task: Task) -> None:
  """Every dotted path imports, readers are registered, the config has the shared sections."""
  from pipelines.vision import serving  # pylint: disable=g-import-not-at-top
  for path in (task.pipeline, task.preprocessing_fn, task.run_fn, *task.report_sections,
               task.evaluation.tfma_config or task.evaluation.component):
    assert callable(contract.load_object(path)), path
  assert issubclass(contract.load_object(task.serving_module), serving.ServingModule)
  assert task.features and set(task.features.values()) <= {"bytes", "int64", "float"}
  assert contract.load_task(task.ref) is task
  assert set(task.readers) <= set(readers.names()), task.readers
  defaults = task.config()
  for section in ("model_name", "data", "export", *task.trainer_sections):
    assert hasattr(defaults, section), section
  assert task.serving.compare in task.serving.outputs
  if task.edge.quality is not None:
    assert task.edge.quality_metric and task.edge.agreement_metric
  else:
    assert task.edge.not_exportable


def check_config(task: Task, tmp_path) -> None:
  """Defaults load; an unknown key in a YAML file is an error naming the file and the key."""
  from pipelines.config_loader import ConfigError  # pylint: disable=g-import-not-at-top
  run = task.load_config(None, None)
  assert task.task_config(run) == task.config()
  bad = tmp_path / "bad.yaml"
  bad.write_text(f"{task.name}:\n  no_such_key: 1\n")
  with pytest.raises(ConfigError, match=rf"{task.name}\.no_such_key"):
    task.load_config(str(bad), None)


def compiled_spec(task: Task, tmp_path) -> dict:
  path = runners.compile_task(task.name, data="gs://b/data/",
                              overrides={"infra": {"kubeflow": KUBEFLOW}},
                              output_file=str(tmp_path / f"{task.name}.json"))
  with open(path) as f:
    return json.load(f)


def check_compile(task: Task, tmp_path, update_goldens: bool) -> None:
  """The Kubeflow V2 spec matches its golden file exactly (normalised)."""
  spec = compiled_spec(task, tmp_path)
  nodes = set(spec["pipelineSpec"]["root"]["dag"]["tasks"])
  assert {"ImageIngest", "Transform", "Trainer", task.evaluation.node, "ServingCheck", "Pusher",
          "EdgeExport", "RunReport"} <= nodes
  golden.check(f"compile/{task.name}.json", golden.normalise_pipeline_spec(spec), update_goldens)


def check_report_renders(task: Task) -> None:
  """The report renders for the task with an outcome and no eval examples to show."""
  from components.run_report import report  # pylint: disable=g-import-not-at-top
  result = outcome.new("Evaluation", {"m": 0.5}, {"m": {"lower_bound": 0.1, "value": 0.5,
                                                         "ok": True}}, [])
  inputs = report.SectionInputs(evaluation=result, class_names=["a"], serving_model_dir="",
                                eval_examples=[])
  sections = [s for s in (contract.load_object(p)(inputs) for p in task.report_sections) if s]
  text = report.render(task.name, task.name, result, blessed=True, serving_check={},
                       ingest_summary={}, quarantine=[], edge_metrics=None, artifacts={},
                       pushed_to=None, sections=sections)
  assert f"<code>{task.name}</code>" in text and "lower bound 0.1" in text


# ---------------------------------------------------------------------------------------------
# End to end


def three_runs(task_name: str, out: str, data: str, overrides: dict, worse_train: dict) -> dict:
  """The runs `check_e2e` takes: `first` with `overrides`, an unchanged `second`, and `worse`
  with the task's `train` section updated by `worse_train` (a candidate its gate must block)."""
  section = overrides[task_name]
  worse = {**overrides, task_name: {**section, "train": {**section["train"], **worse_train}}}
  return {"first": runners.run_task(task_name, out, data=data, overrides=overrides, emit=print),
          "second": runners.run_task(task_name, out, data=data, overrides=overrides, emit=print),
          "worse": runners.run_task(task_name, out, data=data, overrides=worse, emit=print),
          "data": data}


def check_e2e(task: Task, runs: dict, image_path: str, overrides: dict) -> None:
  """A task's three local runs in one metadata store: `first` (blessed and pushed, with config
  `overrides`), `second` (unchanged rerun) and `worse` (a candidate the task's gate must block).

  Asserts every component ran once, the pushed model is byte for byte the model the
  ServingCheck served in a fresh process and answers a TF Serving REST request as the serving
  contract says, `cvpipe predict` answers for `image_path`, the edge
  models exist and their recorded scores are reproduced, the report is written, the rerun is
  served from the cache, and the worse candidate is not pushed.
  """
  from components.atomic_pusher import executor as pusher  # pylint: disable=g-import-not-at-top
  from components.serving_check import check  # pylint: disable=g-import-not-at-top
  from components.serving_check import rest  # pylint: disable=g-import-not-at-top
  first, second, worse = runs["first"], runs["second"], runs["worse"]
  for name, node in first.nodes.items():
    assert node.executions == 1, name
  _check_examples(task, first.output_uri("ImageIngest", "examples"))
  assert first.output_properties(task.evaluation.node, "blessing")["blessed"] == 1
  pushed = first.output_properties("Pusher", "pushed_model")
  assert pushed["pushed"] == 1
  version_dir = pushed["pushed_destination"]
  # The ServingCheck's fresh process answered REST requests from this model (a new process per
  # e2e module would cost ~10 s of imports each; `test_classification_e2e` keeps one).
  assert first.output_properties("ServingCheck", "blessing")["blessed"] == 1
  with open(os.path.join(first.output_uri("ServingCheck", "blessing"), check.REPORT_FILE)) as f:
    served = json.load(f)["model_dir"]
  assert pusher.tree_digest(version_dir) == pusher.tree_digest(served)
  rows = [task.serving.row_from_file(image_path, open(image_path, "rb").read())]
  response = rest.predict(
      os.path.dirname(version_dir),
      check.rest_request(task.serving.instances(rows), task.serving.signature))
  assert len(response["predictions"]) == 1
  assert set(task.serving.outputs) <= set(response["predictions"][0])
  _check_predict_cli(task, os.path.dirname(version_dir), image_path)
  _check_edge(task, first, task.task_config(task.load_config(None, overrides)))
  report_dir = first.output_uri("RunReport", "report")
  text = open(os.path.join(report_dir, "report.html")).read()
  for needle in ("BLESSED", "Blessing gate", "Training", "Time per component", "Edge models"):
    assert needle in text, needle
  for name in DETERMINED_BY_INPUTS:
    assert second.nodes[name].last_state == "CACHED", name
  assert second.output_properties("Pusher", "pushed_model")["pushed_destination"] == version_dir
  assert worse.nodes["Trainer"].last_state == "COMPLETE"
  assert worse.output_properties(task.evaluation.node, "blessing")["blessed"] == 0
  assert worse.output_properties("Pusher", "pushed_model")["pushed"] == 0
  assert sorted(os.listdir(os.path.dirname(version_dir))) == [pushed["pushed_version"]]
  result = outcome.read(worse.output_uri(task.evaluation.node, "evaluation"))
  assert not result["blessed"] and result["failures"]


def _check_examples(task: Task, examples_uri: str) -> None:
  """Ingest wrote exactly the features the task declares, of the declared kinds."""
  import glob  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = glob.glob(os.path.join(examples_uri, "Split-eval", "*"))
  record = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").take(1)))
  example = tf.train.Example.FromString(record.numpy())
  kinds = {k: {"bytes_list": "bytes", "int64_list": "int64", "float_list": "float"}[
      f.WhichOneof("kind")] for k, f in example.features.feature.items()}
  assert kinds == dict(task.features)


def _check_predict_cli(task: Task, serving_dir: str, image_path: str) -> None:
  import contextlib  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  from pipelines import cli  # pylint: disable=g-import-not-at-top
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert cli.main(["predict", "--model", serving_dir, image_path]) == 0
  assert out.getvalue().startswith(f"{image_path}: "), out.getvalue()


def _check_edge(task: Task, result, cfg) -> None:
  """Every edge model exists, and the int8 and ONNX scores in metrics.json are reproduced."""
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from components.edge_export import export  # pylint: disable=g-import-not-at-top
  edge_dir = result.output_uri("EdgeExport", "edge_model")
  with open(os.path.join(edge_dir, export.METRICS_FILE)) as f:
    metrics = json.load(f)
  if task.edge.quality is None:
    assert not metrics["exportable"]
    return
  for m in metrics["models"].values():
    assert sum(os.path.getsize(os.path.join(edge_dir, f)) for f in m["files"]) == m["bytes"]
  spec = tft.TFTransformOutput(result.output_uri("Transform", "transform_graph"))
  features = export.load_transformed_examples(
      os.path.join(result.output_uri("Transform", "transformed_examples"), "Split-eval", "*"),
      spec.transformed_feature_spec())
  inputs = [features[k].astype(np.float32) for k in task.edge.inputs]
  keras_dir = keras_bundle.keras_dir(result.output_uri("Trainer", "model"))
  parts = export.parts_of(export.load_model(keras_dir, task.edge))
  reference = export.run_model(task.edge, {p: export.keras_predictor(m) for p, m in parts.items()},
                               inputs, export.read_preprocessing(keras_dir))
  quality = metrics["quality_metric"]
  params = task.edge_params(cfg)
  for name in ("tflite_int8", "onnx"):
    outputs = export.saved_outputs(edge_dir, name, keras_dir, task.edge, inputs)
    score = task.edge.quality(outputs, features, reference, **params)
    assert score[quality] == pytest.approx(metrics["models"][name][quality], abs=1e-6), name
