"""Image preprocessing shared by every task's tf.Transform `preprocessing_fn` and by exporters.

One definition of "decode, resize, scale" so the training graph, the serving graph (through
tf.Transform) and the edge exporters' sidecar metadata agree. Transform writes images in their
stored form (`stored_images`: raw uint8 pixels, a quarter of float32's bytes); whoever reads
transformed images turns them back into floats with `images` (one `decode_raw` per batch).
"""

from __future__ import annotations

import tensorflow as tf

from components.common import images as image_codec

# Pixels are scaled to [0, 1]: model_input = pixel * SCALE + OFFSET. Edge runtimes apply the same.
SCALE = 1.0 / 255.0
OFFSET = 0.0


def decode_and_resize(image_bytes: tf.Tensor, height: int, width: int,
                      channels: int) -> tf.Tensor:
  """Decodes a batch of encoded images (PNG, JPEG, GIF, BMP) to float32 [N, height, width, channels].

  Args:
    image_bytes: string tensor of shape [N] (or [N, 1]) holding encoded images.
  Returns:
    Images resized with bilinear interpolation and scaled to [0, 1].
  """
  image_bytes = tf.reshape(image_bytes, [-1])

  def one(data):
    image = image_codec.decode(data, channels)
    image = tf.image.resize(tf.cast(image, tf.float32), [height, width], antialias=True)
    return image

  images = tf.map_fn(one, image_bytes,
                     fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32))
  return tf.clip_by_value(images * SCALE + OFFSET, 0.0, 1.0)


def stored_images(image_bytes: tf.Tensor, height: int, width: int, channels: int) -> tf.Tensor:
  """Encoded images [N] -> what Transform writes: string [N], the raw uint8 pixels of
  `decode_and_resize`'s images (`components.common.images.encode_pixels`)."""
  return store(decode_and_resize(image_bytes, height, width, channels))


def store(images: tf.Tensor) -> tf.Tensor:
  """Float images [N, ...] in [0, 1] -> their stored form, string [N] (raw uint8 pixels)."""
  return image_codec.encode_pixels(images)


def images(stored: tf.Tensor, shape) -> tf.Tensor:
  """Stored images [N] (`stored_images`) -> float32 [N, *shape] in [0, 1], as
  `decode_and_resize` made them (to within rounding to whole pixel values)."""
  return image_codec.decode_pixels(stored, shape)


def decoded(features: dict, shapes: dict) -> dict:
  """Transformed features with the stored images among them (`shapes`: feature -> one image's
  shape) as float images in [0, 1], as the models take them; other features unchanged."""
  return {k: images(v, shapes[k]) if k in shapes else v for k, v in features.items()}
