"""The object-detection evaluation (TFX-free): COCO metrics (pycocotools' COCOeval) of a served
model's detections on the eval split, compared with the latest blessed model, gated, and drawn.

Ground truth and detections both come from the model's own signatures on serialized eval
examples: `transform_features` gives the true boxes as training saw them, `serving_examples` the
detections (NMS done in the graph, at most 100 per image, low score threshold).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from components.common import coco
from components.common import outcome
from components.mask_eval import metrics as mask_metrics

BOXES_FIGURE = "detections.png"
PR_FIGURE = "precision_recall.png"
# Predicted boxes drawn in the figure (COCO scores every detection).
DRAW_MIN_SCORE = 0.3


def predict(serving_model_dir: str, serialized: list[bytes], batch_size: int = 64,
            boxes_feature: str = "boxes_xf", classes_feature: str = "box_classes_xf",
            image_feature: str = "image_xf") -> dict:
  """{"images", "gt_boxes", "gt_classes", "boxes", "scores", "classes", "names"} of serialized
  examples; detections cut to num_detections."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(serving_model_dir)
  transform = loaded.signatures["transform_features"]
  serve = loaded.signatures["serving_examples"]
  out: dict = {k: [] for k in ("images", "gt_boxes", "gt_classes", "boxes", "scores",
                               "classes")}
  for i in range(0, len(serialized), batch_size):
    batch = tf.constant(serialized[i:i + batch_size])
    features = transform(batch)
    det = {k: v.numpy() for k, v in serve(batch).items()}
    out["images"].extend(features[image_feature].numpy())
    out["gt_boxes"].extend(features[boxes_feature].numpy())
    out["gt_classes"].extend(features[classes_feature].numpy())
    for j, n in enumerate(det["num_detections"].round().astype(int)):
      out["boxes"].append(det["detection_boxes"][j, :n])
      out["scores"].append(det["detection_scores"][j, :n])
      out["classes"].append(det["detection_classes"][j, :n])
  return out


def _draw_boxes(image: np.ndarray, boxes, classes, names, colour, scores=None) -> np.ndarray:
  h, w = image.shape[:2]
  for k, (box, c) in enumerate(zip(boxes, classes)):
    if c < 0:
      continue
    y0, x0, y1, x1 = (np.asarray(box) * [h, w, h, w]).round().astype(int)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
    text = names[int(c)] + (f" {scores[k]:.2f}" if scores is not None else "")
    cv2.putText(image, text, (x0 + 1, max(y0 - 2, 7)), cv2.FONT_HERSHEY_PLAIN, 0.6, colour, 1)
  return image


