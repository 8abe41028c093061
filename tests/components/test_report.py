import cv2
import numpy as np

from components.run_report import report


def _png(value):
  return cv2.imencode(".png", np.full((8, 8), value, np.uint8))[1].tobytes()


def test_confusion_image_orders_classes_by_name():
  matrix = np.array([[5, 1], [0, 7]])
  image = report.confusion_image(matrix, ["b", "a"])
  assert image.ndim == 3 and image.shape[2] == 3
  # Reordered by name: the darkest (largest fraction) cells stay on the diagonal.
  assert image.shape[0] == image.shape[1]


def test_render_has_every_section_and_escapes_text():
  evaluation = report.Evaluation(
      overall={"sparse_categorical_accuracy": 0.9}, per_slice={"label=a": {
          "sparse_categorical_accuracy": 1.0, "example_count": 3}},
      baseline={"sparse_categorical_accuracy": 0.95}, confusion=np.array([[3, 0], [1, 2]]),
      validation_ok=False, validation_failures=["Overall: accuracy dropped"])
  samples = ([_png(10), _png(200)], ["a", "b"], ["a", "a"], [0.9, 0.6])
  edge = {"models": {"tflite_int8": {"file": "model_int8.tflite", "bytes": 10, "accuracy": 0.8,
                                     "top1_agreement_with_keras": 0.9}},
          "edge_blessed": False, "not_blessed_reasons": ["int8 too low"],
          "keras": {"accuracy": 0.9}, "num_eval_examples": 6}
  html_text = report.render(
      "run <1>", evaluation, blessed=False, serving_check={"error": "no signature"},
      class_names=["a", "b"],
      ingest_summary={"source": "/d", "listed": 9, "examples": {"train": 5, "eval": 3}},
      quarantine=[{"path": "/d/a/x.png", "label": "a", "reason": "empty file (0 bytes)"}],
      edge_metrics=edge, samples=samples, artifacts={"report": "/r"}, pushed_to=None)
  for needle in ("run &lt;1&gt;", "NOT BLESSED", "not pushed", "accuracy dropped", "0.9500",
                 "label=a", "Confusion matrix", "Sample eval predictions", "int8 too low",
                 "empty file (0 bytes)", "quarantined", "FAILED: no signature"):
    assert needle in html_text, needle
  assert html_text.count("data:image/png;base64,") == 2
