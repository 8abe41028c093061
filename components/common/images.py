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
