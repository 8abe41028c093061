"""Image ingest logic: list a folder tree or CSV manifest, validate each image, write tf.Examples.

TFX-free: `components/image_ingest/component.py` only turns artifacts into paths and calls
`run_ingest` with a Beam pipeline. Paths may be local or any Beam filesystem (gs://, ...).

Every listed file ends up either as a tf.Example in exactly one split or as a quarantine record with
its reason: nothing is dropped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import posixpath
import struct
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import cv2
import numpy as np
import tensorflow as tf

SPLITS = ("train", "eval")
# Formats both OpenCV (validation) and tf.io.decode_image (Transform) read.
SUPPORTED_FORMATS = ("png", "jpeg", "gif", "bmp")
QUARANTINE_FILE = "quarantine.jsonl"
COUNTS_FILE = "ingest_counts.json"
_SPLIT_COUNTS_PREFIX = "split_counts"


class IngestError(ValueError):
  """The data source cannot be ingested; the message names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class ImageSource:
  path: str  # absolute path or URI
  label: str
  split: str  # "train" or "eval"


@dataclasses.dataclass(frozen=True)
class ImageInfo:
  height: int
  width: int
  channels: int
  format: str


# ---------------------------------------------------------------------------------------------
# Listing


def is_manifest(source: str) -> bool:
  return source.lower().endswith(".csv")


def hash_split(key: str, train_percent: int) -> str:
  """Deterministic split of `key` (a path relative to the data root): same key, same split."""
  bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100
  return "train" if bucket < train_percent else "eval"


def _join(root: str, rel: str) -> str:
  if "://" in rel or rel.startswith("/"):
    return rel
  if "://" in root:
    return posixpath.join(root, rel)
  return os.path.normpath(os.path.join(root, rel))


def _rel(root: str, path: str) -> str:
  root = root.rstrip("/") + "/"
  return path[len(root):] if path.startswith(root) else path


def list_folder(root: str, labels: Sequence[str], train_percent: int,
                split_by: str = "file") -> list[ImageSource]:
  """Lists `root/<label>/<file>`; the split is a hash of `<label>/<file>`.

  Raises:
    IngestError: if root has no class folders, a folder is not in the configured `labels`, or a
      class folder holds sub-folders with files (they would otherwise be skipped silently).
  """
  root = root.rstrip("/")
  if "://" not in root and not os.path.isdir(root):
    raise IngestError(f"{root}: data folder does not exist")
  nested = FileSystems.match([f"{root}/*/*/**"], limits=[1])[0].metadata_list
  if nested:
    raise IngestError(
        f"{nested[0].path}: files in nested folders are not read; put images directly in "
        f"{root}/<class>/ or list them in a CSV manifest")
  results = FileSystems.match([f"{root}/*/*"])[0].metadata_list
  sources = []
  for meta in sorted(results, key=lambda m: m.path):
    label = _rel(root, meta.path).split("/")[0]
    if labels and label not in labels:
      raise IngestError(
          f"{root}/{label}: class folder '{label}' is not one of the configured labels "
          f"{list(labels)}")
    key = label if split_by == "label" else _rel(root, meta.path)
    sources.append(ImageSource(meta.path, label, hash_split(key, train_percent)))
  if not sources:
    raise IngestError(f"{root}: no images found; expected one sub-folder per class")
  _check_labels_present(root, sources, labels)
  return sources


def list_manifest(manifest: str, labels: Sequence[str], train_percent: int,
                  split_by: str = "file") -> list[ImageSource]:
  """Reads `path,label[,split]` rows (a `path,label,...` header is allowed).

  Relative paths are resolved against the manifest's folder. Rows without a split are hashed.

  Raises:
    IngestError: naming the manifest and line for a malformed row, an empty or unknown label
      (when `labels` is configured), or an unknown split.
  """
  try:
    with FileSystems.open(manifest) as f:
      text = f.read().decode("utf-8-sig")
  except (OSError, IOError) as e:  # Beam raises BeamIOError (an IOError) for missing files.
    raise IngestError(f"{manifest}: cannot read manifest: {e}") from None
  except UnicodeDecodeError:
    raise IngestError(f"{manifest}: manifest is not UTF-8 text") from None
  root = manifest.rsplit("/", 1)[0] if "/" in manifest else "."
  sources = []
  for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
    if not row or all(not c.strip() for c in row):
      continue
    row = [c.strip() for c in row]
    if lineno == 1 and row[0].lower() == "path":
      continue
    if len(row) not in (2, 3):
      raise IngestError(
          f"{manifest} line {lineno}: expected 'path,label[,split]', got {len(row)} fields")
    path, label = row[0], row[1]
    if not path:
      raise IngestError(f"{manifest} line {lineno}: empty path")
    if not label:
      raise IngestError(f"{manifest} line {lineno}: empty label for {path}")
    if labels and label not in labels:
      raise IngestError(
          f"{manifest} line {lineno}: unknown label '{label}' for {path}; "
          f"configured labels are {list(labels)}")
    if len(row) == 3 and row[2]:
      split = row[2].lower()
      if split not in SPLITS:
        raise IngestError(
            f"{manifest} line {lineno}: unknown split '{row[2]}'; use one of {list(SPLITS)}")
    else:
      split = hash_split(label if split_by == "label" else path, train_percent)
    sources.append(ImageSource(_join(root, path), label, split))
  if not sources:
    raise IngestError(f"{manifest}: manifest lists no images")
  _check_labels_present(manifest, sources, labels)
  return sources


