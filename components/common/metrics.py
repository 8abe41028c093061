"""Retrieval, verification and reconstruction metrics (numpy), shared by evaluators and benches.

Retrieval: exact k-NN, recall@k of an approximate index against exact search, precision@k and
mAP@k by class. Verification: ROC AUC, accuracy at the best threshold, TAR at a fixed FAR
(scikit-learn's ROC). Reconstruction: PSNR and SSIM (TensorFlow's implementations). Semantic
segmentation: pixel confusion matrix, IoU per class, mean IoU and pixel accuracy.
"""

from __future__ import annotations

import numpy as np

METRICS = ("angular", "euclidean", "dot")


def exact_knn(corpus: np.ndarray, queries: np.ndarray, k: int, metric: str = "angular",
              batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
  """Brute-force k nearest corpus rows for every query (the ground truth for an ANN index).

  Distances follow Annoy's definitions: angular = sqrt(2 (1 - cos)), euclidean, and dot
  (returned as the negated inner product, so smaller is nearer for every metric).

  Returns:
    (ids [Q, k] int64, distances [Q, k] float32), nearest first.
  """
  if metric not in METRICS:
    raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
  corpus = np.asarray(corpus, np.float32)
  k = min(k, len(corpus))
  if metric == "angular":
    corpus = corpus / np.maximum(np.linalg.norm(corpus, axis=1, keepdims=True), 1e-12)
  c_sq = (corpus ** 2).sum(1)
  ids, dists = [], []
  for start in range(0, len(queries), batch_size):
    q = np.asarray(queries[start:start + batch_size], np.float32)
    if metric == "angular":
      q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    dot = q @ corpus.T
    if metric == "dot":
      d = -dot
    else:
      d = np.sqrt(np.maximum((q ** 2).sum(1)[:, None] - 2 * dot + c_sq[None, :], 0))
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    pd = np.take_along_axis(d, part, 1)
    order = np.argsort(pd, axis=1, kind="stable")
    ids.append(np.take_along_axis(part, order, 1))
    dists.append(np.take_along_axis(pd, order, 1))
  return np.concatenate(ids).astype(np.int64), np.concatenate(dists).astype(np.float32)


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
  """Mean fraction of the exact top-k that the approximate top-k found (order ignored)."""
  hits = [len(set(a.tolist()) & set(e.tolist())) / max(len(e), 1)
          for a, e in zip(approx_ids, exact_ids)]
  return float(np.mean(hits)) if hits else 0.0


def precision_at_k(relevant: np.ndarray) -> np.ndarray:
  """Per query: fraction of the top-k results that are relevant. `relevant`: bool [Q, k]."""
  return np.asarray(relevant, np.float64).mean(axis=1)


def average_precision_at_k(relevant: np.ndarray, num_relevant: np.ndarray) -> np.ndarray:
  """Per query AP@k = sum_i P(i) rel(i) / min(k, R), R = relevant items in the corpus."""
  rel = np.asarray(relevant, np.float64)
  k = rel.shape[1]
  hits = np.cumsum(rel, axis=1)
  precision = hits / np.arange(1, k + 1)[None, :]
  denom = np.minimum(k, np.maximum(np.asarray(num_relevant, np.float64), 1))
  return (precision * rel).sum(axis=1) / denom


def retrieval_scores(result_labels: np.ndarray, query_labels: np.ndarray,
                     corpus_labels: np.ndarray) -> dict:
  """precision@k and mAP@k overall and by query class.

  Args:
    result_labels: [Q, k] labels of the retrieved corpus items, nearest first.
  Returns:
    {"precision_at_k", "map_at_k", "per_class": {label: {"precision_at_k", "map_at_k",
    "queries"}}}.
  """
  query_labels = np.asarray(query_labels)
  relevant = np.asarray(result_labels) == query_labels[:, None]
  classes, counts = np.unique(np.asarray(corpus_labels), return_counts=True)
  in_corpus = dict(zip(classes.tolist(), counts.tolist()))
  num_rel = np.array([in_corpus.get(q, 0) for q in query_labels.tolist()])
  p = precision_at_k(relevant)
  ap = average_precision_at_k(relevant, num_rel)
  per_class = {}
  for c in sorted(set(query_labels.tolist()), key=str):
    m = query_labels == c
    per_class[str(c)] = {"precision_at_k": float(p[m].mean()), "map_at_k": float(ap[m].mean()),
                         "queries": int(m.sum())}
  return {"precision_at_k": float(p.mean()), "map_at_k": float(ap.mean()),
          "per_class": per_class}


def pair_distances(embeddings: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
  """Euclidean distance of each pair (embeddings[first[i]], embeddings[second[i]])."""
  return np.linalg.norm(embeddings[first] - embeddings[second], axis=1)


def verification_scores(distances: np.ndarray, same: np.ndarray, far: float = 1e-3,
                        threshold: float | None = None) -> dict:
  """ROC AUC, best-threshold accuracy and TAR at `far` for pair distances (smaller: same).

  Args:
    threshold: also report accuracy, TAR and FAR at this fixed operating point (e.g. the one
      exported with the model).
  Returns:
    roc_auc, best_threshold, best_accuracy, tar_at_far (None when there are fewer than 1/far
    negative pairs to measure it), and at_threshold metrics when `threshold` is given.
  """
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import roc_curve  # pylint: disable=g-import-not-at-top
  distances = np.asarray(distances, np.float64)
  same = np.asarray(same, bool)
  if same.all() or not same.any():
    raise ValueError("verification needs both positive and negative pairs")
  best_threshold, best_accuracy = best_accuracy_threshold(distances, same)
  fpr, tpr, _ = roc_curve(same, -distances)
  negatives = int((~same).sum())
  tar = float(np.interp(far, fpr, tpr)) if negatives >= 1 / far else None
  out = {"roc_auc": float(roc_auc_score(same, -distances)), "best_threshold": best_threshold,
         "best_accuracy": best_accuracy, "far": far, "tar_at_far": tar,
         "positive_pairs": int(same.sum()), "negative_pairs": negatives}
  if threshold is not None:
    pred = distances <= threshold
    out["at_threshold"] = {"threshold": float(threshold),
                           "accuracy": float((pred == same).mean()),
                           "tar": float(pred[same].mean()), "far": float(pred[~same].mean())}
  return out


def best_accuracy_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
  """The distance threshold (same iff distance <= t) with the best pair accuracy, and it."""
  distances = np.asarray(distances, np.float64)
  same = np.asarray(same, bool)
  order = np.argsort(distances, kind="stable")
  d, s = distances[order], same[order]
  # Accepting the first i pairs: correct = positives among them + negatives after them.
  correct = np.concatenate([[0], np.cumsum(s)]) + np.concatenate(
      [[(~s).sum()], (~s).sum() - np.cumsum(~s)])
  # Only cut between distinct distances.
  valid = np.concatenate([[True], d[1:] > d[:-1], [True]])
  correct = np.where(valid, correct, -1)
  i = int(np.argmax(correct))
  if i == 0:
    t = float(d[0]) - 1e-6
  elif i == len(d):
    t = float(d[-1])
  else:
    t = float((d[i - 1] + d[i]) / 2)
  return t, float(correct[i] / len(d))


def reconstruction_scores(reference: np.ndarray, images: np.ndarray) -> dict:
  """Mean PSNR (dB) and SSIM of `images` against `reference`, both [N, H, W, C] in [0, 1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ref = tf.constant(np.asarray(reference, np.float32))
  img = tf.constant(np.clip(np.asarray(images, np.float32), 0, 1))
  size = min(ref.shape[1], ref.shape[2], 11)
  return {"psnr": float(tf.reduce_mean(tf.image.psnr(ref, img, max_val=1.0))),
          "ssim": float(tf.reduce_mean(tf.image.ssim(ref, img, max_val=1.0,
                                                     filter_size=size)))}


# ---------------------------------------------------------------------------------------------
# Semantic segmentation


def pixel_confusion(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
  """[num_classes, num_classes] pixel counts, rows = true class, columns = predicted class."""
  true = np.asarray(true, np.int64).reshape(-1)
  pred = np.asarray(pred, np.int64).reshape(-1)
  if true.shape != pred.shape:
    raise ValueError(f"true and predicted masks differ in size: {true.shape} vs {pred.shape}")
  if true.size and (true.max() >= num_classes or pred.max() >= num_classes or
                    min(true.min(), pred.min()) < 0):
    raise ValueError(f"class ids outside 0..{num_classes - 1}")
  return np.bincount(true * num_classes + pred, minlength=num_classes ** 2).reshape(
      num_classes, num_classes)


def iou_scores(cm: np.ndarray, class_names: list[str] | None = None) -> dict:
  """{"miou", "pixel_accuracy", "per_class": {name: {"iou", "pixels"}}} of a pixel confusion
  matrix. Mean IoU averages the classes present in the ground truth or the prediction (a class
  absent from both has no IoU and is left out, as Keras's and TFMA's mean IoU do)."""
  cm = np.asarray(cm, np.float64)
  k = cm.shape[0]
  names = list(class_names) if class_names else [str(i) for i in range(k)]
  inter = np.diag(cm)
  union = cm.sum(axis=0) + cm.sum(axis=1) - inter
  present = union > 0
  iou = np.where(present, inter / np.maximum(union, 1), np.nan)
  total = cm.sum()
  return {
      "miou": float(np.nanmean(iou)) if present.any() else 0.0,
      "pixel_accuracy": float(inter.sum() / total) if total else 0.0,
      "per_class": {names[i]: {"iou": float(iou[i]), "pixels": float(cm[i].sum())}
                    for i in range(k) if present[i]},
  }


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pairwise IoU [len(a), len(b)] of [ymin, xmin, ymax, xmax] boxes."""
  a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
  tl = np.maximum(a[:, None, :2], b[None, :, :2])
  br = np.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = np.prod(np.clip(br - tl, 0, None), axis=-1)
  area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)
  union = area(a)[:, None] + area(b)[None, :] - inter
  return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
