"""The whole video DAG on the Beam DirectRunner through the shared task test kit: real video
files (moving digits, Motion-JPEG AVI) in, frames sampled by OpenCV in ingest, a pushed (2+1)D
classifier out that serves a clip's encoded frames; an unchanged rerun is cached; a worse
candidate (untrained) is not pushed."""

import json
import os

import pytest

from components.common import outcome
from pipelines import datasets
from pipelines import tasks
from tests import kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"video": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "frames": {"num_frames": 4},
    "train": {"width": 8, "epochs": 20, "batch_size": 16, "learning_rate": 1e-2,
              "baseline_epochs": 2},
    # A floor a few epochs on 150 tiny clips clear and an untrained model (chance: 1/6) does not.
    "evaluation": {"accuracy_lower_bound": 0.35},
    "export": {"int8_max_quality_drop": 1.0, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("video")
  data = datasets.write_moving_digits(str(tmp / "data"), count=150, size=16, frames=8, seed=1)
  return kit.three_runs("video", str(tmp / "out"), data, CONFIG,
                        {"epochs": 1, "learning_rate": 0.0})


def test_task_kit(runs):
  kit.check_e2e(tasks.get("video"), runs, os.path.join(runs["data"], "zoom", "00005.avi"),
                CONFIG)


def test_accuracy_gate_single_frame_baseline_and_edge_models(runs):
  first = outcome.read(runs["first"].output_uri("Evaluator", "evaluation"))
  assert first["blessed"] and first["metrics"]["sparse_categorical_accuracy"] >= 0.35
  assert {f"label={m}" for m in datasets.MOTIONS} <= set(first["slices"])
  model_uri = runs["first"].output_uri("Trainer", "model")
  baseline = json.load(open(os.path.join(model_uri, "Format-Keras",
                                         "single_frame_baseline.json")))
  assert baseline["chance"] == pytest.approx(1 / 6)
  assert baseline["model_accuracy"] > baseline["accuracy"]
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"),
                           "report.html")).read()
  assert "Single-frame baseline" in text and "Sample eval clips" in text
  edge = json.load(open(os.path.join(runs["first"].output_uri("EdgeExport", "edge_model"),
                                     "metrics.json")))
  assert edge["quality_metric"] == "accuracy"
  assert edge["models"]["tflite_float32"]["top1_agreement_with_keras"] == 1.0
  assert edge["models"]["onnx"]["top1_agreement_with_keras"] == 1.0
