import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.image_ingest import ingest
from components.image_ingest.ingest import IngestError
from pipelines.infra import local_pipeline
from tests.conftest import digit_images, write_folder


def _png(size=16, value=128):
  ok, buf = cv2.imencode(".png", np.full((size, size), value, np.uint8))
  assert ok
  return buf.tobytes()


def _jpeg(size=16):
  ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (size, size, 3),
                                                                    dtype=np.uint8))
  assert ok
  return buf.tobytes()


def test_valid_png_and_jpeg_report_their_shape():
  info = ingest.validate_image(_png(), 1 << 20, 10_000)
  assert (info.height, info.width, info.channels, info.format) == (16, 16, 1, "png")
  info = ingest.validate_image(_jpeg(), 1 << 20, 10_000)
  assert (info.channels, info.format) == (3, "jpeg")


@pytest.mark.parametrize("make, reason", [
    (lambda: b"", "empty file"),
    (lambda: _png()[:-20], "truncated png"),
    (lambda: _jpeg()[: len(_jpeg()) // 2], "truncated jpeg"),
    (lambda: b"hello, not an image\n" * 4, "not an image TensorFlow or OpenCV can decode"),
    (lambda: b"II*\x00" + b"\x00" * 100, "not an image TensorFlow or OpenCV can decode (tiff"),
    (lambda: _png()[:8] + b"\x00" * 40 + b"IEND\xaeB`\x82",
     "not an image TensorFlow or OpenCV can decode (png"),
])
def test_bad_images_get_a_reason(make, reason):
  result = ingest.validate_image(make(), 1 << 20, 10_000)
  assert isinstance(result, str) and result.startswith(reason), result


def test_oversized_files_and_pixel_counts_are_rejected():
  assert "over max_file_bytes=10" in ingest.validate_image(_png(), 10, 10_000)
  assert "over max_pixels=100" in ingest.validate_image(_png(size=16), 1 << 20, 100)


def test_hash_split_is_deterministic_and_follows_the_ratio():
  keys = [f"c/{i}.png" for i in range(2000)]
  first = [ingest.hash_split(k, 80) for k in keys]
  assert first == [ingest.hash_split(k, 80) for k in keys]
  assert 0.75 < first.count("train") / len(keys) < 0.85


def _run(source, out_dir, **kwargs):
  return ingest.run_ingest(local_pipeline(), str(source), str(out_dir), **kwargs)


def _read_examples(out_dir, split):
  files = tf.io.gfile.glob(str(out_dir / f"Split-{split}" / "*"))
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_folder_ingest_writes_examples_and_quarantines_each_bad_kind(tmp_path, digit_folder):
  bad = digit_folder / "7"
  (bad / "zero.png").write_bytes(b"")
  (bad / "truncated.png").write_bytes(_png()[:-30])
  (bad / "notes.png").write_bytes(b"not an image at all")
  (bad / "huge.png").write_bytes(_png(size=64))
  out = tmp_path / "out"
  summary = _run(digit_folder, out, max_file_bytes=1 << 20, max_pixels=40 * 40)
  examples = _read_examples(out, "train") + _read_examples(out, "eval")
  assert len(examples) == 36
  assert summary["examples"]["train"] + summary["examples"]["eval"] == 36
  assert summary["examples"]["train"] > 0 and summary["examples"]["eval"] > 0
  feature = examples[0].features.feature
  assert set(feature) == {"image", "height", "width", "channels", "label", "source"}
  assert feature["height"].int64_list.value[0] == 16
  assert feature["label"].bytes_list.value[0].decode() in {"0", "1", "7"}
  decoded = tf.io.decode_png(feature["image"].bytes_list.value[0])
  assert decoded.shape == (16, 16, 1)
  quarantine = {q["path"].rsplit("/", 1)[1]: q["reason"] for q in ingest.read_quarantine(str(out))}
  assert quarantine.keys() == {"zero.png", "truncated.png", "notes.png", "huge.png"}
  assert quarantine["zero.png"].startswith("empty file")
  assert quarantine["truncated.png"].startswith("truncated png")
  assert quarantine["notes.png"].startswith("not an image TensorFlow or OpenCV can decode")
  assert "over max_pixels" in quarantine["huge.png"]
  assert summary["quarantined"] == 4
  counts = json.loads((out / ingest.COUNTS_FILE).read_text())
  assert counts["listed"] == 40 and counts["quarantined"] == 4


def test_manifest_with_split_column_and_relative_paths(tmp_path):
  paths = write_folder(tmp_path / "imgs", digit_images(classes=(0, 1), per_class=4))
  rows = ["path,label,split"]
  for i, p in enumerate(paths):
    rows.append(f"imgs/{p.parent.name}/{p.name},{p.parent.name},{'eval' if i % 4 == 0 else 'train'}")
  manifest = tmp_path / "m.csv"
  manifest.write_text("\n".join(rows) + "\n")
  summary = _run(manifest, tmp_path / "out")
  assert summary["examples"] == {"train": 6, "eval": 2}


def test_manifest_unknown_label_stops_with_file_and_line(tmp_path):
  paths = write_folder(tmp_path, digit_images(classes=(0,), per_class=2))
  manifest = tmp_path / "m.csv"
  manifest.write_text(f"{paths[0]},0\n{paths[1]},cat\n")
  with pytest.raises(IngestError, match=r"m\.csv line 2: unknown label 'cat'"):
    ingest.list_sources(str(manifest), ("0", "1"), 50)


def test_manifest_bad_split_and_missing_file_are_clear(tmp_path):
  manifest = tmp_path / "m.csv"
  manifest.write_text("a.png,0,test\n")
  with pytest.raises(IngestError, match=r"m\.csv line 1: unknown split 'test'"):
    ingest.list_sources(str(manifest), (), 50)
  with pytest.raises(IngestError, match=r"nope\.csv: cannot read manifest"):
    ingest.list_sources(str(tmp_path / "nope.csv"), (), 50)


def test_empty_split_stops_the_run(tmp_path):
  paths = write_folder(tmp_path, digit_images(classes=(0,), per_class=3))
  manifest = tmp_path / "m.csv"
  manifest.write_text("".join(f"{p},0,train\n" for p in paths))
  with pytest.raises(IngestError, match=r"m\.csv: split 'eval' is empty"):
    ingest.list_sources(str(manifest), (), 50)


def test_quarantine_that_empties_a_split_stops_the_run(tmp_path):
  root = tmp_path / "d"
  write_folder(root, digit_images(classes=(0,), per_class=2))
  (root / "0" / "bad.png").write_bytes(b"")
  manifest = tmp_path / "m.csv"
  manifest.write_text(f"{root}/0/000.png,0,train\n{root}/0/001.png,0,train\n"
                      f"{root}/0/bad.png,0,eval\n")
  with pytest.raises(IngestError, match=r"split 'eval' is empty \(valid images"):
    _run(manifest, tmp_path / "out")


def test_folder_not_in_configured_labels_is_an_error(digit_folder):
  with pytest.raises(IngestError, match=r"class folder '7' is not one of the configured labels"):
    ingest.list_sources(str(digit_folder), ("0", "1"), 80)


def test_missing_folder_is_an_error(tmp_path):
  with pytest.raises(IngestError, match=r"data folder does not exist"):
    ingest.list_sources(str(tmp_path / "none"), (), 80)


def test_fingerprint_changes_when_a_file_changes(digit_folder):
  before = ingest.input_fingerprint(str(digit_folder))
  assert before == ingest.input_fingerprint(str(digit_folder))
  (digit_folder / "0" / "extra.png").write_bytes(_png())
  assert ingest.input_fingerprint(str(digit_folder)) != before


def test_images_in_nested_folders_are_an_error_not_skipped(digit_folder):
  nested = digit_folder / "0" / "more"
  nested.mkdir()
  (nested / "x.png").write_bytes(_png())
  with pytest.raises(IngestError, match=r"0/more/x\.png: files in nested folders are not read"):
    ingest.list_sources(str(digit_folder), (), 80)


def test_split_by_label_holds_out_whole_classes(tmp_path):
  from tests.conftest import digit_images, write_folder
  write_folder(tmp_path / "d", digit_images(classes=tuple(range(10)), per_class=3))
  sources = ingest.list_sources(str(tmp_path / "d"), (), 50, split_by="label")
  by_label = {}
  for s in sources:
    by_label.setdefault(s.label, set()).add(s.split)
  assert all(len(splits) == 1 for splits in by_label.values())
  assert {next(iter(v)) for v in by_label.values()} == {"train", "eval"}
  with pytest.raises(ingest.IngestError, match="unknown split_by 'person'"):
    ingest.list_sources(str(tmp_path / "d"), (), 50, split_by="person")
