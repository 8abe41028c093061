"""The generative evaluation (TFX-free): generates one image per eval example, of that example's
class, through the served model (`serving_default(label, seed)`), measures the generated set
against the real eval images in the feature space of the model's own judge classifier (its
`judge` signature: FID and KID, `metrics.py`), next to the real-vs-real floor (as many real
training images against the same eval images), and, for conditional models, how often the judge
sees the requested class. The gate: FID / floor at most `max_fid_to_floor`, conditional accuracy
at least its bound, and neither worse than the latest blessed model's (whose images are measured
with the candidate's judge, so both live in one feature space).

FID and KID here are not comparable with papers' numbers (those use ImageNet Inception-v3
features, which are not available offline)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Sequence

import numpy as np

from components.common import outcome
from components.gen_eval import metrics

SAMPLES_FILE = "generated.jsonl"
# Seeds of the generated eval set: example i gets seed SEED_OFFSET + i.
SEED_OFFSET = 1_000_000


def _batches(fn, batch_size: int, **columns):
  n = len(next(iter(columns.values())))
  parts = [fn(**{k: v[i:i + batch_size] for k, v in columns.items()})
           for i in range(0, n, batch_size)]
  return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}


def real_images(loaded, serialized: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
  """Transformed images and label ids of serialized examples, through the model's Transform."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = _batches(loaded.signatures["transform_features"], 256,
                 examples=tf.constant(list(serialized)))
  return out["image_xf"], out["label_xf"].reshape(-1)


def generated(loaded, labels: Sequence[str], seeds: Sequence[int]) -> dict[str, np.ndarray]:
  """The served model's images of (label, seed) pairs: image, class_id, png."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return _batches(loaded.signatures["serving_default"], 256, label=tf.constant(list(labels)),
                  seed=tf.constant(list(seeds), tf.int64))


def judged(loaded, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The judge's (probabilities, features) of images [N, H, W, C] in [0, 1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = _batches(loaded.signatures["judge"], 256, images=tf.constant(images, tf.float32))
  return out["probabilities"], out["features"]


@dataclasses.dataclass(frozen=True)
class RealSet:
  """The real eval images in the judge's eyes, and the real-vs-real floor."""
  images: np.ndarray
  ids: np.ndarray
  probabilities: np.ndarray
  features: np.ndarray
  floor: float  # FID of as many real training images (a seeded random pick) against them
  kid_floor: float
  floor_examples: int


def real_set(loaded, eval_rows: Sequence[tuple[bytes, dict]],
             train_rows: Sequence[tuple[bytes, dict]]) -> tuple[RealSet, Callable]:
  """The eval rows through the model's Transform and judge, the floor, and the judge itself
  (images -> (probabilities, features)). The floor's train rows are a seeded random pick, the
  same for every evaluation of these rows."""
  if len(eval_rows) < 2 or len(train_rows) < 2:
    raise ValueError(f"FID needs at least 2 eval and 2 train images; got {len(eval_rows)} and "
                     f"{len(train_rows)}")
  judge = lambda images: judged(loaded, images)  # noqa: E731
  images, ids = real_images(loaded, [r[0] for r in eval_rows])
  picked = np.random.default_rng(0).permutation(len(train_rows))[:len(eval_rows)]
  train, _ = real_images(loaded, [train_rows[i][0] for i in sorted(picked)])
  probabilities, features = judge(images)
  _, train_features = judge(train)
  return RealSet(images, ids, probabilities, features, metrics.fid(train_features, features),
                 metrics.kid(train_features, features)[0], len(train)), judge


def scores(judged_images: tuple[np.ndarray, np.ndarray], class_ids: np.ndarray,
           real_features: np.ndarray, floor: float) -> dict:
  """FID, KID, FID / floor and (conditional generators) conditional accuracy of generated
  images, from the judge's (probabilities, features) of them."""
  probs, features = judged_images
  fid = metrics.fid(features, real_features)
  out = {"fid": fid, "kid": metrics.kid(features, real_features)[0],
         "fid_to_floor": fid / max(floor, 1e-9)}
  if (class_ids >= 0).all():
    out["conditional_accuracy"] = float((probs.argmax(-1) == class_ids).mean())
  return out


