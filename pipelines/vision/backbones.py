"""Keras (tf-keras) model builders shared by task pipelines: augmentation, backbones, heads.

Models take images already decoded and scaled to [0, 1] (see `preprocessing.py`), so the same
model converts to TFLite and ONNX without string ops.
"""

from __future__ import annotations

import tf_keras as keras
from tf_keras import layers


def augmentation(flip: bool, rotation: float, zoom: float, contrast: float,
                 seed: int | None = None) -> keras.Sequential:
  """Random augmentation, applied to training batches only (never part of the exported model)."""
  steps: list[layers.Layer] = []
  if flip:
    steps.append(layers.RandomFlip("horizontal", seed=seed))
  if rotation > 0:
    steps.append(layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
  if zoom > 0:
    steps.append(layers.RandomZoom(zoom, fill_mode="constant", seed=seed))
  if contrast > 0:
    steps.append(layers.RandomContrast(contrast, seed=seed))
  return keras.Sequential(steps, name="augmentation")


def small_cnn_features(inputs: keras.KerasTensor, widths: tuple[int, ...] = (32, 64, 128)):
  """A compact VGG-style feature extractor: (conv-BN-ReLU)x2 + max-pool per width, then GAP."""
  x = inputs
  for i, w in enumerate(widths):
    for j in range(2 if i < len(widths) - 1 else 1):
      x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"conv{i}_{j}")(x)
      x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}_{j}")(x)
      x = layers.ReLU(name=f"relu{i}_{j}")(x)
    if i < len(widths) - 1:
      x = layers.MaxPooling2D(name=f"pool{i}")(x)
  return layers.GlobalAveragePooling2D(name="gap")(x)


MOBILENET_MIN_SIZE = 32


def mobilenet_v2_backbone(height: int, width: int, channels: int, alpha: float = 0.35,
                          weights: str | None = None) -> tuple[keras.Model, keras.Model]:
  """MobileNetV2 without top, adapted to [0, 1] inputs of any size and 1 or 3 channels.

  Args:
    weights: None (random init), "imagenet" (downloads: online users only) or a local weights
      file of the no-top backbone.
  Returns:
    (feature extractor taking [N, height, width, channels] in [0, 1], the inner MobileNetV2 model
    whose layers are unfrozen for fine-tuning).
  """
  inputs = keras.Input((height, width, channels), name="image")
  x = inputs
  size = (max(height, MOBILENET_MIN_SIZE), max(width, MOBILENET_MIN_SIZE))
  if size != (height, width):
    x = layers.Resizing(*size, name="resize_for_backbone")(x)
  if channels == 1:
    x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
  x = layers.Rescaling(2.0, offset=-1.0, name="to_mobilenet_range")(x)
  base = keras.applications.MobileNetV2(input_shape=(*size, 3), include_top=False,
                                        weights=weights or None, alpha=alpha)
  x = base(x)
  x = layers.GlobalAveragePooling2D(name="gap")(x)
  return keras.Model(inputs, x, name="mobilenet_v2_features"), base


def unfreeze_top(base: keras.Model, num_layers: int) -> None:
  """Makes the top `num_layers` layers of `base` trainable, keeping BatchNorm statistics frozen."""
  base.trainable = True
  cut = max(0, len(base.layers) - num_layers)
  for i, layer in enumerate(base.layers):
    layer.trainable = i >= cut and not isinstance(layer, layers.BatchNormalization)
