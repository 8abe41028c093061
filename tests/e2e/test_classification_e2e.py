"""The whole classification DAG on the Beam DirectRunner, three runs in one metadata store:
a first run that pushes, an unchanged rerun served from the cache, and a worse candidate that the
Evaluator's change threshold blocks."""

import base64
import json
import os
import subprocess
import sys

import pytest

from components.common import outcome
from components.run_report import report as report_lib
from pipelines import runners
from pipelines import tasks
from tests import kit
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


def test_task_kit(runs):
  image = str(sorted((runs["data"] / "7").glob("00*.png"))[0])
  kit.check_e2e(tasks.get("classification"), {**runs, "worse": runs["third"]}, image, CONFIG)


def test_cli_prints_the_gate_and_predict_prints_the_class(runs, capsys):
  from pipelines import cli
  cli.print_outcome(tasks.get("classification"), runs["first"])
  printed = capsys.readouterr().out
  assert "gate:           sparse_categorical_accuracy = " in printed
  assert "(lower bound 0.6: ok)" in printed and "(blessed for edge)" in printed
  cli.print_outcome(tasks.get("classification"), runs["third"])
  printed = capsys.readouterr().out
  assert "NOT pushed (the Evaluator did not bless it)" in printed
  assert "FAILED" in printed and "the serving model was not blessed" in printed
  version_dir = runs["first"].output_properties("Pusher", "pushed_model")["pushed_destination"]
  seven = str(sorted((runs["data"] / "7").glob("00*.png"))[0])
  assert cli.main(["predict", "--model", os.path.dirname(version_dir), seven]) == 0
  assert capsys.readouterr().out.startswith(f"{seven}: 7 (")
  assert cli.main(["predict", "--model", os.path.dirname(version_dir), "/no/such.png"]) == 2
  assert "cvpipe: error: /no/such.png: cannot read image" in capsys.readouterr().err
  broken = str(runs["data"] / "1" / "broken.png")
  assert cli.main(["predict", "--model", os.path.dirname(version_dir), broken]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"cvpipe: error: {broken}: the classification model cannot answer")
  assert err.count("\n") == 1


def test_report_is_written(runs):
  report_dir = runs["first"].output_uri("RunReport", "report")
  text = open(os.path.join(report_dir, report_lib.REPORT_FILE)).read()
  for needle in ("BLESSED", "Serving check:\n<span class=\"ok\">passed", "Confusion matrix",
                 "Sample eval predictions", "model_int8.tflite", "broken.png", "truncated png",
                 "Loss and metrics per epoch", "Time per component"):
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
  evaluation = outcome.read(third.output_uri("Evaluator", "evaluation"))
  # Above the (zero) lower bound, so the change threshold against the baseline blocked it.
  assert evaluation["baseline"]["sparse_categorical_accuracy"] > evaluation["metrics"][
      "sparse_categorical_accuracy"]
  assert evaluation["failures"] and not evaluation["thresholds"][
      "sparse_categorical_accuracy"]["ok"]
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  serving = os.path.dirname(first_pushed["pushed_destination"])
  assert sorted(os.listdir(serving)) == [first_pushed["pushed_version"]]
