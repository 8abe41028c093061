"""The video task's tf.Transform step: every sampled frame decoded, resized and scaled like an
image (`pipelines.vision.preprocessing`), the clip as [T, H, W, C] stored as uint8 pixels;
class names to ids with the shared label vocabulary."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from pipelines import config_loader
from pipelines.vision import preprocessing
from pipelines.vision import transform as image_transform
from pipelines.vision.config import ImageConfig

FRAMES_KEY = "frames"
FRAMES_XF = image_transform.xf(FRAMES_KEY)


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict:
  """frames [N, T] encoded -> frames_xf [N] (stored uint8 pixels of the clip [T, H, W, C]);
  label -> label_xf.

  T is the fixed frame count ingest sampled (the inferred schema's shape of `frames`).
  """
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  frames = inputs[FRAMES_KEY]
  if isinstance(frames, tf.SparseTensor) or frames.shape.rank != 2 or frames.shape[1] is None:
    raise ValueError("the 'frames' feature must hold the same number of frames in every example "
                     f"(ingest samples a fixed count); got {frames!r}")
  count = int(frames.shape[1])
  decoded = preprocessing.decode_and_resize(tf.reshape(frames, [-1]), image.height, image.width,
                                            image.channels)
  clips = tf.reshape(decoded, [-1, count, image.height, image.width, image.channels])
  return {FRAMES_XF: preprocessing.store(clips),
          **image_transform.label_ids(inputs)}
