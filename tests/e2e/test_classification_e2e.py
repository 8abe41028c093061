"""The whole classification DAG on the Beam DirectRunner, three runs in one metadata store:
a first run that pushes, an unchanged rerun served from the cache, and a worse candidate that the
Evaluator's change threshold blocks."""

import base64
import json
import os
import subprocess
import sys

import pytest

from components.edge_export import export
from components.run_report import report as report_lib
from pipelines import runners
from tests.conftest import digit_images, write_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPONENTS = ["ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Trainer", "latest_blessed_model_resolver", "Evaluator", "ServingCheck", "EdgeExport",
              "Pusher", "RunReport"]
# Components that depend only on the data, the code and the config.
DETERMINED_BY_INPUTS = ["ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator",
                        "Transform", "Trainer", "ServingCheck", "EdgeExport"]

CONFIG = {"classification": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "train": {"epochs": 15, "batch_size": 8, "early_stopping_patience": 0},
    "evaluation": {"accuracy_lower_bound": 0.6},
    "export": {"int8_max_quality_drop": 0.2, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("e2e")
  data = tmp / "data"
  write_folder(data, digit_images(classes=(0, 1, 7), per_class=16))
  (data / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
  out = tmp / "out"
  lines = []
  first = runners.run_task("classification", str(out), data=str(data), overrides=CONFIG,
                           emit=lines.append)
  second = runners.run_task("classification", str(out), data=str(data), overrides=CONFIG,
                            emit=lines.append)
  worse = {"classification": {**CONFIG["classification"],
                              "train": {"epochs": 1, "learning_rate": 0.0, "batch_size": 8},
                              "evaluation": {"accuracy_lower_bound": 0.0}}}
  third = runners.run_task("classification", str(out), data=str(data), overrides=worse,
                           emit=lines.append)
  return {"first": first, "second": second, "third": third, "lines": lines, "data": data}


def test_every_component_ran_once_and_printed_progress(runs):
  first = runs["first"]  # node results read right after the first run
  assert sorted(first.nodes) == sorted(COMPONENTS)
  for name in COMPONENTS:
    assert first.nodes[name].executions == 1, name
  starts = [i for i, line in enumerate(runs["lines"]) if line.startswith("running ")]
  first_run_lines = runs["lines"][starts[0]:starts[1]]
  done = sorted(line.split("] ")[1].split(" ")[0] for line in first_run_lines
                if " done in " in line)
  assert done == sorted(COMPONENTS)
  assert all(f"/{len(COMPONENTS)}] " in line for line in first_run_lines[1:])


def test_first_run_counts(runs):
  # Metadata is shared by the three runs: the first run's executions are the first per node.
  first = runs["first"]
  for name in DETERMINED_BY_INPUTS:
    assert first.nodes[name].last_state == "COMPLETE", name
  assert first.output_properties("ImageIngest", "examples")["num_quarantined"] == 1


def test_pushed_model_serves_a_rest_request_in_a_fresh_process(runs):
  first = runs["first"]
  assert first.output_properties("ServingCheck", "blessing")["blessed"] == 1
  pushed = first.output_properties("Pusher", "pushed_model")
  assert pushed["pushed"] == 1
  version_dir = pushed["pushed_destination"]
  assert os.path.exists(os.path.join(version_dir, "saved_model.pb"))
  images = sorted((runs["data"] / "7").glob("00*.png"))[:3]
  request = {"signature_name": "serving_default",
             "instances": [{"b64": base64.b64encode(p.read_bytes()).decode()} for p in images]}
  proc = subprocess.run([sys.executable, "-m", "components.serving_check.rest", os.path.dirname(version_dir)],
                        input=json.dumps(request), capture_output=True, text=True, timeout=300,
                        check=True)
  response = json.loads(proc.stdout.strip().splitlines()[-1])
  predictions = response["predictions"]
  assert len(predictions) == 3
  for p in predictions:
    assert set(p) == {"classes", "scores", "predicted_class", "predicted_score"}
    assert sorted(p["classes"]) == ["0", "1", "7"]
    assert abs(sum(p["scores"]) - 1) < 1e-4
    assert p["predicted_class"] in {"0", "1", "7"}


def test_edge_models_exist_and_predict_the_eval_split(runs):
  first = runs["first"]
  edge_dir = first.output_uri("EdgeExport", "edge_model")
  metrics = json.load(open(os.path.join(edge_dir, export.METRICS_FILE)))
  transformed = first.output_uri("Transform", "transformed_examples")
  x, y = export.load_transformed_examples(os.path.join(transformed, "Split-eval", "*"),
                                          "image_xf", "label_xf", (16, 16, 1))
  int8 = export.tflite_predict(os.path.join(edge_dir, "model_int8.tflite"), x)
  onnx = export.onnx_predict(os.path.join(edge_dir, "model.onnx"), x)
  assert int8.shape == onnx.shape == (len(y), 3)
  assert float((int8.argmax(1) == y).mean()) == pytest.approx(
      metrics["models"]["tflite_int8"]["accuracy"])
  assert float((onnx.argmax(1) == y).mean()) == pytest.approx(metrics["keras"]["accuracy"])


def test_report_is_written(runs):
  report_dir = runs["first"].output_uri("RunReport", "report")
  text = open(os.path.join(report_dir, report_lib.REPORT_FILE)).read()
  for needle in ("BLESSED", "Serving check: <span class='ok'>passed", "Confusion matrix", "Sample eval predictions", "model_int8.tflite",
                 "broken.png", "truncated png"):
    assert needle in text, needle


def test_unchanged_rerun_is_served_from_the_cache(runs):
  second = runs["second"]
  for name in DETERMINED_BY_INPUTS:
    assert second.nodes[name].last_state == "CACHED", name
  # The Evaluator re-checks the same model against itself as the new baseline (TFX semantics);
  # the Pusher recognises it and publishes no second version.
  pushed = second.output_properties("Pusher", "pushed_model")
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  assert pushed["pushed_destination"] == first_pushed["pushed_destination"]
  assert sorted(os.listdir(os.path.dirname(pushed["pushed_destination"]))) == [
      first_pushed["pushed_version"]]


def test_worse_candidate_is_not_blessed_and_not_pushed(runs):
  third = runs["third"]
  assert third.nodes["Trainer"].last_state == "COMPLETE"
  assert third.output_properties("Evaluator", "blessing")["blessed"] == 0
  assert third.output_properties("Pusher", "pushed_model")["pushed"] == 0
  evaluation = report_lib.read_evaluation(third.output_uri("Evaluator", "evaluation"))
  # Above the (zero) lower bound, so the change threshold against the baseline blocked it.
  assert evaluation.baseline["sparse_categorical_accuracy"] > evaluation.overall[
      "sparse_categorical_accuracy"]
  assert evaluation.validation_failures
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  serving = os.path.dirname(first_pushed["pushed_destination"])
  assert sorted(os.listdir(serving)) == [first_pushed["pushed_version"]]
