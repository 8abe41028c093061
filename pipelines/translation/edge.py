"""The translation task's edge contract (TF-free at import): the generator (condition ->
image) is exported and every variant translates the eval images' conditions (made by the
training graph's own `model.conditions`, noise seeded per example) and is scored by PSNR and SSIM
against the true images, and by FID in the judge's features (the judge runs in Keras: it
measures, it is not deployed)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from components.gen_eval import metrics
from pipelines.generative.edge import parts  # noqa: F401  (the bundle's generator and judge)


def translate(predictors: Mapping[str, Callable], inputs: list, preprocessing: Mapping[str, Any]):
  """(contract inputs: real eval images [N, H, W, C]) -> [translations of their conditions,
  judge features of the translations, judge features of the real images]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from pipelines.translation import model  # pylint: disable=g-import-not-at-top
  (images,) = inputs
  condition = model.conditions(tf.constant(images), preprocessing["mode"],
                               float(preprocessing["noise_stddev"]),
                               tf.range(len(images), dtype=tf.int64)).numpy()
  translated = predictors["generator"]([condition])[0]
  return [translated, predictors["judge"]([translated])[1], predictors["judge"]([images])[1]]


def translation_scores(outputs, features: Mapping[str, np.ndarray], reference) -> dict:
  """PSNR and L1 against the true images, FID in the judge's features, pixel agreement."""
  translated, fake, real = outputs
  targets = np.asarray(features["image_xf"], np.float32)
  return {"psnr": metrics.psnr(translated, targets),
          "l1": float(np.abs(np.asarray(translated) - targets).mean()),
          "fid": metrics.fid(fake, real),
          "pixel_mae_vs_keras": float(np.abs(np.asarray(translated) -
                                             np.asarray(reference[0])).mean())}
