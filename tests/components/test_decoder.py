"""One image rule, case by case: every file is either stored as bytes that Transform's and
serving's decoder (`components.common.images.decode`) reads at the configured channels, or
quarantined with a reason. Real-world cases a user's folder holds."""

import io

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.image_ingest import ingest
from pipelines.vision import preprocessing
from pipelines.infra import local_pipeline

RNG = np.random.default_rng(0)
RGB = (RNG.random((12, 10, 3)) * 255).astype(np.uint8)
GRAY = (RNG.random((12, 10)) * 255).astype(np.uint8)


def _cv(ext, image):
  return cv2.imencode(ext, image)[1].tobytes()


def _pil(image, fmt, **kwargs):
  buf = io.BytesIO()
  image.save(buf, fmt, **kwargs)
  return buf.getvalue()


def _animated_gif():
  frames = [Image.fromarray(RGB), Image.fromarray(255 - RGB)]
  return _pil(frames[0], "GIF", save_all=True, append_images=frames[1:])


def _bomb_png(width=100_000, height=100_000):
  """A valid PNG signature and IHDR claiming width x height pixels, without pixel data."""
  import struct
  import zlib
  ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
  chunk = b"IHDR" + ihdr
  return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk +
          struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


JPEG = _cv(".jpg", RGB)
PNG16 = _cv(".png", (GRAY.astype(np.uint16) * 257))
# case -> (file bytes, configured channels, expected fate: "as is", "png" or a quarantine reason)
CASES = {
    "gray png": (_cv(".png", GRAY), 1, "as is"),
    "jpeg with bytes after its end marker": (JPEG + b"\x00TRAILER" * 50, 3, "as is"),
    "png with alpha": (_cv(".png", np.dstack([RGB, GRAY])), 3, "as is"),
    "16-bit png": (PNG16, 1, "as is"),
    "grayscale into an rgb config": (_cv(".png", GRAY), 3, "as is"),
    "colour into a grayscale config": (JPEG, 1, "as is"),
    "1x1 image": (_cv(".png", np.zeros((1, 1), np.uint8)), 1, "as is"),
    "bmp": (_cv(".bmp", RGB), 3, "as is"),
    "cmyk jpeg": (_pil(Image.fromarray(RGB).convert("CMYK"), "JPEG"), 3, "as is"),
    "animated gif into a grayscale config": (_animated_gif(), 1, "png"),
    "animated gif into an rgb config": (_animated_gif(), 3, "as is"),
    "webp": (_cv(".webp", RGB), 3, "png"),
    "tiff": (_cv(".tiff", RGB), 3, "png"),
    "16-bit tiff": (_cv(".tiff", GRAY.astype(np.uint16) * 257), 1, "png"),
    "zero bytes": (b"", 1, "empty file (0 bytes)"),
    "text named .png": (b"hello, not an image\n", 1, "not an image TensorFlow or OpenCV can decode"),
    "truncated jpeg": (JPEG[:len(JPEG) // 2], 3, "truncated jpeg file"),
    "truncated png": (_cv(".png", RGB)[:60], 3, "truncated png file"),
    "decompression bomb": (_bomb_png(), 1, "image is larger than Pillow's limit = 10000000000 "
                                           "pixels by its header, over max_pixels=40000000 "
                                           "(not decoded)"),
    "big by its header": (_bomb_png(10_000, 5_000), 1, "image is 10000x5000 = 50000000 pixels by "
                                                       "its header, over max_pixels=40000000"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_file_decodes_as_served_or_is_quarantined_with_a_reason(case):
  data, channels, fate = CASES[case]
  info = ingest.validate_image(data, 20 << 20, 40_000_000, channels)
  if fate in ("as is", "png"):
    assert isinstance(info, ingest.ImageInfo), info
    assert (info.data == data) == (fate == "as is")
    if fate == "png":
      assert info.data.startswith(b"\x89PNG") and info.note.startswith("converted ")
    # What Transform and the serving signature compute from the stored bytes.
    decoded = preprocessing.decode_and_resize(tf.constant([info.data]), 8, 8, channels)
    assert decoded.shape == (1, 8, 8, channels)
    assert info.channels == channels
  else:
    assert isinstance(info, str) and info.startswith(fate), info


def test_conversions_are_lossless():
  info = ingest.validate_image(CASES["webp"][0], 20 << 20, 40_000_000, 3)
  original = cv2.imdecode(np.frombuffer(CASES["webp"][0], np.uint8), cv2.IMREAD_UNCHANGED)
  stored = tf.io.decode_png(info.data, channels=3).numpy()[..., ::-1]  # RGB -> BGR
  np.testing.assert_array_equal(stored, original)
  gif = ingest.validate_image(_animated_gif(), 20 << 20, 40_000_000, 1)
  first_frame = tf.io.decode_gif(_animated_gif()).numpy()[0]
  np.testing.assert_array_equal(tf.io.decode_png(gif.data, channels=3).numpy(), first_frame)


def test_ingest_writes_converted_files_as_png_and_lists_them(tmp_path):
  import apache_beam as beam
  root = tmp_path / "data"
  for label in ("a", "b"):
    (root / label).mkdir(parents=True)
    for i in range(4):
      (root / label / f"ok{i}.png").write_bytes(_cv(".png", GRAY))
  (root / "a" / "tiff é.tiff").write_bytes(CASES["tiff"][0])  # non-ASCII name, converted
  (root / "b" / "bomb.png").write_bytes(_bomb_png())
  out = tmp_path / "out"
  summary = ingest.run_ingest(local_pipeline(), str(root), str(out), train_percent=50,
                              channels=3)
  assert summary["converted_to_png"] == 1 and summary["quarantined"] == 1
  assert sum(summary["examples"].values()) == 9
  rows = [r for s in ingest.SPLITS for r in ingest.read_examples(str(out), s)]
  tiff = [r for _, r in rows if r["source"].endswith("tiff é.tiff")]
  assert tiff and tiff[0]["image"].startswith(b"\x89PNG")
  assert "max_pixels" in ingest.read_quarantine(str(out))[0]["reason"]
