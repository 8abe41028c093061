"""Face mode: MTCNN detection and eye alignment on real photos bundled with scikit-image
(the astronaut Eileen Collins, LFW thumbnails), and ingest quarantining images without a face."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from components.image_ingest import faces
from components.image_ingest import ingest
from pipelines.infra import local_pipeline


def _png(rgb: np.ndarray) -> bytes:
  bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
  return cv2.imencode(".png", bgr)[1].tobytes()


def _rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
  h, w = rgb.shape[:2]
  m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
  return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def aligner():
  return faces.FaceAligner(faces.AlignConfig(min_confidence=0.9, margin=0.2, crop_size=64))


@pytest.fixture(scope="module")
def photos():
  astronaut = skdata.astronaut()
  lfw = (skdata.lfw_subset() * 255).astype(np.uint8)  # 0-99 faces, 100-199 non-faces
  return {"astronaut": astronaut, "astronaut_tilted": _rotated(astronaut, 20),
          "lfw_face": lfw[0], "lfw_other_face": lfw[5], "lfw_non_face": lfw[150],
          "coffee": skdata.coffee()}


def _eyes(aligner, png: bytes):
  crop = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
  found = aligner._detect(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))  # pylint: disable=protected-access
  assert found, "no face found again in the aligned crop"
  return crop, found[0]["keypoints"]["left_eye"], found[0]["keypoints"]["right_eye"]


@pytest.mark.parametrize("name", ["astronaut", "astronaut_tilted", "lfw_face"])
def test_faces_are_cropped_with_level_eyes(aligner, photos, name):
  out = aligner.align(_png(photos[name]))
  assert isinstance(out, bytes), out
  crop, left, right = _eyes(aligner, out)
  assert crop.shape == (64, 64, 3)
  # Eyes level (the tilted photo was rotated by 20 degrees) and in the upper half, either side.
  assert abs(left[1] - right[1]) <= 2
  assert left[1] < 32 and left[0] < 32 < right[0]


@pytest.mark.parametrize("name", ["lfw_non_face", "coffee"])
def test_images_without_a_face_get_a_reason(aligner, photos, name):
  assert aligner.align(_png(photos[name])) == "no face detected (MTCNN confidence >= 0.9)"


def test_face_mode_ingest_writes_aligned_crops_and_quarantines_non_faces(tmp_path, photos):
  src = tmp_path / "people"
  for person, names in {"eileen": ["astronaut", "astronaut_tilted", "coffee"],
                        "lfw": ["lfw_face", "lfw_other_face", "lfw_non_face"]}.items():
    (src / person).mkdir(parents=True)
    for n in names:
      (src / person / f"{n}.png").write_bytes(_png(photos[n]))
  out = tmp_path / "examples"
  summary = ingest.run_ingest(local_pipeline(), str(src), str(out), train_percent=50,
                              face_align={"min_confidence": 0.9, "margin": 0.2,
                                          "crop_size": 48})
  assert summary["quarantined"] == 2
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"] for q in ingest.read_quarantine(str(out))}
  assert reasons == {"coffee.png": "no face detected (MTCNN confidence >= 0.9)",
                     "lfw_non_face.png": "no face detected (MTCNN confidence >= 0.9)"}
  rows = ingest.read_examples(str(out), "train") + ingest.read_examples(str(out), "eval")
  assert len(rows) == 4
  for _, row in rows:
    image = cv2.imdecode(np.frombuffer(row["image"], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (48, 48, 3)
    assert row["label"] in ("eileen", "lfw") and row["source"].endswith(".png")