def boxes_grid(p: dict, names: list[str], count: int = 8, scale: int = 4) -> np.ndarray:
  """Rows of (true boxes, predicted boxes with score >= DRAW_MIN_SCORE) on eval images, BGR."""
  rows = []
  for i in range(min(count, len(p["images"]))):
    img = np.asarray(p["images"][i])
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    if img.shape[-1] == 1:
      img = np.repeat(img, 3, axis=-1)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    keep = p["scores"][i] >= DRAW_MIN_SCORE
    true = _draw_boxes(img.copy(), p["gt_boxes"][i], p["gt_classes"][i], names, (0, 200, 0))
    pred = _draw_boxes(img.copy(), p["boxes"][i][keep], p["classes"][i][keep], names,
                       (255, 60, 0), p["scores"][i][keep])
    rows.append(np.concatenate([np.pad(x, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                for x in (true, pred)], axis=1))
  return np.concatenate(rows, axis=0)[..., ::-1]


def pr_plot(curves: dict, size: int = 360, margin: int = 40) -> np.ndarray:
  """Precision-recall curves at IoU 0.5, one colour per class, with a legend (BGR)."""
  legend = 90
  canvas = np.full((size + 2 * margin, size + 2 * margin + legend, 3), 255, np.uint8)
  x0, y0 = margin, margin + size
  cv2.rectangle(canvas, (x0, margin), (x0 + size, y0), (0, 0, 0), 1)
  for t in (0.0, 0.5, 1.0):
    cv2.putText(canvas, f"{t:g}", (x0 + int(t * size) - 6, y0 + 15), cv2.FONT_HERSHEY_PLAIN,
                0.9, (0, 0, 0), 1)
    cv2.putText(canvas, f"{t:g}", (4, y0 - int(t * size) + 4), cv2.FONT_HERSHEY_PLAIN, 0.9,
                (0, 0, 0), 1)
  cv2.putText(canvas, "recall", (x0 + size // 2 - 20, y0 + 32), cv2.FONT_HERSHEY_PLAIN, 1.0,
              (0, 0, 0), 1)
  cv2.putText(canvas, "precision", (4, margin - 12), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 0, 0), 1)
  colours = mask_metrics.palette(len(curves) + 1)[1:]
  for k, (name, (recall, precision)) in enumerate(sorted(curves.items())):
    colour = tuple(int(c) for c in colours[k][::-1])
    pts = np.stack([x0 + np.asarray(recall) * size, y0 - np.asarray(precision) * size],
                   axis=1).round().astype(np.int32)
    cv2.polylines(canvas, [pts], False, colour, 2)
    ly = margin + 14 * k + 8
    cv2.line(canvas, (x0 + size + 10, ly), (x0 + size + 28, ly), colour, 2)
    cv2.putText(canvas, name[:10], (x0 + size + 32, ly + 4), cv2.FONT_HERSHEY_PLAIN, 0.9,
                (0, 0, 0), 1)
  return canvas


def _scores(p: dict, names: list[str]) -> dict:
  size = np.asarray(p["images"][0]).shape[:2] if p["images"] else (1, 1)
  return coco.evaluate(p["gt_boxes"], p["gt_classes"], p["boxes"], p["scores"], p["classes"],
                       names, tuple(size))


def evaluate(serving_model_dir: str, baseline_model_dir: str | None, serialized: list[bytes],
             class_names: list[str], out_dir: str, ap50_lower_bound: float, ap_lower_bound: float,
             max_ap_drop: float) -> dict:
  """The outcome: COCO metrics (AP, AP50, AP75, AR@100 ...), AP per class (as slices), the
  baseline's, the gate (AP50 and AP lower bounds; AP at most `max_ap_drop` below the baseline)
  and the figures (boxes on eval images, precision-recall curves) written to `out_dir`."""
  p = predict(serving_model_dir, serialized)
  scores = _scores(p, class_names)
  result_metrics = {**scores["metrics"], "examples": float(len(serialized)),
                    "detections": float(scores["detections"])}
  baseline = {}
  if baseline_model_dir:
    b = _scores(predict(baseline_model_dir, serialized), class_names)
    baseline = {k: b["metrics"][k] for k in ("ap", "ap50", "ap75", "ar100")}
  thresholds, failures = outcome.gate(result_metrics, {"ap50": ap50_lower_bound,
                                                       "ap": ap_lower_bound})
  outcome.gate_against_baseline(thresholds, failures, "ap", result_metrics["ap"], baseline,
                                max_ap_drop)
  os.makedirs(out_dir, exist_ok=True)
  cv2.imwrite(os.path.join(out_dir, BOXES_FIGURE), boxes_grid(p, class_names))
  cv2.imwrite(os.path.join(out_dir, PR_FIGURE), pr_plot(scores["pr_curves"]))
  figures = [
      {"file": BOXES_FIGURE, "title": "Eval images: true and predicted boxes",
       "caption": f"Each row: an eval image with its true boxes (green) and the served model's "
                  f"detections with score >= {DRAW_MIN_SCORE} (orange), at the model's "
                  f"resolution."},
      {"file": PR_FIGURE, "title": "Precision-recall curves per class (IoU 0.5)",
       "caption": "COCOeval's interpolated precision at 101 recall points, all areas, 100 "
                  "detections per image."}]
  slices = {f"class={name}": m for name, m in scores["per_class"].items()}
  return outcome.new("Detection", result_metrics, thresholds, failures, slices=slices,
                     figures=figures, baseline=baseline)
