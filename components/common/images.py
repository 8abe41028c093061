"""The one image decoder of cvpipe: Transform, the serving signature (through the tf.Transform
graph) and ingest's validation all decode with `decode`, so an example's bytes are exactly what
serving accepts. EXIF orientation is ignored everywhere (TensorFlow's decoders do not apply it,
and ingest's OpenCV fallback reads with IMREAD_UNCHANGED, which does not either)."""

from __future__ import annotations


def decode(data, channels: int):
  """Decodes one encoded image (PNG, JPEG, GIF, BMP; the first frame of an animation) to uint8
  [H, W, channels] with TensorFlow."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.decode_image(data, channels=channels, expand_animations=False)


def reason(error: Exception) -> str:
  """The first line of a TensorFlow error without its graph-node prefix and op suffix."""
  import re  # pylint: disable=g-import-not-at-top
  lines = (getattr(error, "message", "") or str(error)).strip().splitlines()
  text = lines[0] if lines else type(error).__name__
  text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
  return re.sub(r"\s*\[Op:\w+\]", "", text).strip() or type(error).__name__


# ---------------------------------------------------------------------------------------------
# Stored pixels: how Transform writes images (one byte per value, not four)
#
# A transformed image is stored as the serialized uint8 TensorProto of its pixels
# (`tf.io.serialize_tensor`): a fixed header (dtype and shape, ~20 bytes) followed by the raw
# pixel bytes, so an example costs the raw uint8 size (a float32 image would cost 4x) and decodes
# with one vectorised `decode_raw` per batch, no image codec. Float images in [0, 1] map to
# pixel = round(255 x); decoding gives pixel / 255.


def _pixel_header(shape) -> bytes:
  """The serialized TensorProto header of a uint8 tensor of `shape` (everything before the raw
  pixel bytes)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  size = int(np.prod(shape))
  with tf.init_scope():
    serialized = tf.io.serialize_tensor(tf.zeros(shape, tf.uint8)).numpy()
  return serialized[:len(serialized) - size]


def encode_pixels(images):
  """Float images [N, ...] in [0, 1] -> their stored form, string [N]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
  return tf.map_fn(tf.io.serialize_tensor, pixels, fn_output_signature=tf.string)


def decode_pixels(stored, shape):
  """Stored images (string [N] or [N, 1]) -> float32 [N, *shape] in [0, 1]; an image stored
  with another shape is an error naming the expected one."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shape = [int(d) for d in shape]
  header, size = _pixel_header(shape), int(np.prod(shape))
  stored = tf.reshape(stored, [-1])
  check = tf.debugging.Assert(
      tf.reduce_all(tf.equal(tf.strings.substr(stored, 0, len(header)), header)),
      [f"a stored image is not a uint8 image of shape {shape} (the transformed images were "
       f"written with another image size: rerun Transform or fix the image config)"])
  with tf.control_dependencies([check]):
    pixels = tf.io.decode_raw(tf.strings.substr(stored, len(header), size), tf.uint8)
  return tf.reshape(tf.cast(pixels, tf.float32) / 255.0, [-1, *shape])


def pixels_from_stored(values):
  """Stored images (a numpy array of bytes [N]) -> float32 [N, ...] in [0, 1], the shape read
  from each image's own header; None when `values` are not stored images."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tensorflow.core.framework import tensor_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.framework import types_pb2  # pylint: disable=g-import-not-at-top
  out = []
  for value in np.reshape(values, [-1]):
    if not isinstance(value, bytes):
      return None
    proto = tensor_pb2.TensorProto()
    try:
      proto.ParseFromString(value)
    except Exception:  # pylint: disable=broad-except
      return None
    dims = [d.size for d in proto.tensor_shape.dim]
    if (proto.dtype != types_pb2.DT_UINT8 or len(dims) < 2 or
        len(proto.tensor_content) != int(np.prod(dims))):
      return None
    out.append(np.frombuffer(proto.tensor_content, np.uint8).reshape(dims))
  if not out or len({o.shape for o in out}) != 1:
    return None
  return np.stack(out).astype(np.float32) / 255.0
