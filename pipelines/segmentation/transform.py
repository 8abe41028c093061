"""The segmentation task's tf.Transform step: the image as every image task has it, the mask
resized with nearest neighbour (class ids stay exact), and the class list as a vocabulary so
training and serving name the classes the same way."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from pipelines import config_loader
from pipelines.vision import preprocessing
from pipelines.vision.config import ImageConfig
from pipelines.vision.transform import IMAGE_KEY
from pipelines.vision.transform import xf

PREPROCESSING_FN = "pipelines.segmentation.transform.preprocessing_fn"

MASK_KEY = "mask"
CLASSES_KEY = "classes"
CLASS_VOCABULARY = "segmentation_classes"


def decode_masks(mask_bytes: tf.Tensor, height: int, width: int) -> tf.Tensor:
  """Encoded 8-bit masks [N] -> class ids int64 [N, height, width], resized with nearest
  neighbour (never bilinear: a blend of two class ids is no class)."""
  mask_bytes = tf.reshape(mask_bytes, [-1])

  def one(data):
    def decode():
      mask = tf.io.decode_png(data, channels=1)
      return tf.image.resize(mask, [height, width], method="nearest")[..., 0]
    # Serving requests carry no mask: tf.Transform feeds "" for it and the output is unused.
    return tf.cond(tf.strings.length(data) > 0, decode,
                   lambda: tf.zeros([height, width], tf.uint8))

  masks = tf.map_fn(one, mask_bytes, fn_output_signature=tf.TensorSpec([height, width],
                                                                       tf.uint8))
  return tf.cast(masks, tf.int64)


def class_entries(classes) -> tf.Tensor:
  """"<id>:<name>" for every class of every example (ids zero-padded so they sort)."""
  if isinstance(classes, tf.SparseTensor):
    ids = classes.indices[:, 1]
    names = classes.values
  else:
    n, k = tf.shape(classes)[0], tf.shape(classes)[1]
    ids = tf.reshape(tf.tile(tf.range(k, dtype=tf.int64)[tf.newaxis], [n, 1]), [-1])
    names = tf.reshape(classes, [-1])
  return tf.strings.join([tf.strings.as_string(ids, width=3, fill="0"), names], separator=":")


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict:
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  outputs = {xf(IMAGE_KEY): preprocessing.stored_images(
      inputs[IMAGE_KEY], image.height, image.width, image.channels)}
  if MASK_KEY in inputs:
    outputs[xf(MASK_KEY)] = decode_masks(inputs[MASK_KEY], image.height, image.width)
  if CLASSES_KEY in inputs:
    tft.vocabulary(class_entries(inputs[CLASSES_KEY]), vocab_filename=CLASS_VOCABULARY)
  return outputs


def class_names(tft_output: tft.TFTransformOutput) -> list[str]:
  """The class names in id order (0: background), from the class-list vocabulary."""
  return class_names_from_vocabulary(tft_output, CLASS_VOCABULARY)


def class_names_from_vocabulary(tft_output: tft.TFTransformOutput, vocabulary: str) -> list[str]:
  """The class names in id order from a class-list vocabulary of "<id>:<name>" entries."""
  entries = [e.decode() if isinstance(e, bytes) else e
             for e in tft_output.vocabulary_by_name(vocabulary)]
  by_id = sorted((int(e.split(":", 1)[0]), e.split(":", 1)[1]) for e in entries)
  if [i for i, _ in by_id] != list(range(len(by_id))):
    raise ValueError(f"class list is not one name per id 0..{len(by_id) - 1}: {by_id}")
  return [name for _, name in by_id]
