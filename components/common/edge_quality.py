"""Quality functions of edge contracts: how an exported model is scored on the eval split.

Each takes (outputs of the exported model, transformed eval features, outputs of the Keras model,
**params) and returns {metric: value}; `EdgeContract.quality` names one of them (or a task's own).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from components.common import metrics


def class_scores(outputs: np.ndarray, features: Mapping[str, np.ndarray], reference: np.ndarray,
                 labels: str = "label_xf") -> dict[str, float]:
  """Classifiers: top-1 accuracy, top-1 agreement and the largest probability difference with
  Keras."""
  y = np.reshape(features[labels], [-1])
  top1, ref_top1 = outputs.argmax(axis=1), reference.argmax(axis=1)
  return {"accuracy": float((top1 == y).mean()),
          "top1_agreement_with_keras": float((top1 == ref_top1).mean()),
          "max_abs_prob_diff_vs_keras": float(np.abs(outputs - reference).max())}


def mask_scores(outputs: np.ndarray, features: Mapping[str, np.ndarray], reference: np.ndarray,
                labels: str = "mask_xf") -> dict[str, float]:
  """Semantic segmentation (outputs: class probabilities [N, H, W, K]): mean IoU and pixel
  accuracy against the true masks, and the fraction of pixels whose class agrees with Keras."""
  pred, ref = outputs.argmax(axis=-1), reference.argmax(axis=-1)
  scores = metrics.iou_scores(metrics.pixel_confusion(features[labels], pred, outputs.shape[-1]))
  return {"miou": scores["miou"], "pixel_accuracy": scores["pixel_accuracy"],
          "pixel_agreement_with_keras": float((pred == ref).mean())}


def neighbours(embeddings: np.ndarray, k: int) -> np.ndarray:
  """Leave-one-out k nearest rows of every row (Euclidean)."""
  ids, _ = metrics.exact_knn(embeddings, embeddings, k + 1, "euclidean")
  return np.array([[j for j in row if j != i][:k] for i, row in enumerate(ids)])


def embeddings(outputs: np.ndarray, features: Mapping[str, np.ndarray], reference: np.ndarray,
               k: float = 10, labels: str = "label_xf") -> dict[str, float]:
  """Embedding models: leave-one-out precision@k on the eval split, and recall@k of the model's
  neighbours against the Keras model's (the retrieval cost of quantization). Metric names keep
  the requested k; fewer eval images than k + 1 use all the others."""
  y = np.reshape(features[labels], [-1])
  name, k = int(k), max(1, min(int(k), len(y) - 1))
  nn, ref_nn = neighbours(outputs, k), neighbours(reference, k)
  cos = (outputs * reference).sum(1) / np.maximum(
      np.linalg.norm(outputs, axis=1) * np.linalg.norm(reference, axis=1), 1e-12)
  return {f"precision_at_{name}": float(metrics.precision_at_k(y[nn] == y[:, None]).mean()),
          f"recall_at_{name}_vs_keras": metrics.recall_at_k(nn, ref_nn),
          "mean_cosine_vs_keras": float(cos.mean()),
          "max_abs_diff_vs_keras": float(np.abs(outputs - reference).max())}


def _per_image(outputs) -> tuple[list, list, list]:
  """Detection outputs [boxes [N, K, 4], scores [N, K], classes [N, K], num [N]] -> per image
  lists cut to num_detections."""
  boxes, scores, classes, num = outputs
  n = np.asarray(num).reshape(-1).round().astype(int)
  return ([b[:k] for b, k in zip(boxes, n)], [s[:k] for s, k in zip(scores, n)],
          [c[:k] for c, k in zip(classes, n)])


def detection_agreement(outputs, reference, min_score: float = 0.3,
                        min_iou: float = 0.5) -> float:
  """The share of confident detections (score >= `min_score`) of either model that the other
  model also makes (same class, IoU >= `min_iou`): 1.0 when both agree box for box."""
  matched = total = 0
  for b, s, c, rb, rs, rc in zip(*_per_image(outputs), *_per_image(reference)):
    a = [(x, k) for x, v, k in zip(b, s, c) if v >= min_score]
    r = [(x, k) for x, v, k in zip(rb, rs, rc) if v >= min_score]
    for mine, theirs in ((a, r), (r, a)):
      for box, k in mine:
        total += 1
        same = [t for t, tk in theirs if round(tk) == round(k)]
        matched += bool(same) and metrics.box_iou(box, np.asarray(same)).max() >= min_iou
  return matched / total if total else 1.0


def detections(outputs, features: Mapping[str, np.ndarray], reference,
               boxes: str = "boxes_xf", classes: str = "box_classes_xf",
               image: str = "image_xf") -> dict[str, float]:
  """Object detection (outputs: boxes, scores, classes, num_detections, NMS done): COCO AP,
  AP50, AP75 and AR@100 against the true boxes, and agreement with the Keras model's boxes."""
  from components.common import coco  # pylint: disable=g-import-not-at-top
  gt_classes = np.asarray(features[classes])
  det = _per_image(outputs)
  num_classes = int(max(gt_classes.max(initial=-1),
                        max((c.max(initial=-1) for c in det[2]), default=-1))) + 1
  size = tuple(features[image].shape[1:3])
  scores = coco.evaluate(features[boxes], gt_classes, *det,
                         [str(k) for k in range(max(num_classes, 1))], size)["metrics"]
  return {"ap50": scores["ap50"], "ap": scores["ap"], "ap75": scores["ap75"],
          "ar100": scores["ar100"],
          "detection_agreement_with_keras": detection_agreement(outputs, reference)}
