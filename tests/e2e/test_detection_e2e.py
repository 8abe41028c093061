"""The whole detection DAG on the Beam DirectRunner through the shared task test kit: digit
scenes (PNGs + COCO JSON) in, a pushed detector with NMS in the graph out; an unchanged rerun is
cached; a worse candidate (untrained) falls below the gate and is not pushed."""

import json
import os

import pytest

from components.common import outcome
from pipelines import datasets
from pipelines import tasks
from tests import kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRAIN = {"width": 8, "epochs": 15, "batch_size": 16, "learning_rate": 1e-2,
         "anchors": {"strides": [8], "scales": [1.0], "aspect_ratios": [1.0]}}
CONFIG = {"detection": {
    "image": {"height": 32, "width": 32, "channels": 3},
    "train": TRAIN,
    "postprocess": {"max_detections": 20, "pre_nms_top_k": 50},
    # Floors a few epochs on 120 tiny scenes clear (AP50 ~0.03) and an untrained model (no
    # detection above the score threshold: AP 0) does not.
    "evaluation": {"ap50_lower_bound": 0.001, "ap_lower_bound": 0.0, "max_ap_drop": 0.0},
    "export": {"int8_max_quality_drop": 1.0, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("detection")
  data = datasets.write_digit_scenes(str(tmp / "data"), count=120, size=32, seed=1,
                                     scale=(0.35, 0.5))
  return kit.three_runs("detection", str(tmp / "out"), data, CONFIG,
                        {"epochs": 1, "learning_rate": 0.0})


def test_task_kit(runs):
  kit.check_e2e(tasks.get("detection"), runs,
                os.path.join(runs["data"], "images", "00000.png"), CONFIG)


def test_coco_gate_per_class_ap_and_edge_models_with_nms(runs):
  first = outcome.read(runs["first"].output_uri("DetectionEvaluator", "evaluation"))
  assert first["blessed"] and not first["baseline"]
  assert {"ap", "ap50", "ap75", "ar100"} <= set(first["metrics"])
  assert {f"class={d}" for d in range(10)} <= set(first["slices"])
  assert first["metrics"]["ap50"] > 0
  worse = outcome.read(runs["worse"].output_uri("DetectionEvaluator", "evaluation"))
  assert worse["baseline"]["ap"] == pytest.approx(first["metrics"]["ap"])
  assert any("below the baseline" in f for f in worse["failures"]), worse["failures"]
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"),
                           "report.html")).read()
  assert "true and predicted boxes" in text and "Precision-recall curves" in text
  edge = runs["first"].output_uri("EdgeExport", "edge_model")
  metrics = json.load(open(os.path.join(edge, "metrics.json")))
  assert metrics["quality_metric"] == "ap50"
  assert set(metrics["models"]) >= {"tflite_float32", "tflite_float16", "tflite_dynamic_range",
                                    "tflite_int8", "onnx"}
  # Float edge models run the same graph as serving: the same detections.
  assert metrics["models"]["tflite_float32"]["detection_agreement_with_keras"] >= 0.99
  assert metrics["models"]["onnx"]["detection_agreement_with_keras"] >= 0.99
