"""The detection task's tf.Transform step: the image as every image task has it, its boxes padded
to a fixed `MAX_BOXES` (class -1 marks padding; boxes are normalised, so resizing the image
leaves them valid), and the class list as a vocabulary so training and serving name the classes
the same way."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.image_ingest.readers import MAX_BOXES
from pipelines import config_loader
from pipelines.segmentation.transform import CLASSES_KEY
from pipelines.segmentation.transform import class_entries
from pipelines.segmentation.transform import class_names_from_vocabulary
from pipelines.vision import preprocessing
from pipelines.vision.config import ImageConfig
from pipelines.vision.transform import IMAGE_KEY
from pipelines.vision.transform import xf

PREPROCESSING_FN = "pipelines.detection.transform.preprocessing_fn"

BOXES_KEY = "boxes"
BOX_CLASSES_KEY = "box_classes"
CLASS_VOCABULARY = "detection_classes"


def _dense(values, n, width: int, fill) -> tf.Tensor:
  """A [N, MAX_BOXES, width] (width 0: [N, MAX_BOXES]) tensor of a per-example list feature."""
  if isinstance(values, tf.SparseTensor):
    values = tf.sparse.to_dense(values, default_value=tf.cast(fill, values.dtype))
  values = tf.reshape(values, [n, -1])
  size = MAX_BOXES * max(width, 1)
  values = tf.pad(values[:, :size], [[0, 0], [0, size - tf.shape(values[:, :size])[1]]],
                  constant_values=tf.cast(fill, values.dtype))
  return tf.reshape(values, [n, MAX_BOXES, width] if width else [n, MAX_BOXES])


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict:
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  images = preprocessing.stored_images(inputs[IMAGE_KEY], image.height, image.width,
                                       image.channels)
  outputs = {xf(IMAGE_KEY): images}
  n = tf.shape(images)[0]
  if BOXES_KEY in inputs:
    outputs[xf(BOXES_KEY)] = _dense(inputs[BOXES_KEY], n, 4, 0.0)
    outputs[xf(BOX_CLASSES_KEY)] = _dense(inputs[BOX_CLASSES_KEY], n, 0, -1)
  if CLASSES_KEY in inputs:
    tft.vocabulary(class_entries(inputs[CLASSES_KEY]), vocab_filename=CLASS_VOCABULARY)
  return outputs


def class_names(tft_output: tft.TFTransformOutput) -> list[str]:
  """The class names in class-index order, from the class-list vocabulary."""
  return class_names_from_vocabulary(tft_output, CLASS_VOCABULARY)
