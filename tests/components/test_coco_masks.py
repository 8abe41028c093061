"""The `coco_masks` ingest reader (semantic segmentation from COCO polygons and RLE): masks are
painted exactly, and every bad segmentation is quarantined with its reason."""

import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
import tensorflow as tf

from components.image_ingest import ingest
from components.image_ingest import readers
from components.image_ingest.ingest import IngestError
from pipelines.infra import local_pipeline


def _rle(region: np.ndarray, compressed: bool) -> dict:
  if compressed:
    rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
  flat = region.T.reshape(-1).astype(np.uint8)  # column-major runs, starting with zeros
  runs, current, n = [], 0, 0
  for v in flat:
    if v != current:
      runs.append(n)
      current, n = v, 0
    n += 1
  runs.append(n)
  return {"size": list(region.shape), "counts": runs}


@pytest.fixture
def coco(tmp_path):
  """Six 20x16 images: a polygon, compressed and uncompressed RLE, a crowd region painted over,
  no annotation, and five bad ones."""
  root = tmp_path / "coco"
  (root / "images").mkdir(parents=True)
  square = np.zeros((16, 20), bool)
  square[2:8, 3:9] = True
  disc = np.zeros((16, 20), bool)
  cv2.circle(disc.view(np.uint8), (13, 10), 4, 1, -1)
  images, annotations = [], []

  def image(i, size=(20, 16)):
    name = f"images/{i}.png"
    cv2.imwrite(str(root / name), np.full((16, 20, 3), 40 * i, np.uint8))
    images.append({"id": i, "file_name": name, "width": size[0], "height": size[1]})

  def annotate(i, category, segmentation, crowd=0):
    annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": category,
                        "segmentation": segmentation, "iscrowd": crowd, "bbox": [0, 0, 1, 1]})

  image(0)
  annotate(0, 1, [[3, 2, 9, 2, 9, 8, 3, 8]])  # the square, as a polygon (pixel corners)
  image(1)
  annotate(1, 2, _rle(disc, compressed=True))
  annotate(1, 1, _rle(square, compressed=False))
  image(2)
  annotate(2, 1, _rle(square, compressed=True))
  annotate(2, 2, _rle(square, compressed=True), crowd=1)  # painted over: later wins
  image(3)  # no annotation: an all-background negative
  image(4)
  annotate(4, 1, [[1, 2, 3]])
  image(5)
  annotate(5, 1, _rle(np.ones((8, 8), bool), compressed=True))
  image(6)
  annotate(6, 1, [[30, 30, 40, 30, 40, 40]])  # wholly outside the 20x16 image
  image(7)
  annotate(7, 9, _rle(square, compressed=True))
  image(8, size=(32, 32))
  annotate(8, 1, _rle(square, compressed=True))
  data = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "disc"}]}
  (root / "annotations.json").write_text(json.dumps(data))
  return root, square, disc


def _masks(out):
  files = tf.io.gfile.glob(str(out / "Split-*" / "*"))
  masks = {}
  for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
    f = tf.train.Example.FromString(record.numpy()).features.feature
    masks[f["source"].bytes_list.value[0].decode().rsplit("/", 1)[-1]] = (
        cv2.imdecode(np.frombuffer(f["mask"].bytes_list.value[0], np.uint8),
                     cv2.IMREAD_UNCHANGED),
        [c.decode() for c in f["classes"].bytes_list.value], f["label"].bytes_list.value[0])
  return masks


def test_polygons_and_rle_paint_exact_masks_and_bad_ones_are_quarantined(coco, tmp_path):
  root, square, disc = coco
  assert readers.detect(str(root), ("mask_pairs", "coco_masks")) == "coco_masks"
  summary = ingest.run_ingest(local_pipeline(), str(root), str(tmp_path / "out"),
                              train_percent=50, channels=3, reader="coco_masks")
  assert summary["listed"] == 9
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"]
             for q in ingest.read_quarantine(str(tmp_path / "out"))}
  assert "is not a list of at least three x, y points" in reasons["4.png"]
  assert "RLE mask is 8x8 but the image is 20x16" in reasons["5.png"]
  assert "covers no pixel of the 20x16 image" in reasons["6.png"]
  assert "unknown category id 9" in reasons["7.png"]
  assert "the annotation says the image is 32x32" in reasons["8.png"]
  masks = _masks(tmp_path / "out")
  assert sorted(masks) == ["0.png", "1.png", "2.png", "3.png"]
  mask, classes, label = masks["0.png"]
  assert classes == ["background", "square", "disc"] and label == b"square"
  np.testing.assert_array_equal(mask, square.astype(np.uint8))
  expected = np.where(square, 1, np.where(disc, 2, 0))
  np.testing.assert_array_equal(masks["1.png"][0], expected)
  np.testing.assert_array_equal(masks["2.png"][0], square.astype(np.uint8) * 2)
  assert not masks["3.png"][0].any() and masks["3.png"][2] == b"background"


def test_configured_labels_must_start_with_the_background(coco):
  root, _, _ = coco
  with pytest.raises(IngestError, match="starts with 'background'"):
    readers.get("coco_masks").list(str(root), ("square", "disc"), 50, "file")
  sources = readers.get("coco_masks").list(str(root), ("background", "square", "disc"), 50)
  assert len(sources) == 9