def _check_labels_present(where: str, sources: Sequence[ImageSource],
                          labels: Sequence[str]) -> None:
  missing = sorted(set(labels) - {s.label for s in sources})
  if missing:
    raise IngestError(f"{where}: configured labels {missing} have no images")


def list_sources(source: str, labels: Sequence[str], train_percent: int,
                 split_by: str = "file") -> list[ImageSource]:
  """Lists a folder tree or a CSV manifest and checks that no split is empty.

  Args:
    split_by: "file" (a hash of each path picks its split) or "label" (a hash of the class:
      whole classes/identities are held out, for open-set verification).
  """
  if split_by not in ("file", "label"):
    raise IngestError(f"unknown split_by {split_by!r}; use 'file' or 'label'")
  if is_manifest(source):
    sources = list_manifest(source, labels, train_percent, split_by)
  else:
    sources = list_folder(source, labels, train_percent, split_by)
  check_splits(source, {s: sum(1 for x in sources if x.split == s) for s in SPLITS},
               "listed images")
  return sources


def check_splits(source: str, counts: dict[str, int], what: str) -> None:
  empty = [s for s in SPLITS if counts.get(s, 0) == 0]
  if empty:
    raise IngestError(
        f"{source}: split {' and '.join(repr(s) for s in empty)} is empty "
        f"({what} per split: {counts}); add images, or change train_percent or the manifest's "
        f"split column")


def input_fingerprint(source: str) -> str:
  """A fingerprint of the data source (paths, sizes, modification times) for TFX's cache.

  The ingest component takes it as a parameter, so a changed data folder re-runs the pipeline
  while an unchanged one is served from the cache.
  """
  h = hashlib.sha256()
  if is_manifest(source):
    with FileSystems.open(source) as f:
      h.update(f.read())
    paths = [s.path for s in list_manifest(source, (), 50)]
    metas = []
    for i in range(0, len(paths), 1000):
      for result in FileSystems.match(paths[i:i + 1000]):
        metas.extend(result.metadata_list)
  else:
    metas = FileSystems.match([f"{source.rstrip('/')}/*/*"])[0].metadata_list
  for m in sorted(metas, key=lambda m: m.path):
    h.update(f"{m.path}\0{m.size_in_bytes}\0{m.last_updated_in_seconds}\n".encode())
  return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Validation


def sniff_format(data: bytes) -> str | None:
  if data.startswith(b"\x89PNG\r\n\x1a\n"):
    return "png"
  if data.startswith(b"\xff\xd8\xff"):
    return "jpeg"
  if data[:6] in (b"GIF87a", b"GIF89a"):
    return "gif"
  if data.startswith(b"BM"):
    return "bmp"
  return None


def _is_truncated(data: bytes, fmt: str) -> bool:
  tail = data.rstrip(b"\x00")
  if fmt == "png":
    return b"IEND" not in tail[-12:]
  if fmt == "jpeg":
    return not tail.rstrip(b"\r\n ").endswith(b"\xff\xd9")
  if fmt == "gif":
    return not tail.endswith(b";")
  if fmt == "bmp":
    return len(data) < 6 or struct.unpack("<I", data[2:6])[0] > len(data)
  return False


