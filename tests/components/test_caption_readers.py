"""Caption ingest (`coco_captions`, `caption_csv`): several captions per image; empty and
over-long captions are dropped with a counted note, an image left without a valid caption, a
missing image file, a duplicate image id and a caption of an unlisted image are quarantined with
their reason; malformed files stop the run naming the file and line."""

import json

import cv2
import numpy as np
import pytest

from components.image_ingest import ingest
from components.image_ingest import readers
from components.image_ingest.ingest import IngestError
from pipelines.infra import local_pipeline


@pytest.fixture
def images(tmp_path):
  for i in range(6):
    cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
  return tmp_path


def _coco(root, images, annotations):
  (root / "captions.json").write_text(json.dumps({"images": images, "annotations": annotations}))
  return str(root)


def test_coco_captions_keep_valid_captions_and_quarantine_with_reasons(images, tmp_path):
  source = _coco(images, [
      {"id": 0, "file_name": "0.png", "split": "train"},
      {"id": 1, "file_name": "1.png", "split": "val"},  # Karpathy's names map to eval
      {"id": 2, "file_name": "2.png", "split": "train"},
      {"id": 3, "file_name": "missing.png", "split": "train"},
      {"id": 4, "file_name": "4.png", "split": "train"},
      {"id": 4, "file_name": "5.png", "split": "train"}],
      [{"id": 1, "image_id": 0, "caption": "A seven, left of a three."},
       {"id": 2, "image_id": 0, "caption": "   "},
       {"id": 3, "image_id": 0, "caption": "one two three four five six seven"},
       {"id": 4, "image_id": 0, "caption": "a seven"},
       {"id": 5, "image_id": 1, "caption": "a three"},
       {"id": 6, "image_id": 2, "caption": ""},
       {"id": 7, "image_id": 3, "caption": "a nine"},
       {"id": 8, "image_id": 4, "caption": "a one"},
       {"id": 9, "image_id": 5, "caption": "an orphan"}])
  assert readers.detect(source, ("coco_captions", "caption_csv")) == "coco_captions"
  out = tmp_path / "out"
  summary = ingest.run_ingest(local_pipeline(), source, str(out), channels=3,
                              reader="coco_captions", reader_options={"max_tokens": "6"})
  assert summary["listed"] == 7 and summary["examples"] == {"train": 2, "eval": 1}
  reasons = {q["path"].rsplit("/", 1)[-1]: q["reason"] for q in ingest.read_quarantine(str(out))}
  assert reasons["2.png"] == "no valid caption: 1 empty caption"
  assert reasons["missing.png"].startswith("cannot read")
  assert "duplicate image id 4" in reasons["5.png"]
  assert "is for image id 5, which" in reasons["captions.json#annotation=9"]
  assert summary["notes"] == {"dropped": 1}
  rows = {r["source"].rsplit("/", 1)[-1]: r for _, r in ingest.read_examples(str(out), "train")}
  assert rows["0.png"]["captions"] == [b"A seven, left of a three.", b"a seven"]
  converted = [json.loads(line) for line in open(out / ingest.CONVERTED_FILE)]
  assert converted[0]["note"] == ("dropped 1 empty caption, 1 over-long caption "
                                  "(over max_tokens=6)")


def test_caption_csv_groups_rows_by_image_and_caps_the_count(images, tmp_path):
  (images / "captions.csv").write_text(
      "path,caption,split\n0.png,a one,train\n0.png,\"a two, and a three\",train\n"
      "0.png,a four,\n1.png,a five,eval\n")
  sources = readers.list_caption_csv(str(images / "captions.csv"), (), 80, max_captions="2")
  assert [(s.path.rsplit("/", 1)[-1], s.split) for s in sources] == [("0.png", "train"),
                                                                     ("1.png", "eval")]
  annotation = dict(sources[0].annotation)
  assert annotation["captions"] == ("a one", "a two, and a three")
  assert annotation["dropped"] == "1 caption past max_captions=2"
  assert readers.annotate_captions(sources[0], None)["_note"].startswith("dropped 1 caption")


@pytest.mark.parametrize("body, error", [
    ("0.png\n", "line 1: expected 'path,caption\\[,split\\]'"),
    ("0.png,a one,holdout\n", "line 1: unknown split 'holdout'"),
    ("0.png,a one,train\n0.png,a two,eval\n", "line 2: 0.png is in split 'train'"),
    (",a one\n", "line 1: empty path"),
])
def test_malformed_caption_csv_names_the_file_and_line(tmp_path, body, error):
  (tmp_path / "c.csv").write_text(body)
  with pytest.raises(IngestError, match=error):
    readers.list_caption_csv(str(tmp_path / "c.csv"), (), 80)


def test_bad_coco_captions_and_options_stop_the_run(tmp_path):
  (tmp_path / "a.json").write_text(json.dumps({"images": []}))
  with pytest.raises(IngestError, match="a.json: not COCO captions"):
    readers.list_coco_captions(str(tmp_path / "a.json"), (), 80)
  (tmp_path / "b.json").write_text(json.dumps({
      "images": [{"id": 0, "file_name": "0.png", "split": "holdout"}], "annotations": []}))
  with pytest.raises(IngestError, match="image 0.png: unknown split 'holdout'"):
    readers.list_coco_captions(str(tmp_path / "b.json"), (), 80)
  with pytest.raises(IngestError, match="unknown caption reader options \\['max_words'\\]"):
    readers.list_coco_captions(str(tmp_path / "b.json"), (), 80, max_words=3)
