"""The `coco_json` and `voc_xml` ingest readers: every bad annotation is quarantined with its
reason (or clipped and counted, or stops the run naming the file); good boxes arrive exact and
normalised."""

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
  src = datasets.write_digit_scenes(str(tmp_path / "gen"), count=12, size=24, seed=3,
                                    scale=(0.3, 0.5))
  root = tmp_path / "scenes"
  shutil.copytree(src, root)
  return root


def _run(root, out, **options):
  return ingest.run_ingest(local_pipeline(), str(root), str(out), train_percent=50, channels=3,
                           reader=readers.detect(str(root), ("coco_json", "voc_xml")),
                           reader_options=options or None)


def _examples(out):
  files = tf.io.gfile.glob(str(out / "Split-*" / "*"))
  rows = [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
  return {r.features.feature["source"].bytes_list.value[0].decode().rsplit("/", 1)[-1]: r
          for r in rows}


def _boxes(example):
  f = example.features.feature
  return (np.reshape(f["boxes"].float_list.value, (-1, 4)), list(f["box_classes"].int64_list.value),
          example.features.feature["label"].bytes_list.value[0].decode())


def test_coco_boxes_arrive_normalised_and_exact(scenes, tmp_path):
  coco = json.loads((scenes / "annotations.json").read_text())
  summary = _run(scenes, tmp_path / "out")
  assert summary["quarantined"] == 0 and sum(summary["examples"].values()) == 12
  examples = _examples(tmp_path / "out")
  ann = [a for a in coco["annotations"] if a["image_id"] == 0]
  b, c, label = _boxes(examples["00000.png"])
  x, y, w, h = ann[0]["bbox"]
  np.testing.assert_allclose(b[0], [y / 24, x / 24, (y + h) / 24, (x + w) / 24], rtol=1e-6)
  assert c[0] == ann[0]["category_id"] - 1  # categories "0".."9" have ids 1..10
  assert label in [str(a["category_id"] - 1) for a in ann]
  f = examples["00000.png"].features.feature
  assert [v.decode() for v in f["classes"].bytes_list.value] == [str(d) for d in range(10)]


def test_every_bad_coco_annotation_has_its_fate(scenes, tmp_path):
  coco = json.loads((scenes / "annotations.json").read_text())
  by_image = {}
  for a in coco["annotations"]:
    by_image.setdefault(a["image_id"], []).append(a)
  by_image[0][0]["bbox"] = [-3, -3, 10, 10]                    # partly outside: clipped
  by_image[1][0]["bbox"] = [30, 30, 5, 5]                      # wholly outside
  by_image[2][0]["bbox"] = [3, 3, 0, 5]                        # no area
  by_image[3][0]["category_id"] = 99                           # unknown category id
  by_image[4][0]["bbox"] = [1, 2, 3]                           # malformed
  coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != 5]  # unannotated
  coco["annotations"].append({"id": 999, "image_id": 777, "category_id": 1,
                              "bbox": [0, 0, 2, 2]})           # image id not listed
  coco["images"][6]["width"] = 50                              # size differs from the file
  coco["images"].append({**coco["images"][7]})                 # duplicate image id
  coco["images"][8]["file_name"] = "images/missing.png"        # file not there
  (scenes / "annotations.json").write_text(json.dumps(coco))
  summary = _run(scenes, tmp_path / "out")
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"] for q in ingest.read_quarantine(
      str(tmp_path / "out"))}
  assert "wholly outside" in reasons["00001.png"]
  assert "has no area" in reasons["00002.png"]
  assert "unknown category id 99" in reasons["00003.png"]
  assert "is not [x, y, width, height]" in reasons["00004.png"]
  assert "annotation 999 is for image id 777" in reasons["annotations.json#annotation=999"]
  assert "the annotation says the image is 50x24" in reasons["00006.png"]
  assert "duplicate image id 7" in reasons["00007.png"]
  assert "cannot read" in reasons["missing.png"]
  examples = _examples(tmp_path / "out")
  assert summary["notes"] == {"clipped": 1}
  b, _, _ = _boxes(examples["00000.png"])
  np.testing.assert_allclose(b[0], [0, 0, 7 / 24, 7 / 24], rtol=1e-6)
  # The unannotated image is a negative by default ...
  b, c, label = _boxes(examples["00005.png"])
  assert b.shape == (0, 4) and c == [] and label == readers.NO_OBJECT
  assert summary["quarantined"] == 8
  # ... or quarantined by configuration.
  _run(scenes, tmp_path / "out2", unannotated="quarantine")
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"] for q in ingest.read_quarantine(
      str(tmp_path / "out2"))}
  assert "image without annotation" in reasons["00005.png"]


