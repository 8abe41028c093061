"""Shared test setup: tf-keras for TFX, quiet TensorFlow, tiny real images built in the test."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def digit_images(classes=(0, 1, 7), per_class=12, size=16):
  """Real handwritten digits from scikit-learn, upscaled to `size` px, as uint8 arrays by class."""
  from sklearn.datasets import load_digits
  digits = load_digits()
  out = {}
  for c in classes:
    picks = np.flatnonzero(digits.target == c)[:per_class]
    out[str(c)] = [cv2.resize((digits.images[i] * 255 / 16).astype(np.uint8), (size, size),
                              interpolation=cv2.INTER_LINEAR) for i in picks]
  return out


def write_folder(root, images_by_class, ext=".png"):
  paths = []
  for label, images in images_by_class.items():
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
      path = folder / f"{i:03d}{ext}"
      assert cv2.imwrite(str(path), image)
      paths.append(path)
  return paths


@pytest.fixture
def digit_folder(tmp_path):
  """A folder tree of 3 classes x 12 real 16px digits."""
  root = tmp_path / "digits"
  write_folder(root, digit_images())
  return root