def validate_image(data: bytes, max_file_bytes: int, max_pixels: int) -> ImageInfo | str:
  """Returns the image's info, or the reason it must be quarantined."""
  if not data:
    return "empty file (0 bytes)"
  if len(data) > max_file_bytes:
    return f"file is {len(data)} bytes, over max_file_bytes={max_file_bytes}"
  fmt = sniff_format(data)
  if fmt is None:
    return f"not a supported image (supported formats: {', '.join(SUPPORTED_FORMATS)})"
  if _is_truncated(data, fmt):
    return f"truncated {fmt} file (no end-of-image marker)"
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
  if image is None and fmt == "gif":
    # OpenCV builds may lack GIF; TensorFlow reads it (and is what Transform uses).
    try:
      image = tf.io.decode_gif(data).numpy()[0]
    except tf.errors.InvalidArgumentError:
      image = None
  if image is None or image.size == 0:
    return f"{fmt} file cannot be decoded"
  height, width = image.shape[:2]
  if height * width > max_pixels:
    return f"image is {width}x{height} = {height * width} pixels, over max_pixels={max_pixels}"
  channels = 1 if image.ndim == 2 else image.shape[2]
  return ImageInfo(height=height, width=width, channels=channels, format=fmt)


def to_example(data: bytes, info: ImageInfo, label: str, source: str) -> tf.train.Example:

  def b(v: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

  def i(v: int):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

  return tf.train.Example(features=tf.train.Features(feature={
      "image": b(data),
      "height": i(info.height),
      "width": i(info.width),
      "channels": i(info.channels),
      "label": b(label.encode("utf-8")),
      "source": b(source.encode("utf-8")),
  }))


def read_and_validate(src: ImageSource, max_file_bytes: int, max_pixels: int,
                      aligner=None) -> tuple[str, object]:
  """("ok", (split, serialized example)) or ("quarantine", record dict)."""
  try:
    with FileSystems.open(src.path, compression_type="uncompressed") as f:
      data = f.read(max_file_bytes + 1)
  except Exception as e:  # pylint: disable=broad-except  # any filesystem error is a reason
    return "quarantine", {"path": src.path, "label": src.label, "reason": f"cannot read: {e}"}
  if len(data) > max_file_bytes:
    return "quarantine", {"path": src.path, "label": src.label,
                          "reason": f"file is over max_file_bytes={max_file_bytes}"}
  result = validate_image(data, max_file_bytes, max_pixels)
  if isinstance(result, str):
    return "quarantine", {"path": src.path, "label": src.label, "reason": result}
  if aligner is not None:  # face mode: the example holds the aligned face crop
    data = aligner.align(data)
    if isinstance(data, str):
      return "quarantine", {"path": src.path, "label": src.label, "reason": data}
    result = validate_image(data, max_file_bytes, max_pixels)
    if isinstance(result, str):
      return "quarantine", {"path": src.path, "label": src.label,
                            "reason": f"aligned face: {result}"}
  example = to_example(data, result, src.label, src.path)
  return "ok", (src.split, example.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Beam


class _ValidateFn(beam.DoFn):

  def __init__(self, max_file_bytes: int, max_pixels: int, face_align: dict | None = None):
    self._max_file_bytes = max_file_bytes
    self._max_pixels = max_pixels
    self._face_align = face_align
    self._aligner = None

  def setup(self) -> None:
    if self._face_align:
      from components.image_ingest import faces  # pylint: disable=g-import-not-at-top
      self._aligner = faces.FaceAligner(faces.AlignConfig(**self._face_align))

  def process(self, src: ImageSource) -> Iterator:
    kind, value = read_and_validate(src, self._max_file_bytes, self._max_pixels, self._aligner)
    if kind == "ok":
      yield value
    else:
      yield beam.pvalue.TaggedOutput("quarantine", json.dumps(value, sort_keys=True))


def split_dir(examples_uri: str, split: str) -> str:
  return os.path.join(examples_uri, f"Split-{split}")


def build_ingest(pipeline: beam.Pipeline, sources: Sequence[ImageSource], out_dir: str,
                 max_file_bytes: int, max_pixels: int, face_align: dict | None = None) -> None:
  """Adds the ingest steps to `pipeline`: validate (and align faces when `face_align` holds
  `faces.AlignConfig` fields), write TFRecords per split and quarantine."""
  results = (
      pipeline
      | "ListedImages" >> beam.Create(list(sources), reshuffle=True)
      | "ReadAndValidate" >> beam.ParDo(
          _ValidateFn(max_file_bytes, max_pixels, face_align)).with_outputs(
              "quarantine", main="ok"))
  ok = results.ok
  for split in SPLITS:
    _ = (ok
         | f"Select{split.capitalize()}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
         | f"Values{split.capitalize()}" >> beam.Values()
         | f"Write{split.capitalize()}" >> beam.io.WriteToTFRecord(
             os.path.join(split_dir(out_dir, split), "data_tfrecord"), file_name_suffix=".gz"))
  _ = (ok
       | "SplitKeys" >> beam.Keys()
       | "CountPerSplit" >> beam.combiners.Count.PerElement()
       | "CountsToJson" >> beam.Map(lambda kv: json.dumps({"split": kv[0], "count": kv[1]}))
       | "WriteCounts" >> beam.io.WriteToText(
           os.path.join(out_dir, _SPLIT_COUNTS_PREFIX), file_name_suffix=".jsonl"))
  _ = (results.quarantine
       | "WriteQuarantine" >> beam.io.WriteToText(
           os.path.join(out_dir, QUARANTINE_FILE), shard_name_template=""))


def summarize(out_dir: str, source: str, listed: int) -> dict:
  """Reads back counts after the Beam pipeline ran; writes and returns the ingest summary.

  Raises:
    IngestError: if quarantine left a split empty.
  """
  counts = {s: 0 for s in SPLITS}
  for m in FileSystems.match([os.path.join(out_dir, _SPLIT_COUNTS_PREFIX + "*")])[0].metadata_list:
    with FileSystems.open(m.path) as f:
      for line in f.read().decode().splitlines():
        row = json.loads(line)
        counts[row["split"]] = row["count"]
  quarantine = read_quarantine(out_dir)
  reasons: dict[str, int] = {}
  for q in quarantine:
    key = q["reason"].split(" (")[0].split(":")[0]
    reasons[key] = reasons.get(key, 0) + 1
  summary = {"source": source, "listed": listed, "examples": counts,
             "quarantined": len(quarantine), "quarantine_reasons": reasons}
  if sum(counts.values()) + len(quarantine) != listed:
    raise IngestError(f"{source}: {listed} images listed but {sum(counts.values())} written and "
                      f"{len(quarantine)} quarantined; refusing to lose images silently")
  with FileSystems.create(os.path.join(out_dir, COUNTS_FILE)) as f:
    f.write(json.dumps(summary, indent=1, sort_keys=True).encode())
  for q in quarantine:
    logging.warning("quarantined %s: %s", q["path"], q["reason"])
  logging.info("ingest: %s examples, %d quarantined %s", counts, len(quarantine), reasons)
  check_splits(source, counts, "valid images")
  return summary


def read_examples(out_dir: str, split: str, limit: int = -1) -> list[tuple[bytes, dict]]:
  """The first `limit` (-1: all) examples of a split: (serialized tf.Example,
  {"image", "label", "source"})."""
  files = sorted(tf.io.gfile.glob(os.path.join(split_dir(out_dir, split), "*")))
  spec = {"image": tf.io.FixedLenFeature([], tf.string),
          "label": tf.io.FixedLenFeature([], tf.string),
          "source": tf.io.FixedLenFeature([], tf.string, default_value="")}
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit).batch(1024)
  out = []
  for records in ds:
    parsed = tf.io.parse_example(records, spec)
    for record, image, label, source in zip(records.numpy(), parsed["image"].numpy(),
                                            parsed["label"].numpy(), parsed["source"].numpy()):
      out.append((record, {"image": image, "label": label.decode("utf-8"),
                           "source": source.decode("utf-8")}))
  return out


def read_quarantine(out_dir: str) -> list[dict]:
  path = os.path.join(out_dir, QUARANTINE_FILE)
  if not FileSystems.exists(path):
    return []
  with FileSystems.open(path) as f:
    return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]


def run_ingest(pipeline: beam.Pipeline, source: str, out_dir: str, labels: Iterable[str] = (),
               train_percent: int = 80, max_file_bytes: int = 20 << 20,
               max_pixels: int = 40_000_000, face_align: dict | None = None,
               split_by: str = "file") -> dict:
  """Lists, validates and writes `source` into `out_dir/Split-{train,eval}/` (runs `pipeline`).

  With `face_align` (`faces.AlignConfig` fields), every image is replaced by its aligned face crop
  and images without a face are quarantined.

  Returns:
    The summary: examples per split, quarantine count and reasons.
  """
  sources = list_sources(source, tuple(labels), train_percent, split_by)
  with pipeline as p:
    build_ingest(p, sources, out_dir, max_file_bytes, max_pixels, face_align)
  return summarize(out_dir, source, len(sources))
