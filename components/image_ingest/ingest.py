"""Image ingest logic: list a folder tree or CSV manifest, validate each image, write tf.Examples.

TFX-free: `components/image_ingest/component.py` only turns artifacts into paths and calls
`run_ingest` with a Beam pipeline. Paths may be local or any Beam filesystem (gs://, ...).

Every listed file ends up either as a tf.Example in exactly one split or as a quarantine record with
its reason: nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import struct
import warnings
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import cv2
import numpy as np
import tensorflow as tf

from components.common import contract
from components.common.errors import IngestError  # noqa: F401  (raised here, caught by the CLI)

SPLITS = ("train", "eval")
# The features of every image example (`to_example`).
IMAGE_FEATURES = contract.IMAGE_FEATURES
QUARANTINE_FILE = "quarantine.jsonl"
# Files stored as a lossless PNG (TensorFlow cannot decode the original): {"path", "label", "note"}.
CONVERTED_FILE = "converted.jsonl"
# A reader's `annotate` may return this key with a note on how the stored annotation differs from
# the file (e.g. clipped boxes); notes go to CONVERTED_FILE beside image conversions, counted.
NOTE = "_note"
COUNTS_FILE = "ingest_counts.json"
_SPLIT_COUNTS_PREFIX = "split_counts"


@dataclasses.dataclass(frozen=True)
class ImageSource:
  path: str  # absolute path or URI
  label: str
  split: str  # "train" or "eval"
  # The reader's annotation of this image (e.g. (("mask", path),)), passed to its `annotate`.
  annotation: tuple = ()
  # A problem the reader found while listing (e.g. a mask without an image): quarantined with
  # this reason, never read.
  problem: str = ""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
  height: int
  width: int
  channels: int  # as decoded with the configured channels
  format: str  # of the file
  data: bytes = b""  # what the example stores (the file, or a lossless PNG of it)
  note: str = ""  # why the stored bytes differ from the file ("" when they do not)


# ---------------------------------------------------------------------------------------------
# Listing (the readers are in `readers.py`, registered by name)


def hash_split(key: str, train_percent: int) -> str:
  """Deterministic split of `key` (a path relative to the data root): same key, same split."""
  bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100
  return "train" if bucket < train_percent else "eval"


def list_sources(source: str, labels: Sequence[str], train_percent: int,
                 split_by: str = "file", reader: str = "",
                 options: dict | None = None) -> list[ImageSource]:
  """Lists `source` with the named reader (default: the first registered one that accepts the
  source) and checks that no split is empty.

  Args:
    split_by: "file" (a hash of each path picks its split) or "label" (a hash of the class:
      whole classes/identities are held out, for open-set verification).
  """
  from components.image_ingest import readers  # pylint: disable=g-import-not-at-top
  if split_by not in ("file", "label"):
    raise IngestError(f"unknown split_by {split_by!r}; use 'file' or 'label'")
  chosen = readers.get(reader or readers.detect(source))
  unknown = sorted(set(options or {}) - set(chosen.options))
  if unknown:
    raise IngestError(f"{source}: the {chosen.name} reader takes no options {unknown} (it takes "
                      f"{list(chosen.options) or 'none'})")
  sources = chosen.list(source, tuple(labels), train_percent, split_by, **(options or {}))
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


def input_fingerprint(source: str, reader: str = "") -> str:
  """A fingerprint of the data source (paths, sizes, modification times) for TFX's cache.

  The ingest component takes it as a parameter, so a changed data folder re-runs the pipeline
  while an unchanged one is served from the cache.
  """
  from components.image_ingest import readers  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  for m in sorted(readers.get(reader or readers.detect(source)).files(source),
                  key=lambda m: m.path):
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
  if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
    return "webp"
  if data[:4] in (b"II*\x00", b"MM\x00*"):
    return "tiff"
  return None


def _is_truncated(data: bytes, fmt: str) -> bool:
  """No end marker. JPEGs may carry bytes after their end-of-image marker (phone cameras append
  trailers), so only a JPEG with no end marker at all counts as truncated."""
  tail = data.rstrip(b"\x00")
  if fmt == "png":
    return b"IEND" not in tail[-12:]
  if fmt == "jpeg":
    return b"\xff\xd9" not in data[2:]
  if fmt == "gif":
    return not tail.endswith(b";")
  if fmt == "bmp":
    return len(data) < 6 or struct.unpack("<I", data[2:6])[0] > len(data)
  return False


def header_pixels(data: bytes) -> tuple[str, int] | None:
  """("WxH", pixels) from the image's header without decoding it (Pillow opens lazily), or None
  when Pillow cannot read the header."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        return f"{width}x{height}", width * height
  except Image.DecompressionBombError as e:  # over Pillow's own limit: its message has the size
    match = re.search(r"\((\d+) pixels\)", str(e))
    return ("larger than Pillow's limit", int(match.group(1))) if match else None
  except Exception:  # pylint: disable=broad-except  # any unreadable header: decode decides
    return None


