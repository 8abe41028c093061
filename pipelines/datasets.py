"""Embedded default data: real images that ship with installed packages, written as image files so
the real ingest path (files on disk -> validation -> tf.Examples) runs."""

from __future__ import annotations

import os

import cv2
import numpy as np

_DONE = ".complete"


def write_digits(out_dir: str) -> str:
  """Writes scikit-learn's 1,797 real 8x8 handwritten digits as PNGs, one folder per class.

  Idempotent: an existing complete copy is reused untouched (so TFX's cache still hits).

  Returns:
    The folder, `<out_dir>/digits/<0..9>/<index>.png`.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  root = os.path.join(out_dir, "digits")
  if os.path.exists(os.path.join(root, _DONE)):
    return root
  digits = load_digits()
  # Pixel values are 0..16; spread to 0..255.
  images = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
  for index, (image, target) in enumerate(zip(images, digits.target)):
    folder = os.path.join(root, str(int(target)))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(os.path.join(folder, f"{index:04d}.png"), image):
      raise OSError(f"cannot write {folder}/{index:04d}.png")
  with open(os.path.join(root, _DONE), "w") as f:
    f.write(f"{len(images)} images\n")
  return root
