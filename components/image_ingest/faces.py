"""Face detection and alignment with MTCNN for identity-folder datasets (TFX-free).

MTCNN (the `mtcnn` package; its P/R/O-Net weights ship inside the wheel, nothing is downloaded)
finds faces and five landmarks. The most confident face is rotated so the eyes are level, its box
grown by `margin` and squared, and the crop resized to `crop_size` and re-encoded as PNG. Images
with no face are quarantined by the caller with the reason returned here.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

# MTCNN's smallest detectable face is ~20 px (its P-Net window at the default scale); small
# images such as LFW thumbnails are upscaled to at least this side before detection.
MIN_DETECTION_SIDE = 100


@dataclasses.dataclass(frozen=True)
class AlignConfig:
  min_confidence: float = 0.9
  margin: float = 0.2
  crop_size: int = 112

  def __post_init__(self):
    # Typed pipeline parameters carry every field as a float.
    object.__setattr__(self, "crop_size", int(self.crop_size))


class FaceAligner:
  """Detects and aligns the main face of an image; the detector loads on first use."""

  def __init__(self, config: AlignConfig):
    self.config = config
    self._detector = None

  def _detect(self, rgb: np.ndarray) -> list[dict]:
    if self._detector is None:
      from mtcnn import MTCNN  # pylint: disable=g-import-not-at-top
      self._detector = MTCNN(device="CPU:0")
    return self._detector.detect_faces(rgb)

  def align(self, data: bytes) -> bytes | str:
    """PNG bytes of the aligned face crop, or the reason there is none."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
      return "cannot decode image for face detection"
    scale = max(1.0, MIN_DETECTION_SIDE / min(bgr.shape[:2]))
    if scale > 1:
      bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    faces = [f for f in self._detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
             if f["confidence"] >= self.config.min_confidence]
    if not faces:
      return f"no face detected (MTCNN confidence >= {self.config.min_confidence})"
    face = max(faces, key=lambda f: f["box"][2] * f["box"][3] * f["confidence"])
    crop = align_crop(bgr, face["box"], face["keypoints"]["left_eye"],
                      face["keypoints"]["right_eye"], self.config.margin, self.config.crop_size)
    ok, buf = cv2.imencode(".png", crop)
    if not ok:
      return "cannot encode the aligned face"
    return buf.tobytes()


def align_crop(image: np.ndarray, box, left_eye, right_eye, margin: float,
               size: int) -> np.ndarray:
  """Rotates `image` about the eyes' midpoint so they are level, then crops the grown, squared
  face box (border pixels replicated) and resizes it to size x size."""
  (lx, ly), (rx, ry) = left_eye, right_eye
  angle = math.degrees(math.atan2(ry - ly, rx - lx))
  center = ((lx + rx) / 2.0, (ly + ry) / 2.0)
  rotation = cv2.getRotationMatrix2D(center, angle, 1.0)
  rotated = cv2.warpAffine(image, rotation, (image.shape[1], image.shape[0]),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
  x, y, w, h = box
  cx, cy = x + w / 2.0, y + h / 2.0
  cx, cy = rotation @ np.array([cx, cy, 1.0])  # the box centre moves with the rotation
  side = max(w, h) * (1 + 2 * margin)
  x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
  x1, y1 = x0 + int(round(side)), y0 + int(round(side))
  pad = max(0, -x0, -y0, x1 - rotated.shape[1], y1 - rotated.shape[0])
  if pad:
    rotated = cv2.copyMakeBorder(rotated, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
  return cv2.resize(rotated[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
