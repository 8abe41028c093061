"""Mask overlays for segmentation figures (TFX-free); the IoU metrics are
`components.common.metrics.pixel_confusion` and `iou_scores`."""

from __future__ import annotations

import numpy as np


def palette(num_classes: int) -> np.ndarray:
  """A fixed colour per class id (RGB uint8), background black."""
  rng = np.random.default_rng(7)
  colours = rng.integers(60, 256, (max(num_classes, 1), 3)).astype(np.uint8)
  colours[0] = 0
  return colours


def overlay(image: np.ndarray, mask: np.ndarray, num_classes: int,
            alpha: float = 0.55) -> np.ndarray:
  """`image` (H, W, 1|3, float in [0, 1] or uint8) with the mask's class colours blended in
  where the mask is not background; RGB uint8."""
  img = np.asarray(image)
  if img.dtype != np.uint8:
    img = np.clip(img * 255.0, 0, 255).astype(np.uint8)
  if img.ndim == 2 or img.shape[-1] == 1:
    img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=-1)
  colours = palette(num_classes)[np.asarray(mask, np.int64)]
  fg = (np.asarray(mask) > 0)[..., None]
  return np.where(fg, (alpha * colours + (1 - alpha) * img).astype(np.uint8), img)
