"""The toy task (registered only by the tests, `tests/toy_task/`) runs its whole DAG through the
shared task test kit: the contract carries a task that is neither a classifier nor an embedding,
with its own outputs, evaluator and edge metric, without an edit outside its folder."""

import json
import os

import pytest

from pipelines import runners
from pipelines import tasks
from tests import kit
from tests.conftest import digit_images, write_folder
from tests.toy_task import task as toy_task

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"toy": {"train": {"epochs": 40, "learning_rate": 0.02, "batch_size": 8},
                  "evaluation": {"max_mae": 0.05}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("toy")
  data = tmp / "data"
  write_folder(data, digit_images(classes=(0, 1, 7), per_class=10))
  out = tmp / "out"
  first = runners.run_task("toy", str(out), data=str(data), overrides=CONFIG, emit=print)
  second = runners.run_task("toy", str(out), data=str(data), overrides=CONFIG, emit=print)
  worse = {"toy": {**CONFIG["toy"], "train": {"epochs": 1, "learning_rate": 0.0}}}
  third = runners.run_task("toy", str(out), data=str(data), overrides=worse, emit=print)
  return {"first": first, "second": second, "worse": third, "data": data}


def test_task_kit(runs):
  assert tasks.get("toy") is toy_task.TASK
  kit.check_e2e(toy_task.TASK, runs, str(sorted((runs["data"] / "0").glob("*.png"))[0]), CONFIG)


def test_its_own_report_section_and_lower_is_better_edge_gate(runs):
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"), "report.html")).read()
  assert "Served brightness" in text and "upper bound 0.05" in text
  edge = runs["first"].output_uri("EdgeExport", "edge_model")
  metrics = json.load(open(os.path.join(edge, "metrics.json")))
  assert metrics["quality_metric"] == "mae" and metrics["edge_blessed"]
  assert metrics["int8_quality_drop"] == pytest.approx(
      metrics["models"]["tflite_int8"]["mae"] - metrics["models"]["tflite_float32"]["mae"])
