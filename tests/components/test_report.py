import cv2
import numpy as np

from components.common import outcome
from components.run_report import report
from components.run_report import sections


def _png(value):
  return cv2.imencode(".png", np.full((8, 8), value, np.uint8))[1].tobytes()


def test_confusion_image_orders_classes_by_name():
  matrix = np.array([[5, 1], [0, 7]])
  image = report.confusion_image(matrix, ["b", "a"])
  assert image.ndim == 3 and image.shape[2] == 3
  assert image.shape[0] == image.shape[1]


def test_curves_image_has_a_panel_per_metric_and_none_without_history():
  image = report.curves_image({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.6],
                               "accuracy": [0.5, 0.8, 0.9], "lr": [1e-3] * 3,
                               "seconds": [4.1, 1.0, 1.0]}, width=100)
  assert image.shape[1] == 200  # loss and accuracy; lr and epoch times are not curves
  assert report.curves_image({}) is None


def _outcome():
  result = outcome.new(
      "Evaluation (TFMA)", {"sparse_categorical_accuracy": 0.9},
      {"sparse_categorical_accuracy": {"lower_bound": 0.8, "max_drop": 0.0, "value": 0.9,
                                       "baseline": 0.95, "ok": False}},
      ["Overall: accuracy dropped"],
      slices={"label=a": {"sparse_categorical_accuracy": 1.0, "example_count": 3}},
      baseline={"sparse_categorical_accuracy": 0.95},
      plots={"confusion_matrix": {"matrix": [[3, 0], [1, 2]]}})
  return result


def test_render_has_every_shared_and_task_section_and_escapes_text():
  result = _outcome()
  inputs = report.SectionInputs(evaluation=result, class_names=["a", "b"], serving_model_dir="",
                                eval_examples=[])
  task_sections = [sections.confusion_matrix(inputs), report.Section(
      "Per-class table <x>", header=["class", "ap"], rows=[["a", 0.5]])]
  edge = {"models": {"tflite_int8": {"file": "model_int8.tflite", "bytes": 10, "accuracy": 0.8,
                                     "top1_agreement_with_keras": 0.9}},
          "edge_blessed": False, "not_blessed_reasons": ["int8 too low"],
          "quality_metric": "accuracy", "agreement_metric": "top1_agreement_with_keras",
          "keras": {"accuracy": 0.9}, "num_eval_examples": 6}
  html_text = report.render(
      "run <1>", "classification", result, blessed=False,
      serving_check={"error": "no signature"},
      ingest_summary={"source": "/d", "listed": 9, "examples": {"train": 5, "eval": 3}},
      quarantine=[{"path": "/d/a/x.png", "label": "a", "reason": "empty file (0 bytes)"}],
      edge_metrics=edge, artifacts={"report": "/r"}, pushed_to=None,
      figures=[({"file": "f.png", "title": "A figure", "caption": "c"}, _png(10))],
      sections=task_sections, history={"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]},
      tensorboard="/runs/tb", timings=[("ImageIngest", "COMPLETE", 2.5),
                                       ("Trainer", "CACHED", 0.1)])
  for needle in ("run &lt;1&gt;", "NOT BLESSED", "not pushed", "accuracy dropped", "0.9500",
                 "label=a", "Confusion matrix", "Per-class table &lt;x&gt;", "A figure",
                 "the serving model was not blessed", "empty file (0 bytes)", "quarantined",
                 "FAILED: no signature", "lower bound 0.8", "Training", "/runs/tb",
                 "Time per component", "cached", "2.5000"):
    assert needle in html_text, needle
  # figure, confusion matrix, training curves
  assert html_text.count("data:image/png;base64,") == 3


def test_render_says_when_a_task_has_no_edge_models():
  html_text = report.render(
      "t", "toy", outcome.new("Evaluation", {}, {}, []), blessed=True, serving_check={},
      ingest_summary={}, quarantine=[], artifacts={}, pushed_to="/s/1",
      edge_metrics={"exportable": False, "reason": "needs a flex op", "models": {},
                    "edge_blessed": False})
  assert "Not exportable: needs a flex op" in html_text and "BLESSED" in html_text
