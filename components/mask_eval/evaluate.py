"""The semantic-segmentation evaluation (TFX-free): scores a served model's per-pixel class ids
against the true masks of the eval split, compares with the latest blessed model, gates, and
draws overlays.

Both come from the model's own signatures on serialized eval examples: `transform_features` gives
the true mask as training saw it (resized with nearest neighbour to the model's size) and the
image, `serving_examples` gives the predicted class ids, so the score is at the model's
resolution.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from components.common import metrics as common_metrics
from components.common import outcome
from components.mask_eval import metrics

FIGURE_FILE = "overlays.png"


def predict(serving_model_dir: str, serialized: list[bytes], mask_feature: str,
            image_feature: str, prediction_key: str, classes_key: str,
            batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
  """(images, true masks, predicted class ids, class names) of serialized examples."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(serving_model_dir)
  transform = loaded.signatures["transform_features"]
  serve = loaded.signatures["serving_examples"]
  images, true, pred, names = [], [], [], []
  for i in range(0, len(serialized), batch_size):
    batch = tf.constant(serialized[i:i + batch_size])
    features = transform(batch)
    out = serve(batch)
    images.append(features[image_feature].numpy())
    true.append(np.asarray(features[mask_feature].numpy(), np.int64))
    pred.append(np.asarray(out[prediction_key].numpy(), np.int64))
    if not names:
      names = [c.decode() for c in out[classes_key].numpy()[0]]
  return np.concatenate(images), np.concatenate(true), np.concatenate(pred), names


def overlay_grid(images: np.ndarray, true: np.ndarray, pred: np.ndarray, num_classes: int,
                 count: int = 8, scale: int = 3) -> np.ndarray:
  """Rows of (image, true mask overlay, predicted mask overlay), BGR for cv2.imwrite."""
  rows = []
  for i in range(min(count, len(images))):
    panels = [metrics.overlay(images[i], np.zeros_like(true[i]), num_classes),
              metrics.overlay(images[i], true[i], num_classes),
              metrics.overlay(images[i], pred[i], num_classes)]
    row = np.concatenate([np.pad(p, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                          for p in panels], axis=1)
    rows.append(row)
  grid = np.concatenate(rows, axis=0)
  grid = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
  return grid[..., ::-1]


def evaluate(serving_model_dir: str, baseline_model_dir: str | None, serialized: list[bytes],
             out_dir: str, miou_lower_bound: float, max_miou_drop: float,
             mask_feature: str = "mask_xf", image_feature: str = "image_xf",
             prediction_key: str = "class_ids", classes_key: str = "classes") -> dict:
  """The outcome: mIoU, pixel accuracy, IoU per class (as slices), the baseline's, the gate
  (mIoU >= lower bound and not more than `max_miou_drop` below the baseline) and the overlays
  figure written to `out_dir`."""
  keys = (mask_feature, image_feature, prediction_key, classes_key)
  images, true, pred, names = predict(serving_model_dir, serialized, *keys)
  cm = common_metrics.pixel_confusion(true, pred, len(names))
  s = common_metrics.iou_scores(cm, names)
  result_metrics = {"miou": s["miou"], "pixel_accuracy": s["pixel_accuracy"],
                    "examples": float(len(serialized))}
  baseline = {}
  if baseline_model_dir:
    _, b_true, b_pred, b_names = predict(baseline_model_dir, serialized, *keys)
    if b_names == names and b_pred.shape == pred.shape:
      b = common_metrics.iou_scores(
          common_metrics.pixel_confusion(b_true, b_pred, len(names)), names)
      baseline = {"miou": b["miou"], "pixel_accuracy": b["pixel_accuracy"]}
  thresholds, failures = outcome.gate(result_metrics, {"miou": miou_lower_bound})
  outcome.gate_against_baseline(thresholds, failures, "miou", s["miou"], baseline,
                                max_miou_drop)
  os.makedirs(out_dir, exist_ok=True)
  cv2.imwrite(os.path.join(out_dir, FIGURE_FILE), overlay_grid(images, true, pred, len(names)))
  figures = [{"file": FIGURE_FILE, "title": "Eval images: true and predicted masks",
              "caption": "Each row: the eval image, its true mask and the served model's "
                         "predicted mask (one colour per class), at the model's resolution."}]
  slices = {f"class={name}": m for name, m in s["per_class"].items()}
  return outcome.new("Segmentation", result_metrics, thresholds, failures, slices=slices,
                     figures=figures, baseline=baseline)