def validate_image(data: bytes, max_file_bytes: int, max_pixels: int,
                   channels: int = 0) -> ImageInfo | str:
  """The image's info, or the reason it must be quarantined. `info.data` is what the example
  stores: the file's bytes when TensorFlow's decoder (`components.common.images.decode`, what
  Transform and serving use) reads them with `channels`, else a lossless PNG of what OpenCV (WebP,
  TIFF, 16-bit, CMYK, ...) or TensorFlow with any channel count (animated GIFs) decodes."""
  if not data:
    return "empty file (0 bytes)"
  if len(data) > max_file_bytes:
    return f"file is {len(data)} bytes, over max_file_bytes={max_file_bytes}"
  fmt = sniff_format(data) or "unknown"
  header = header_pixels(data)
  if header and header[1] > max_pixels:
    return (f"image is {header[0]} = {header[1]} pixels by its header, over "
            f"max_pixels={max_pixels} (not decoded)")
  if _is_truncated(data, fmt):
    return f"truncated {fmt} file (no end-of-image marker)"
  from components.common import images  # pylint: disable=g-import-not-at-top
  try:
    decoded = images.decode(data, channels).numpy()
    stored, note = data, ""
  except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
    converted = _lossless_png(data)
    if converted is None:
      return (f"not an image TensorFlow or OpenCV can decode ({fmt}: TensorFlow says "
              f"{images.reason(e)})")
    stored, note = converted, f"converted {fmt} to PNG: {images.reason(e)}"
    try:
      decoded = images.decode(stored, channels).numpy()
    except tf.errors.OpError as e2:
      return f"{fmt} file cannot be decoded even as PNG: {images.reason(e2)}"
  if decoded.size == 0:
    return f"{fmt} file decodes to an empty image"
  height, width = decoded.shape[:2]
  if height * width > max_pixels:
    return f"image is {width}x{height} = {height * width} pixels, over max_pixels={max_pixels}"
  return ImageInfo(height=height, width=width, channels=int(decoded.shape[2]), format=fmt,
                   data=stored, note=note)


def _lossless_png(data: bytes) -> bytes | None:
  """A PNG of the first frame of what OpenCV (BGR/BGRA, 8 or 16 bits) or TensorFlow (any
  channels: animated GIFs) decodes, or None."""
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
  if image is None:
    try:
      rgb = tf.io.decode_image(data, channels=0, expand_animations=False).numpy()
    except tf.errors.OpError:
      return None
    image = rgb[..., ::-1] if rgb.shape[-1] in (3, 4) else rgb  # RGB(A) -> BGR(A) for imencode
  if image is None or image.size == 0:
    return None
  if image.dtype not in (np.uint8, np.uint16):
    return None
  ok, buf = cv2.imencode(".png", image)
  return buf.tobytes() if ok else None


