"""The whole generative DAG on the Beam DirectRunner through the shared task test kit: the real
digits in (class folders), a pushed conditional GAN out that serves (label, seed) -> image and
PNG; the gate measures FID against the real-vs-real floor in the judge classifier's features and
conditional accuracy; the edge generators are scored by the same FID; an unchanged rerun is
cached; a worse candidate (untrained generator) is not pushed."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.common import outcome
from pipelines import datasets
from pipelines import tasks
from tests import kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"generative": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "train": {"width": 16, "latent_dim": 16, "epochs": 25, "batch_size": 32,
              "learning_rate": 1e-3},
    "judge": {"width": 8, "features": 32, "epochs": 6},
    # Bounds a short training clears and an untrained generator (flat grey images) does not.
    "evaluation": {"max_fid_to_floor": 40.0, "conditional_accuracy_lower_bound": 0.3},
    "export": {"int8_max_quality_drop": 100.0, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("generative")
  data = datasets.write_digits(str(tmp / "data"))
  request = tmp / "request.json"
  request.write_text(json.dumps({"label": "7", "seed": 3}))
  return {**kit.three_runs("generative", str(tmp / "out"), data, CONFIG,
                           {"epochs": 1, "learning_rate": 0.0}), "request": str(request)}


def test_task_kit(runs):
  kit.check_e2e(tasks.get("generative"), runs, runs["request"], CONFIG)


def test_gate_floor_serving_and_report(runs):
  first = runs["first"]
  result = outcome.read(first.output_uri("GenerativeEvaluator", "evaluation"))
  assert result["blessed"], result["failures"]
  metrics = result["metrics"]
  assert 0 < metrics["fid_floor"] < metrics["fid"]  # generated images are further than real ones
  assert metrics["fid_to_floor"] == pytest.approx(metrics["fid"] / metrics["fid_floor"])
  assert metrics["judge_accuracy"] > 0.8 and metrics["conditional_accuracy"] >= 0.3
  assert {f"label={d}" for d in range(10)} == set(result["slices"])
  worse = outcome.read(runs["worse"].output_uri("GenerativeEvaluator", "evaluation"))
  assert worse["metrics"]["fid_to_floor"] > metrics["fid_to_floor"]
  assert worse["baseline"]["fid_to_floor"] == pytest.approx(metrics["fid_to_floor"])
  # Same (label, seed): the same image; the PNG decodes to it.
  serving = tf.saved_model.load(os.path.join(first.output_uri("Trainer", "model"),
                                             "Format-Serving"))
  out = serving.signatures["serving_default"](label=tf.constant(["3", "3", "5"]),
                                              seed=tf.constant([9, 9, 9], tf.int64))
  images = out["image"].numpy()
  assert images.shape == (3, 16, 16, 1) and np.array_equal(images[0], images[1])
  assert not np.array_equal(images[0], images[2])
  png = tf.io.decode_png(out["png"][0]).numpy()
  assert np.abs(png / 255.0 - images[0]).max() <= 1 / 255 + 1e-6
  with pytest.raises(tf.errors.InvalidArgumentError, match="unknown class label"):
    serving.signatures["serving_default"](label=tf.constant(["cat"]),
                                          seed=tf.constant([0], tf.int64))
  text = open(os.path.join(first.output_uri("RunReport", "report"), "report.html")).read()
  assert "Generated samples and latent interpolations" in text and "fid_to_floor" in text
  assert "g_loss" in text or "d_loss" in open(os.path.join(
      first.output_uri("Trainer", "model_run"), "history.json")).read()


def test_edge_generators_scored_by_fid(runs):
  edge = json.load(open(os.path.join(runs["first"].output_uri("EdgeExport", "edge_model"),
                                     "metrics.json")))
  assert edge["quality_metric"] == "fid_vs_keras" and edge["parts"] == ["generator"]
  for name in ("tflite_float32", "tflite_float16", "tflite_int8", "onnx"):
    model = edge["models"][name]
    assert model["files"] == [f"generator_{name[len('tflite_'):]}.tflite" if name != "onnx"
                              else "generator.onnx"]
    assert np.isfinite(model["fid"]) and 0 <= model["conditional_accuracy"] <= 1
  assert edge["models"]["tflite_float32"]["fid_vs_keras"] == pytest.approx(1.0, abs=1e-3)
  assert edge["models"]["onnx"]["pixel_mae_vs_keras"] < 1e-4
