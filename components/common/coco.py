"""COCO detection metrics with pycocotools' COCOeval (TFX-free): AP@[.5:.95], AP50, AP75, AR@100,
AP per class and precision-recall curves, from per-image arrays.

Boxes are [ymin, xmin, ymax, xmax] normalised to [0, 1]; they are scored in pixels of
`image_size` (the model's input), so COCO's area ranges mean what they usually do.
"""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

SUMMARY = {"ap": 0, "ap50": 1, "ap75": 2, "ap_small": 3, "ap_medium": 4, "ap_large": 5,
           "ar1": 6, "ar10": 7, "ar100": 8}


def _xywh(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
  b = np.asarray(boxes, np.float64).reshape(-1, 4) * [height, width, height, width]
  return np.stack([b[:, 1], b[:, 0], b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)


def evaluate(gt_boxes: Sequence[np.ndarray], gt_classes: Sequence[np.ndarray],
             det_boxes: Sequence[np.ndarray], det_scores: Sequence[np.ndarray],
             det_classes: Sequence[np.ndarray], class_names: Sequence[str],
             image_size: tuple[int, int], max_detections: int = 100) -> dict:
  """COCO metrics of detections against ground truth, image by image.

  Args:
    gt_boxes, gt_classes: per image, [M, 4] boxes and [M] class indices (< 0: padding, skipped).
    det_boxes, det_scores, det_classes: per image, [K, 4], [K], [K] (class < 0: padding).
    class_names: names of class indices 0..C-1.
  Returns:
    {"metrics": {ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100} (0 where COCO
    says -1: nothing to score), "per_class": {name: {"ap", "ap50", "instances"}},
    "pr_curves": {name: (recall [101], precision [101]) at IoU 0.5}, "detections": count}.
  """
  from pycocotools.coco import COCO  # pylint: disable=g-import-not-at-top
  from pycocotools.cocoeval import COCOeval  # pylint: disable=g-import-not-at-top
  height, width = image_size
  images, annotations, results = [], [], []
  for i, (gb, gc) in enumerate(zip(gt_boxes, gt_classes)):
    images.append({"id": i, "height": height, "width": width})
    gc = np.asarray(gc).reshape(-1)
    for box, c in zip(_xywh(gb, height, width)[gc >= 0], gc[gc >= 0]):
      annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(c) + 1,
                          "bbox": box.tolist(), "area": float(box[2] * box[3]), "iscrowd": 0})
  for i, (db, ds, dc) in enumerate(zip(det_boxes, det_scores, det_classes)):
    dc = np.asarray(dc).reshape(-1)
    keep = np.asarray(dc >= 0) & (np.asarray(ds).reshape(-1) > 0)
    for box, s, c in zip(_xywh(db, height, width)[keep], np.asarray(ds)[keep], dc[keep]):
      results.append([i, *box.tolist(), float(s), int(round(c)) + 1])
  categories = [{"id": k + 1, "name": n} for k, n in enumerate(class_names)]
  instances = np.bincount([a["category_id"] - 1 for a in annotations],
                          minlength=len(class_names))
  empty = {"metrics": {k: 0.0 for k in SUMMARY},
           "per_class": {n: {"ap": 0.0, "ap50": 0.0, "instances": int(instances[k])}
                         for k, n in enumerate(class_names)},
           "pr_curves": {}, "detections": len(results)}
  # COCO.loadRes([]) raises; no detections (or nothing to find) scores zero.
  if not results or not annotations:
    return empty
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": categories}
    gt.createIndex()
    dt = gt.loadRes(np.asarray(results, np.float64))
    cocoeval = COCOeval(gt, dt, iouType="bbox")
    cocoeval.params.maxDets = [1, 10, max_detections]
    cocoeval.evaluate()
    cocoeval.accumulate()
    cocoeval.summarize()
  stats = cocoeval.stats
  out = {"metrics": {k: max(0.0, float(stats[i])) for k, i in SUMMARY.items()},
         "per_class": {}, "pr_curves": {}, "detections": len(results)}
  precision = cocoeval.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
  recall = np.asarray(cocoeval.params.recThrs)
  for k, name in enumerate(class_names):
    p = precision[:, :, k, 0, -1]
    ap = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    p50 = precision[0, :, k, 0, -1]
    ap50 = float(p50[p50 > -1].mean()) if (p50 > -1).any() else 0.0
    out["per_class"][name] = {"ap": ap, "ap50": ap50, "instances": int(instances[k])}
    if instances[k]:
      out["pr_curves"][name] = (recall, np.where(p50 > -1, p50, 0.0))
  return out
