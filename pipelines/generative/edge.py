"""The generative task's edge contract (TF-free at import): the generator is exported (TFLite
float/fp16/dynamic-range/int8, ONNX) and every variant is scored by the FID of what it generates
in the judge classifier's feature space (the judge runs in Keras for every variant: it measures,
it is not deployed).

Each variant generates one image per eval example, of that example's class, from the same numpy
latents; `fid_vs_keras` is its FID divided by the Keras generator's (1.0: as good; the int8 gate
compares it with float's), beside the plain FID, KID, conditional accuracy and the mean absolute
pixel difference from the Keras generator's images.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from components.gen_eval import metrics

LATENT_SEED = 0


def parts(model, preprocessing: Mapping[str, Any]) -> dict:
  """The bundle's generator (exported) and judge (scoring only)."""
  del preprocessing
  return {"generator": model.get_layer("generator"), "judge": model.get_layer("judge")}


def generate(predictors: Mapping[str, Callable], inputs: list, preprocessing: Mapping[str, Any]):
  """(contract inputs: label ids [N], real eval images [N, H, W, C]) -> [generated images,
  judge probabilities of them, judge features of them, judge features of the real images,
  whether the generator was conditioned on the labels]."""
  labels, real = inputs
  latents = np.random.default_rng(LATENT_SEED).standard_normal(
      (len(labels), int(preprocessing["latent_dim"]))).astype(np.float32)
  feed = [latents]
  if preprocessing.get("conditional"):
    feed.append(np.eye(int(preprocessing["num_classes"]), dtype=np.float32)[
        np.asarray(labels).reshape(-1).astype(int)])
  images = predictors["generator"](feed)[0]
  probs, features = predictors["judge"]([images])
  conditional = np.asarray(bool(preprocessing.get("conditional")))
  return [images, probs, features, predictors["judge"]([real])[1], conditional]


def fid_scores(outputs, features: Mapping[str, np.ndarray], reference) -> dict:
  """FID (and relative to the Keras generator's), KID, conditional accuracy (conditional
  generators), pixel agreement with the Keras generator."""
  images, probs, fake, real, conditional = outputs
  keras_fid = metrics.fid(reference[2], reference[3])
  fid = metrics.fid(fake, real)
  scores = {"fid": fid, "fid_vs_keras": fid / max(keras_fid, 1e-9),
            "kid": metrics.kid(fake, real)[0],
            "pixel_mae_vs_keras": float(np.abs(np.asarray(images) -
                                               np.asarray(reference[0])).mean())}
  if bool(conditional):
    labels = np.asarray(features["label_xf"]).reshape(-1)
    scores["conditional_accuracy"] = float((np.argmax(probs, -1) == labels).mean())
  return scores
