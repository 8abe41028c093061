"""Verification evaluation of an embedding model on held-out pairs (TFX-free).

Pairs come from the eval split (all positives up to a cap, sampled negatives); a pair's score is
the Euclidean distance of the served embeddings. Measured: ROC AUC, accuracy at the best threshold,
TAR at FAR (when there are enough negative pairs), and accuracy/TAR/FAR at the threshold exported
with the model (`verification.json` in its Keras bundle, the `verify` signature's operating point).
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from components.embedding_eval import figures
from components.common import outcome
from components.embedding_index import embed
from components.common import metrics
from components.common import sampling

VERIFICATION_FILE = "verification.json"


def read_threshold(keras_dir: str) -> float:
  path = os.path.join(keras_dir, VERIFICATION_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"{path}: the model exports no verification threshold")
  with tf.io.gfile.GFile(path) as f:
    return float(json.load(f)["threshold"])


def evaluate(serving_dir: str, keras_dir: str, rows: list[tuple[bytes, dict]], out_dir: str,
             far: float = 1e-3, max_positive: int = 3000, max_negative: int = 30000,
             lower_bounds: dict[str, float] | None = None, seed: int = 0) -> dict:
  """Evaluates verification and writes a figure of the hardest pairs to `out_dir`."""
  if len(rows) < 3:
    raise ValueError(f"verification needs at least 3 eval examples, got {len(rows)}")
  threshold = read_threshold(keras_dir)
  model = embed.load(serving_dir)
  labels = np.array([r[1]["label"] for r in rows])
  emb = embed.embed_examples(model, [r[0] for r in rows])
  i, j, same = sampling.verification_pairs(labels, np.random.default_rng(seed), max_positive,
                                           max_negative)
  distances = metrics.pair_distances(emb, i, j)
  scores = metrics.verification_scores(distances, same, far=far, threshold=threshold)
  flat = {"roc_auc": scores["roc_auc"], "best_accuracy": scores["best_accuracy"],
          "best_threshold": scores["best_threshold"],
          f"tar_at_far_{far:g}": scores["tar_at_far"],
          "accuracy": scores["at_threshold"]["accuracy"], "threshold": threshold,
          "tar": scores["at_threshold"]["tar"], "far": scores["at_threshold"]["far"],
          "positive_pairs": scores["positive_pairs"], "negative_pairs": scores["negative_pairs"]}
  thresholds, failures = outcome.gate(flat, dict(lower_bounds or {}))
  predicted = distances <= threshold
  # Show the worst mistakes first (false accepts and false rejects), then a few right ones.
  wrong = np.flatnonzero(predicted != same)
  wrong = wrong[np.argsort(-np.abs(distances[wrong] - threshold))][:8]
  right = np.flatnonzero(predicted == same)[:12 - len(wrong)]
  show = np.concatenate([wrong, right]).astype(int)
  images = [r[1]["image"] for r in rows]
  figs = []
  if len(show):
    grid = figures.pair_grid([(images[i[p]], images[j[p]]) for p in show], same[show].tolist(),
                             predicted[show].tolist(), distances[show].tolist())
    figures.write_png(os.path.join(out_dir, "pairs.png"), grid)
    figs.append({"file": "pairs.png", "title": "Held-out pairs",
                 "caption": f"Mistakes at the exported threshold {threshold:.3f} first (red), "
                            "then correct decisions (green)."})
  return outcome.new("Verification", flat, thresholds, failures, figures=figs)