def test_coco_files_and_labels_that_stop_the_run(scenes, tmp_path):
  (scenes / "annotations.json").write_text("{not json")
  with pytest.raises(IngestError, match="annotations.json: cannot read the COCO annotations"):
    _run(scenes, tmp_path / "out")
  (scenes / "annotations.json").write_text(json.dumps({"images": []}))
  with pytest.raises(IngestError, match="not COCO"):
    _run(scenes, tmp_path / "out")
  (scenes / "annotations.json").write_text(json.dumps(
      {"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"},
                                                       {"id": 1, "name": "b"}]}))
  with pytest.raises(IngestError, match="category id 1 is defined twice"):
    _run(scenes, tmp_path / "out")
  with pytest.raises(IngestError, match="takes no options"):
    ingest.list_sources(str(scenes), (), 50, reader="class_folders",
                        options={"unannotated": "negative"})


def test_a_category_outside_the_configured_labels_is_quarantined(scenes, tmp_path):
  sources = readers.list_coco(str(scenes), [str(d) for d in range(9)], 50)  # no "9"
  nines = [s for s in sources if s.problem]
  assert all("category '9' is not one of the configured labels" in s.problem for s in nines)


def _voc(root, images):
  (root / "Annotations").mkdir(parents=True)
  (root / "JPEGImages").mkdir()
  for name, objects in images.items():
    cv2.imwrite(str(root / "JPEGImages" / f"{name}.png"), np.full((20, 30, 3), 90, np.uint8))
    if objects is None:
      continue
    body = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    (root / "Annotations" / f"{name}.xml").write_text(
        f"<annotation><filename>{name}.png</filename><size><width>30</width>"
        f"<height>20</height><depth>3</depth></size>{body}</annotation>")


def test_voc_boxes_and_bad_annotations(tmp_path):
  root = tmp_path / "voc"
  _voc(root, {"a": [("cat", (1, 1, 30, 20)), ("dog", (11, 6, 20, 10))],
              "b": [("dog", (5, 5, 40, 10))],       # partly outside: clipped
              "c": [],                              # no objects: a negative
              "d": None,                            # no XML: a negative
              "e": [("cat", (2, 2, 8, 8))], "f": [("cat", (3, 3, 9, 9))]})
  (root / "Annotations" / "g.xml").write_text("<annotation><object>")
  summary = _run(root, tmp_path / "out")
  examples = _examples(tmp_path / "out")
  b, c, _ = _boxes(examples["a.png"])
  # VOC is 1-based inclusive: (1, 1, 30, 20) is the whole 30x20 image.
  np.testing.assert_allclose(b, [[0, 0, 1, 1], [5 / 20, 10 / 30, 10 / 20, 20 / 30]], rtol=1e-6)
  assert c == [0, 1]  # classes sorted: cat, dog
  np.testing.assert_allclose(_boxes(examples["b.png"])[0], [[4 / 20, 4 / 30, 10 / 20, 1]],
                             rtol=1e-6)
  assert _boxes(examples["c.png"])[1] == [] and _boxes(examples["d.png"])[1] == []
  assert summary["notes"] == {"clipped": 1}
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"] for q in ingest.read_quarantine(
      str(tmp_path / "out"))}
  assert "cannot read VOC annotation" in reasons["g.xml"]
  sources = readers.list_voc(str(root), ["cat"], 50)
  assert any("object names ['dog'] are not classes ['cat']" in s.problem for s in sources)