def _feature(value) -> tf.train.Feature:
  """bytes, an int, a float or a list of one of them as a tf.train.Feature (a numpy array by its
  dtype, so an empty one keeps its kind)."""
  if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
    if value.dtype.kind == "f":
      return tf.train.Feature(float_list=tf.train.FloatList(value=value.reshape(-1).tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=value.reshape(-1).tolist()))
  values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
  if all(isinstance(v, bytes) for v in values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
  if all(isinstance(v, (int, np.integer)) for v in values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
  return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def to_example(data: bytes, info: ImageInfo, label: str, source: str,
               extra: dict | None = None) -> tf.train.Example:
  """The image's tf.Example (`IMAGE_FEATURES`) plus a reader's `extra` features (bytes, ints,
  floats or lists of them)."""
  features = {"image": data, "height": info.height, "width": info.width,
              "channels": info.channels, "label": label.encode("utf-8"),
              "source": source.encode("utf-8"), **(extra or {})}
  return tf.train.Example(features=tf.train.Features(
      feature={k: _feature(v) for k, v in features.items()}))


def read_and_validate(src: ImageSource, max_file_bytes: int, max_pixels: int,
                      aligner=None, channels: int = 0, annotate=None, decode=None,
                      options: dict | None = None) -> tuple[str, object]:
  """("ok", (split, serialized example, note)) or ("quarantine", record dict). A non-empty note
  says why the stored bytes differ from the file (a lossless PNG conversion).

  Args:
    annotate: the reader's `(source, info) -> extra features | reason` (masks, boxes), called
      once the image is valid; a reason quarantines the image.
    decode: the reader's `(source, bytes, max_pixels, channels, options) -> (info, extra
      features) | reason` for files that are not images (videos); replaces image validation.
  """
  if src.problem:
    return "quarantine", {"path": src.path, "label": src.label, "reason": src.problem}
  try:
    with FileSystems.open(src.path, compression_type="uncompressed") as f:
      data = f.read(max_file_bytes + 1)
  except Exception as e:  # pylint: disable=broad-except  # any filesystem error is a reason
    return "quarantine", {"path": src.path, "label": src.label, "reason": f"cannot read: {e}"}
  if len(data) > max_file_bytes:
    return "quarantine", {"path": src.path, "label": src.label,
                          "reason": f"file is over max_file_bytes={max_file_bytes}"}
  decoded_extra = None
  if decode is not None:
    result = decode(src, data, max_pixels, channels, options)
    if not isinstance(result, str):
      result, decoded_extra = result
  else:
    result = validate_image(data, max_file_bytes, max_pixels, channels)
  if isinstance(result, str):
    return "quarantine", {"path": src.path, "label": src.label, "reason": result}
  if aligner is not None:  # face mode: the example holds the aligned face crop
    aligned = aligner.align(result.data)
    if isinstance(aligned, str):
      return "quarantine", {"path": src.path, "label": src.label, "reason": aligned}
    result = validate_image(aligned, max_file_bytes, max_pixels, channels)
    if isinstance(result, str):
      return "quarantine", {"path": src.path, "label": src.label,
                            "reason": f"aligned face: {result}"}
  extra, note = decoded_extra, result.note
  if annotate is not None:
    extra = annotate(src, result)
    if isinstance(extra, str):
      return "quarantine", {"path": src.path, "label": src.label, "reason": extra}
    extra = {**(decoded_extra or {}), **extra}
    if NOTE in extra:
      extra = dict(extra)
      note = "; ".join(n for n in (note, extra.pop(NOTE)) if n)
  example = to_example(result.data, result, src.label, src.path, extra)
  return "ok", (src.split, example.SerializeToString(), note)


# ---------------------------------------------------------------------------------------------
# Beam


class _ValidateFn(beam.DoFn):

  def __init__(self, max_file_bytes: int, max_pixels: int, face_align: dict | None = None,
               channels: int = 0, reader: str = "", options: dict | None = None):
    self._options = options
    self._decode = None
    self._max_file_bytes = max_file_bytes
    self._max_pixels = max_pixels
    self._channels = channels
    self._face_align = face_align
    self._reader = reader
    self._aligner = None
    self._annotate = None

  def setup(self) -> None:
    if self._reader:
      from components.image_ingest import readers  # pylint: disable=g-import-not-at-top
      self._annotate = readers.get(self._reader).annotate
      self._decode = readers.get(self._reader).decode
    if self._face_align:
      from components.image_ingest import faces  # pylint: disable=g-import-not-at-top
      self._aligner = faces.FaceAligner(faces.AlignConfig(**self._face_align))

  def process(self, src: ImageSource) -> Iterator:
    kind, value = read_and_validate(src, self._max_file_bytes, self._max_pixels, self._aligner,
                                    self._channels, self._annotate, self._decode,
                                    self._options)
    if kind == "ok":
      split, example, note = value
      if note:
        yield beam.pvalue.TaggedOutput("converted", json.dumps(
            {"path": src.path, "label": src.label, "note": note}, sort_keys=True))
      yield split, example
    else:
      yield beam.pvalue.TaggedOutput("quarantine", json.dumps(value, sort_keys=True))


def split_dir(examples_uri: str, split: str) -> str:
  return os.path.join(examples_uri, f"Split-{split}")


def build_ingest(pipeline: beam.Pipeline, sources: Sequence[ImageSource], out_dir: str,
                 max_file_bytes: int, max_pixels: int, face_align: dict | None = None,
                 channels: int = 0, reader: str = "", options: dict | None = None) -> None:
  """Adds the ingest steps to `pipeline`: validate with the serving decoder at `channels` (and
  align faces when `face_align` holds `faces.AlignConfig` fields), write TFRecords per split, the
  quarantine and the list of files stored as lossless PNG conversions."""
  results = (
      pipeline
      | "ListedImages" >> beam.Create(list(sources), reshuffle=True)
      | "ReadAndValidate" >> beam.ParDo(
          _ValidateFn(max_file_bytes, max_pixels, face_align, channels, reader,
                      options)).with_outputs(
              "quarantine", "converted", main="ok"))
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
  _ = (results.converted
       | "WriteConverted" >> beam.io.WriteToText(
           os.path.join(out_dir, CONVERTED_FILE), shard_name_template=""))


def _count_notes(notes: list[dict]) -> dict[str, int]:
  """How many examples got each kind of note ("clipped 2 box(es) ..." counts as "clipped")."""
  counts: dict[str, int] = {}
  for row in notes:
    for part in row["note"].split("; "):
      key = part.split(" ")[0].rstrip(":")
      counts[key] = counts.get(key, 0) + 1
  return counts


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
  converted = _read_jsonl(os.path.join(out_dir, CONVERTED_FILE))
  summary = {"source": source, "listed": listed, "examples": counts,
             "quarantined": len(quarantine), "quarantine_reasons": reasons,
             "converted_to_png": sum(1 for c in converted if "converted " in c["note"]),
             "notes": _count_notes(converted)}
  if sum(counts.values()) + len(quarantine) != listed:
    raise IngestError(f"{source}: {listed} images listed but {sum(counts.values())} written and "
                      f"{len(quarantine)} quarantined; refusing to lose images silently")
  with FileSystems.create(os.path.join(out_dir, COUNTS_FILE)) as f:
    f.write(json.dumps(summary, indent=1, sort_keys=True).encode())
  for q in quarantine:
    logging.warning("quarantined %s: %s", q["path"], q["reason"])
  for c in converted:
    logging.info("stored %s as PNG (%s)", c["path"], c["note"])
  logging.info("ingest: %s examples, %d quarantined %s", counts, len(quarantine), reasons)
  check_splits(source, counts, "valid images")
  return summary


def example_row(record: bytes) -> dict:
  """A serialized example as a dict: "image" (bytes), "label" and "source" (text), and every
  other feature as a list of its values (a video's "frames", a detector's "boxes", ...)."""
  example = tf.train.Example.FromString(record)
  row: dict = {"source": ""}
  for key, feature in example.features.feature.items():
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if key in ("label", "source"):
      row[key] = values[0].decode("utf-8") if values else ""
    elif key == "image":
      row[key] = values[0] if values else b""
    else:
      row[key] = values
  return row


def read_examples(out_dir: str, split: str, limit: int = -1) -> list[tuple[bytes, dict]]:
  """The first `limit` (-1: all) examples of a split: (serialized tf.Example, `example_row`)."""
  files = sorted(tf.io.gfile.glob(os.path.join(split_dir(out_dir, split), "*")))
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
  return [(record, example_row(record)) for record in ds.as_numpy_iterator()]


def read_quarantine(out_dir: str) -> list[dict]:
  return _read_jsonl(os.path.join(out_dir, QUARANTINE_FILE))


def _read_jsonl(path: str) -> list[dict]:
  if not FileSystems.exists(path):
    return []
  with FileSystems.open(path) as f:
    return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]


def run_ingest(pipeline: beam.Pipeline, source: str, out_dir: str, labels: Iterable[str] = (),
               train_percent: int = 80, max_file_bytes: int = 20 << 20,
               max_pixels: int = 40_000_000, face_align: dict | None = None,
               split_by: str = "file", reader: str = "", channels: int = 0,
               reader_options: dict | None = None) -> dict:
  """Lists, validates and writes `source` into `out_dir/Split-{train,eval}/` (runs `pipeline`).

  With `face_align` (`faces.AlignConfig` fields), every image is replaced by its aligned face crop
  and images without a face are quarantined. `channels` is what Transform decodes (0: as stored):
  each file is validated with that same decoder.

  Returns:
    The summary: examples per split, quarantine count and reasons.
  """
  from components.image_ingest import readers  # pylint: disable=g-import-not-at-top
  reader = reader or readers.detect(source)
  sources = list_sources(source, tuple(labels), train_percent, split_by, reader, reader_options)
  with pipeline as p:
    build_ingest(p, sources, out_dir, max_file_bytes, max_pixels, face_align, channels, reader,
                 reader_options)
  return summarize(out_dir, source, len(sources))
