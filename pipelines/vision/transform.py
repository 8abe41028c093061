"""The tf.Transform step and Trainer input shared by every image task.

Every image DAG runs the same Transform (`PREPROCESSING_FN`): decode, resize and scale the image
(`preprocessing.decode_and_resize`), written as raw uint8 pixels (`preprocessing.stored_images`),
and map class names to ids with a tft vocabulary. Trainers read the transformed examples with
`dataset` (TFXIO) or `load_arrays` (into memory, for samplers that need labels up front, e.g.
P x K batches for metric learning); both give float images in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from pipelines import config_loader
from pipelines.vision import preprocessing
from pipelines.vision.config import ImageConfig

PREPROCESSING_FN = "pipelines.vision.transform.preprocessing_fn"

IMAGE_KEY = "image"
LABEL_KEY = "label"
SOURCE_KEY = "source"
LABEL_VOCABULARY = "label"
SERVING_INPUT = "image_bytes"


def xf(key: str) -> str:
  """The name of a transformed feature."""
  return f"{key}_xf"


def transform_custom_config(image: ImageConfig, code_version: str) -> dict:
  """Transform's `custom_config` for `preprocessing_fn`."""
  return {"image": config_loader.to_dict(image), "code_version": code_version}


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict:
  """Decodes and resizes images (stored as uint8 pixels), and maps labels to ids with a tft
  vocabulary."""
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  return {xf(IMAGE_KEY): preprocessing.stored_images(
      inputs[IMAGE_KEY], image.height, image.width, image.channels), **label_ids(inputs)}


def label_ids(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
  """{label_xf: class ids} through a tft vocabulary of the class names (none at serving time,
  when the label is absent). Ids follow the vocabulary file (by frequency); labels.txt records
  the order."""
  if LABEL_KEY not in inputs:
    return {}
  return {xf(LABEL_KEY): tft.compute_and_apply_vocabulary(
      tf.reshape(inputs[LABEL_KEY], [-1]), vocab_filename=LABEL_VOCABULARY)}


def class_names(tft_output: tft.TFTransformOutput) -> list[str]:
  """Class names in id order (the label vocabulary)."""
  return [c.decode() if isinstance(c, bytes) else c
          for c in tft_output.vocabulary_by_name(LABEL_VOCABULARY)]


def preprocessing_metadata(image: ImageConfig) -> dict:
  """How edge runtimes must prepare an image for the bare Keras/TFLite/ONNX model."""
  return {"height": image.height, "width": image.width, "channels": image.channels,
          "scale": preprocessing.SCALE, "offset": preprocessing.OFFSET, "layout": "NHWC",
          "color": "grayscale" if image.channels == 1 else "rgb", "resize": "bilinear"}


def image_shape(image: ImageConfig, *leading: int) -> tuple[int, ...]:
  """The shape of one transformed image of `image` (after any `leading` dims, e.g. frames)."""
  return (*leading, image.height, image.width, image.channels)


def dataset(file_pattern: list[str], data_accessor, tft_output: tft.TFTransformOutput,
            batch_size: int, shuffle: bool, seed: int, shape: tuple[int, ...],
            label: str = xf(LABEL_KEY), image: str = xf(IMAGE_KEY)) -> tf.data.Dataset:
  """(image [N, *shape] float in [0, 1], label [N, ...]) batches of transformed examples, read
  through TFXIO (`shape`: one stored image's, `image_shape`; `label`: the transformed feature
  holding the target, e.g. a class id or a mask)."""
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  ds = data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=label,
                                     num_epochs=1, shuffle=shuffle, shuffle_seed=seed),
      tft_output.transformed_metadata.schema)
  return ds.map(lambda features, target: (preprocessing.images(features[image], shape), target),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def reshuffled_in_memory(examples: tf.data.Dataset, num_examples: int,
                         seed: int) -> tf.data.Dataset:
  """Unbatched training examples read once, held in memory and reshuffled every epoch. The TFXIO
  reader's own shuffle left detection's AP50 at 0.23 against 0.35 this way (same model, same
  images, measured on the default run), and segmentation's mIoU at 0.37 against 0.42 (default
  run, 60 epochs)."""
  return examples.cache().shuffle(min(num_examples, 20000), seed=seed,
                                  reshuffle_each_iteration=True)


def count_examples(file_pattern: list[str]) -> int:
  """How many transformed examples match `file_pattern` (GZIP TFRecords, as Transform writes
  them); reads the records without parsing them."""
  files = [f for pattern in file_pattern for f in tf.io.gfile.glob(pattern)]
  if not files:
    raise ValueError(f"no transformed example files match {file_pattern}")
  records = tf.data.TFRecordDataset(files, compression_type="GZIP")
  return int(records.reduce(np.int64(0), lambda n, _: n + 1))


def load_arrays(file_pattern: list[str], data_accessor, tft_output: tft.TFTransformOutput,
                shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
  """All transformed examples matching `file_pattern` as (images float32, label ids int64)."""
  xs, ys = [], []
  for x, y in dataset(file_pattern, data_accessor, tft_output, 512, False, 0,
                      shape).as_numpy_iterator():
    xs.append(x)
    ys.append(np.reshape(y, [-1]))
  if not xs:
    raise ValueError(f"no transformed examples in {file_pattern}")
  return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)
