"""The `mask_pairs` ingest reader (image + mask PNGs with a class list): every bad annotation is
quarantined with its reason or stops the run naming the file; good pairs keep their exact mask."""

import json
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.image_ingest import ingest
from components.image_ingest import readers
from components.image_ingest.ingest import IngestError
from pipelines import datasets
from pipelines.infra import local_pipeline


@pytest.fixture
def scenes(tmp_path):
  src = datasets.write_digit_scenes(str(tmp_path / "gen"), count=16, size=24, seed=3)
  root = tmp_path / "scenes"
  shutil.copytree(src, root)
  (root / ".complete").unlink()
  return root


def _run(root, out):
  return ingest.run_ingest(local_pipeline(), str(root), str(out), train_percent=50, channels=3,
                           reader=readers.detect(str(root), ("mask_pairs", "class_folders")))


def _examples(out):
  files = tf.io.gfile.glob(str(out / "Split-*" / "*"))
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_the_generator_writes_exact_masks_and_boxes(tmp_path):
  root = datasets.write_digit_scenes(str(tmp_path), count=6, size=32, seed=1)
  assert datasets.write_digit_scenes(str(tmp_path), count=6, size=32, seed=1) == root
  assert (tmp_path / root / "classes.txt").read_text().split() == list(datasets.DIGIT_CLASSES)
  for line in open(f"{root}/instances.jsonl"):
    row = json.loads(line)
    mask = cv2.imread(f"{root}/masks/{row['image'].split('/')[1]}", cv2.IMREAD_UNCHANGED)
    assert mask.shape == (32, 32)
    assert set(np.unique(mask)) == {0} | {i["class_id"] for i in row["instances"]}
    for inst in row["instances"]:
      x0, y0, x1, y1 = inst["box"]
      inside = mask[y0:y1, x0:x1] == inst["class_id"]
      assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


def test_good_pairs_keep_their_mask_and_bad_ones_are_quarantined_with_a_reason(scenes, tmp_path):
  masks = scenes / "masks"
  original = cv2.imread(str(masks / "00000.png"), cv2.IMREAD_UNCHANGED)
  cv2.imwrite(str(masks / "00001.png"), np.zeros((10, 24), np.uint8))  # wrong size
  bad_values = original.copy()
  bad_values[0, 0] = 50
  cv2.imwrite(str(masks / "00002.png"), bad_values)  # value not in classes.txt
  cv2.imwrite(str(masks / "00003.png"), np.dstack([original, original * 0, original]))  # colour
  (masks / "00004.png").unlink()  # image without a mask
  cv2.imwrite(str(masks / "99999.png"), original)  # mask without an image
  shutil.copy(scenes / "images" / "00005.png", scenes / "images" / "00005.jpg")  # duplicate id
  (masks / "00006.png").write_bytes(b"not a png")
  summary = _run(scenes, tmp_path / "out")
  reasons = {json.loads(line)["path"].split("/", -1)[-1]: json.loads(line)["reason"]
             for line in open(tmp_path / "out" / ingest.QUARANTINE_FILE)}
  assert reasons["00001.png"].endswith("is 24x10 but its image is 24x24")
  assert "has values [50] not in the class list (0..10 in classes.txt)" in reasons["00002.png"]
  assert "has colour" in reasons["00003.png"]
  assert reasons["00004.png"].startswith("image without a mask")
  assert reasons["99999.png"].startswith("mask without an image")
  assert reasons["00005.png"].startswith("duplicate image id '00005'")  # the .png after .jpg
  assert "not an image OpenCV can decode" in reasons["00006.png"]
  assert summary["quarantined"] == 7  # 16 pairs + a duplicate image + an orphan mask:
  assert sum(summary["examples"].values()) == 16 + 1 - 6
  examples = {e.features.feature["source"].bytes_list.value[0].decode().split("/")[-1]: e
              for e in _examples(tmp_path / "out")}
  kept = examples["00000.png"].features.feature
  np.testing.assert_array_equal(
      cv2.imdecode(np.frombuffer(kept["mask"].bytes_list.value[0], np.uint8),
                   cv2.IMREAD_UNCHANGED), original)
  values, counts = np.unique(original[original > 0], return_counts=True)
  assert kept["label"].bytes_list.value[0].decode() == datasets.DIGIT_CLASSES[
      values[np.argmax(counts)]]


def test_an_image_without_a_mask_is_an_all_background_negative_by_config(scenes, tmp_path):
  (scenes / "masks" / "00004.png").unlink()
  summary = ingest.run_ingest(local_pipeline(), str(scenes), str(tmp_path / "out"),
                              train_percent=50, channels=3, reader="mask_pairs",
                              reader_options={"unannotated": "negative"})
  assert summary["quarantined"] == 0 and sum(summary["examples"].values()) == 16
  negative = next(e.features.feature for e in _examples(tmp_path / "out")
                  if e.features.feature["source"].bytes_list.value[0].endswith(b"00004.png"))
  mask = cv2.imdecode(np.frombuffer(negative["mask"].bytes_list.value[0], np.uint8),
                      cv2.IMREAD_UNCHANGED)
  assert mask.shape == (24, 24) and not mask.any()
  assert negative["label"].bytes_list.value[0] == b"background"
  with pytest.raises(IngestError, match="unannotated must be one of"):
    readers.get("mask_pairs").list(str(scenes), (), 50, "file", unannotated="drop")


@pytest.mark.parametrize("classes, labels, error", [
    ("background\n0\n0\n", (), "duplicate class names ['0']"),
    ("background\n", (), "needs the background and at least one class"),
    ("background\n\n1\n", (), "line 2: empty class name"),
    (None, ("background", "a"), "differ from the configured labels"),
])
def test_a_bad_class_list_stops_the_run_naming_the_file(scenes, classes, labels, error):
  if classes is not None:
    (scenes / "classes.txt").write_text(classes)
  with pytest.raises(IngestError, match="classes.txt") as e:
    readers.get("mask_pairs").list(str(scenes), labels, 80, "file")
  assert error in str(e.value)


def test_mask_pairs_is_detected_before_class_folders(scenes):
  assert readers.detect(str(scenes), ("class_folders", "mask_pairs")) == "mask_pairs"
  assert readers.detect(str(scenes / "images"), ("class_folders", "mask_pairs")) == \
      "class_folders"