def evaluate(serving_model_dir: str, baseline_model_dir: str | None,
             eval_rows: Sequence[tuple[bytes, dict]], train_rows: Sequence[tuple[bytes, dict]],
             out_dir: str, max_fid_to_floor: float, conditional_accuracy_lower_bound: float,
             max_fid_to_floor_increase: float = 0.0,
             max_conditional_accuracy_drop: float = 0.0) -> dict:
  """The outcome of the candidate on the eval rows (`real_set`: the judge and the floor)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(serving_model_dir)
  real, judge = real_set(loaded, eval_rows, train_rows)
  real_features, floor = real.features, real.floor
  labels = [r[1]["label"] for r in eval_rows]
  seeds = [SEED_OFFSET + i for i in range(len(eval_rows))]
  fake = generated(loaded, labels, seeds)
  fake_judged = judge(fake["image"])
  result = {**scores(fake_judged, fake["class_id"], real_features, floor),
            "fid_floor": floor, "kid_floor": real.kid_floor,
            "judge_accuracy": float((real.probabilities.argmax(-1) == real.ids).mean()),
            "examples": float(len(eval_rows)), "floor_examples": float(real.floor_examples)}
  conditional = "conditional_accuracy" in result
  slices = {}
  if conditional:
    hits = fake_judged[0].argmax(-1) == fake["class_id"]
    for name in sorted(set(labels)):
      picked = np.array([label == name for label in labels])
      slices[f"label={name}"] = {"conditional_accuracy": float(hits[picked].mean()),
                                 "examples": float(picked.sum())}
  baseline = {}
  if baseline_model_dir:
    other = generated(tf.saved_model.load(baseline_model_dir), labels, seeds)
    b = scores(judge(other["image"]), other["class_id"], real_features, floor)
    baseline = {k: b[k] for k in ("fid_to_floor", "conditional_accuracy") if k in b}
  lower = {"conditional_accuracy": conditional_accuracy_lower_bound} if conditional else {}
  thresholds, failures = outcome.gate(result, lower, {"fid_to_floor": max_fid_to_floor})
  outcome.gate_against_baseline(thresholds, failures, "fid_to_floor", result["fid_to_floor"],
                                baseline, max_fid_to_floor_increase, higher_is_better=False)
  if conditional:
    outcome.gate_against_baseline(thresholds, failures, "conditional_accuracy",
                                  result["conditional_accuracy"], baseline,
                                  max_conditional_accuracy_drop)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, SAMPLES_FILE), "w") as f:
    for label, seed, class_id in zip(labels, seeds, fake["class_id"]):
      f.write(json.dumps({"label": label, "seed": seed, "class_id": int(class_id)}) + "\n")
  return outcome.new("Generative", result, thresholds, failures, slices=slices,
                     baseline=baseline)


def translated(loaded, serialized: Sequence[bytes]) -> dict[str, np.ndarray]:
  """The served model's translations of the examples' own conditions: image, condition."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return _batches(loaded.signatures["serving_examples"], 256,
                  examples=tf.constant(list(serialized)))


def pair_scores(judge, images: np.ndarray, targets: np.ndarray, real_features: np.ndarray,
                floor: float) -> dict:
  """PSNR, SSIM and L1 of translations against their true images; FID, KID, FID / floor."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _, features = judge(images)
  fid = metrics.fid(features, real_features)
  return {"psnr": metrics.psnr(images, targets),
          "ssim": float(tf.reduce_mean(tf.image.ssim(tf.constant(images), tf.constant(targets),
                                                     max_val=1.0, filter_size=5))),
          "l1": float(np.abs(images - targets).mean()), "fid": fid,
          "kid": metrics.kid(features, real_features)[0], "fid_to_floor": fid / max(floor, 1e-9)}


def evaluate_translation(serving_model_dir: str, baseline_model_dir: str | None,
                         eval_rows: Sequence[tuple[bytes, dict]],
                         train_rows: Sequence[tuple[bytes, dict]], out_dir: str,
                         psnr_lower_bound: float, max_fid_to_floor: float,
                         max_psnr_drop: float = 0.0,
                         max_fid_to_floor_increase: float = 0.0) -> dict:
  """The outcome of an image-to-image translator: every eval image's condition (the model's
  `serving_examples`) translated and compared with the image itself (PSNR, SSIM, L1; the input
  condition's own PSNR beside it: what doing nothing scores), and the translations' FID against
  the real eval images next to the real-vs-real floor, in the judge's features."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(serving_model_dir)
  real, judge = real_set(loaded, eval_rows, train_rows)
  out = translated(loaded, [r[0] for r in eval_rows])
  result = {**pair_scores(judge, out["image"], real.images, real.features, real.floor),
            "input_psnr": metrics.psnr(out["condition"], real.images), "fid_floor": real.floor,
            "kid_floor": real.kid_floor, "examples": float(len(eval_rows)),
            "floor_examples": float(real.floor_examples),
            "judge_accuracy": float((real.probabilities.argmax(-1) == real.ids).mean())}
  baseline = {}
  if baseline_model_dir:
    other = translated(tf.saved_model.load(baseline_model_dir), [r[0] for r in eval_rows])
    b = pair_scores(judge, other["image"], real.images, real.features, real.floor)
    baseline = {k: b[k] for k in ("psnr", "fid_to_floor")}
  thresholds, failures = outcome.gate(result, {"psnr": psnr_lower_bound},
                                      {"fid_to_floor": max_fid_to_floor})
  outcome.gate_against_baseline(thresholds, failures, "psnr", result["psnr"], baseline,
                                max_psnr_drop)
  outcome.gate_against_baseline(thresholds, failures, "fid_to_floor", result["fid_to_floor"],
                                baseline, max_fid_to_floor_increase, higher_is_better=False)
  return outcome.new("Translation", result, thresholds, failures, baseline=baseline)
