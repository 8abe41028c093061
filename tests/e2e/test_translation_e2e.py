"""The whole translation DAG (pix2pix, edges -> image) on the Beam DirectRunner through the
shared task test kit: the real digits in, a pushed U-Net translator out that serves image bytes
-> image and PNG; the gate measures PSNR against the true images and FID against the
real-vs-real floor; the edge translators are scored the same way; an unchanged rerun is cached;
a worse candidate (untrained generator) is not pushed."""

import json
import os

import numpy as np
import pytest

from components.common import outcome
from pipelines import datasets
from pipelines import tasks
from tests import kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"translation": {
    "image": {"height": 16, "width": 16, "channels": 1},
    "train": {"mode": "edges", "width": 8, "epochs": 10, "batch_size": 32,
              "learning_rate": 1e-3},
    "judge": {"width": 8, "features": 32, "epochs": 4},
    # Bounds a short training clears and an untrained generator does not.
    "evaluation": {"psnr_lower_bound": 12.0, "max_fid_to_floor": 60.0},
    "export": {"int8_max_quality_drop": 100.0, "representative_examples": 20}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("translation")
  data = datasets.write_digits(str(tmp / "data"))
  return kit.three_runs("translation", str(tmp / "out"), data, CONFIG,
                        {"epochs": 1, "learning_rate": 0.0})


def test_task_kit(runs):
  kit.check_e2e(tasks.get("translation"), runs, os.path.join(runs["data"], "3", "0003.png"),
                CONFIG)


def test_psnr_fid_gate_edge_and_report(runs):
  first = outcome.read(runs["first"].output_uri("TranslationEvaluator", "evaluation"))
  assert first["blessed"], first["failures"]
  m = first["metrics"]
  assert m["psnr"] >= 12 and m["psnr"] > m["input_psnr"] and 0 < m["ssim"] <= 1
  assert m["fid_to_floor"] == pytest.approx(m["fid"] / m["fid_floor"])
  worse = outcome.read(runs["worse"].output_uri("TranslationEvaluator", "evaluation"))
  assert worse["metrics"]["psnr"] < m["psnr"]
  assert worse["baseline"]["psnr"] == pytest.approx(m["psnr"])
  edge = json.load(open(os.path.join(runs["first"].output_uri("EdgeExport", "edge_model"),
                                     "metrics.json")))
  assert edge["quality_metric"] == "psnr" and edge["parts"] == ["generator"]
  assert edge["models"]["tflite_float32"]["pixel_mae_vs_keras"] < 1e-4
  assert abs(edge["models"]["onnx"]["psnr"] - edge["keras"]["psnr"]) < 0.01
  assert np.isfinite(edge["models"]["tflite_int8"]["psnr"])
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"),
                           "report.html")).read()
  assert "Translations" in text and "psnr" in text
