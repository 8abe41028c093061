"""The whole similarity (verification) DAG on the Beam DirectRunner: a Siamese/contrastive run that
pushes a model with its threshold, an unchanged rerun served from the cache, and a semi-hard
triplet candidate trained on shuffled labels that the verification lower bound blocks."""

import base64
import json
import os

import pytest

from components.edge_export import export
from components.common import outcome
from components.run_report import report as report_lib
from components.serving_check import rest
from pipelines import runners
from pipelines import tasks
from tests import kit
from tests.conftest import digit_images, shuffled_labels, write_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPONENTS = ["ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Trainer", "VerificationEvaluator", "ServingCheck", "Pusher", "EdgeExport",
              "RunReport"]
CONFIG = {"similarity": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "train": {"epochs": 15, "classes_per_batch": 4, "examples_per_class": 4,
              "early_stopping_patience": 0},
    "evaluation": {"min_roc_auc": 0.7, "min_accuracy": 0.6},
    "export": {"int8_max_quality_drop": 0.3, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("similarity")
  data = tmp / "data"
  digits = digit_images(classes=(0, 1, 4, 7), per_class=14)
  write_folder(data, digits)
  write_folder(tmp / "shuffled", shuffled_labels(digits))
  out = tmp / "out"
  first = runners.run_task("similarity", str(out), data=str(data), overrides=CONFIG,
                           emit=lambda line: None)
  second = runners.run_task("similarity", str(out), data=str(data), overrides=CONFIG,
                            emit=lambda line: None)
  blocked = {"similarity": {**CONFIG["similarity"],
                            "train": {"loss": "triplet", "margin": 0.2, "epochs": 3,
                                      "classes_per_batch": 4, "examples_per_class": 4}}}
  third = runners.run_task("similarity", str(out), data=str(tmp / "shuffled"), overrides=blocked,
                           emit=lambda line: None)
  return {"first": first, "second": second, "third": third, "data": data}


def test_task_kit(runs):
  image = str(sorted((runs["data"] / "7").glob("*.png"))[0])
  kit.check_e2e(tasks.get("similarity"), {**runs, "worse": runs["third"]}, image, CONFIG)


def test_every_component_ran_once_and_the_model_was_pushed(runs):
  first = runs["first"]
  assert sorted(first.nodes) == sorted(COMPONENTS)
  for name in COMPONENTS:
    assert first.nodes[name].executions == 1, name
  assert first.output_properties("VerificationEvaluator", "blessing")["blessed"] == 1
  assert first.output_properties("ServingCheck", "blessing")["blessed"] == 1
  assert first.output_properties("Pusher", "pushed_model")["pushed"] == 1


def test_verification_metrics_and_exported_threshold(runs):
  first = runs["first"]
  result = outcome.read(first.output_uri("VerificationEvaluator", "evaluation"))
  m = result["metrics"]
  assert m["roc_auc"] >= 0.7 and m["accuracy"] >= 0.6
  assert m["positive_pairs"] > 0 and m["negative_pairs"] > 0
  assert m["tar_at_far_0.001"] is None  # too few negative pairs to measure FAR = 1e-3
  threshold = json.load(open(os.path.join(first.output_uri("Trainer", "model"), "Format-Keras",
                                          "verification.json")))["threshold"]
  assert m["threshold"] == pytest.approx(threshold)


def test_pushed_model_verifies_pairs_over_rest(runs):
  version_dir = runs["first"].output_properties("Pusher", "pushed_model")["pushed_destination"]
  sevens = sorted((runs["data"] / "7").glob("*.png"))
  ones = sorted((runs["data"] / "1").glob("*.png"))

  def b64(p):
    return {"b64": base64.b64encode(p.read_bytes()).decode()}

  request = {"signature_name": "verify",
             "instances": [{"image_a": b64(sevens[0]), "image_b": b64(sevens[0])},
                           {"image_a": b64(sevens[1]), "image_b": b64(ones[1])}]}
  predictions = rest.predict(os.path.dirname(version_dir), request)["predictions"]
  assert [set(p) for p in predictions] == [{"distance", "same", "threshold"}] * 2
  assert predictions[0]["distance"] == pytest.approx(0, abs=1e-5) and predictions[0]["same"]
  assert predictions[1]["distance"] > predictions[0]["distance"]


def test_edge_models_carry_the_threshold(runs):
  edge_dir = runs["first"].output_uri("EdgeExport", "edge_model")
  assert os.path.exists(os.path.join(edge_dir, "verification.json"))
  metrics = json.load(open(os.path.join(edge_dir, export.METRICS_FILE)))
  assert metrics["quality_metric"] == "precision_at_10"
  assert metrics["models"]["tflite_float32"]["max_abs_diff_vs_keras"] < 1e-4


def test_report_and_cache(runs):
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"),
                           report_lib.REPORT_FILE)).read()
  for needle in ("Verification metrics", "roc_auc", "Held-out pairs", "BLESSED"):
    assert needle in text, needle
  for name in ("ImageIngest", "Transform", "Trainer", "VerificationEvaluator", "ServingCheck",
               "EdgeExport"):
    assert runs["second"].nodes[name].last_state == "CACHED", name


def test_below_threshold_triplet_candidate_is_not_pushed(runs):
  third = runs["third"]
  assert third.nodes["Trainer"].last_state == "COMPLETE"
  assert third.output_properties("VerificationEvaluator", "blessing")["blessed"] == 0
  assert third.output_properties("Pusher", "pushed_model")["pushed"] == 0
  first_pushed = runs["first"].output_properties("Pusher", "pushed_model")
  assert os.listdir(os.path.dirname(first_pushed["pushed_destination"])) == [
      first_pushed["pushed_version"]]
