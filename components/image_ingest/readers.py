"""Ingest readers, registered by name: each lists a data source into `ImageSource`s (path, label,
split) and names the files behind it (for the cache fingerprint). Tasks say which readers they
accept (`Task.readers`); new annotation formats add a reader here without touching the others.

  class_folders   DIR/<class>/<image>            (any source that is not a manifest)
  csv_manifest    path,label[,split] rows         (*.csv)
  mask_pairs      DIR/classes.txt, DIR/images/<id>.<ext>, DIR/masks/<id>.png  (segmentation)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import posixpath
from typing import Callable, Sequence

from apache_beam.io.filesystems import FileSystems

from components.image_ingest.ingest import hash_split
from components.image_ingest.ingest import SPLITS
from components.image_ingest.ingest import ImageSource
from components.image_ingest.ingest import IngestError


@dataclasses.dataclass(frozen=True)
class Reader:
  name: str
  accepts: Callable[[str], bool]  # source -> whether this reader reads it
  list: Callable[..., list[ImageSource]]  # (source, labels, train_percent, split_by)
  files: Callable[[str], list]  # source -> Beam FileMetadata of every file behind it
  # Detection tries readers by priority (lower first): catch-alls such as class folders go last.
  priority: int = 0
  # (ImageSource, ImageInfo of the valid image) -> extra tf.Example features (e.g. {"mask":
  # PNG bytes}) or a quarantine reason; runs on the workers. None: images only.
  annotate: Callable | None = None


_READERS: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
  if reader.name in _READERS:
    raise ValueError(f"reader {reader.name!r} is registered twice")
  _READERS[reader.name] = reader
  return reader


def names() -> tuple[str, ...]:
  return tuple(_READERS)


def get(name: str) -> Reader:
  if name not in _READERS:
    raise IngestError(f"unknown ingest reader {name!r}; registered: {', '.join(_READERS)}")
  return _READERS[name]


def detect(source: str, accepted: Sequence[str] = ()) -> str:
  """The first reader by priority (among `accepted`, if given) that accepts `source`. A task
  that accepts one reader gets it for a remote source without probing it (pipelines compile for
  data they cannot reach; listing then names what is wrong with the source)."""
  if len(accepted) == 1 and "://" in source:
    return get(accepted[0]).name
  for name in sorted(accepted or _READERS, key=lambda n: get(n).priority):
    if get(name).accepts(source):
      return name
  raise IngestError(f"{source}: no ingest reader of {list(accepted or _READERS)} reads it")


# ---------------------------------------------------------------------------------------------
# Shared


def _join(root: str, rel: str) -> str:
  if "://" in rel or rel.startswith("/"):
    return rel
  if "://" in root:
    return posixpath.join(root, rel)
  return os.path.normpath(os.path.join(root, rel))


def _rel(root: str, path: str) -> str:
  root = root.rstrip("/") + "/"
  return path[len(root):] if path.startswith(root) else path


def _check_labels_present(where: str, sources: Sequence[ImageSource],
                          labels: Sequence[str]) -> None:
  missing = sorted(set(labels) - {s.label for s in sources})
  if missing:
    raise IngestError(f"{where}: configured labels {missing} have no images")



# ---------------------------------------------------------------------------------------------
# class_folders


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


def _folder_files(source: str) -> list:
  return FileSystems.match([f"{source.rstrip('/')}/*/*"])[0].metadata_list


# ---------------------------------------------------------------------------------------------
# csv_manifest


def is_manifest(source: str) -> bool:
  return source.lower().endswith(".csv")


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


def _manifest_files(source: str) -> list:
  """The manifest itself and every file it lists."""
  paths = [source] + [s.path for s in list_manifest(source, (), 50)]
  metas = []
  for i in range(0, len(paths), 1000):
    for result in FileSystems.match(paths[i:i + 1000]):
      metas.extend(result.metadata_list)
  return metas


register(Reader("csv_manifest", is_manifest, list_manifest, _manifest_files))
register(Reader("class_folders", lambda source: not is_manifest(source),
                list_folder, _folder_files, priority=100))


# ---------------------------------------------------------------------------------------------
# mask_pairs: image + mask PNG pairs with a class list (semantic segmentation)

CLASSES_FILE = "classes.txt"
IMAGES_DIR = "images"
MASKS_DIR = "masks"


def is_mask_pairs(source: str) -> bool:
  """A folder with `classes.txt` (and `masks/`, locally)."""
  root = source.rstrip("/")
  if is_manifest(source):
    return False
  try:
    if "://" in root:  # object stores have no folders: the class list says it
      return FileSystems.exists(f"{root}/{CLASSES_FILE}")
    return FileSystems.exists(f"{root}/{CLASSES_FILE}") and FileSystems.exists(
        f"{root}/{MASKS_DIR}")
  except Exception:  # pylint: disable=broad-except  # unreachable or denied: not this layout
    return False


def read_class_list(root: str) -> tuple[str, ...]:
  """`classes.txt`: one class name per line; line i is pixel value i (line 0: background).

  Raises:
    IngestError: naming the file if it is missing, empty, has an empty line or a duplicate.
  """
  path = f"{root.rstrip('/')}/{CLASSES_FILE}"
  try:
    with FileSystems.open(path) as f:
      lines = f.read().decode("utf-8-sig").splitlines()
  except (OSError, IOError) as e:
    raise IngestError(f"{path}: cannot read the class list: {e}") from None
  while lines and not lines[-1].strip():
    lines.pop()
  names = tuple(line.strip() for line in lines)
  if len(names) < 2:
    raise IngestError(f"{path}: needs the background and at least one class, one per line")
  for i, name in enumerate(names):
    if not name:
      raise IngestError(f"{path} line {i + 1}: empty class name")
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise IngestError(f"{path}: duplicate class names {duplicates}")
  if len(names) > 256:
    raise IngestError(f"{path}: {len(names)} classes; 8-bit masks hold at most 256")
  return names


def _stem(path: str) -> str:
  name = path.rsplit("/", 1)[-1]
  return name.rsplit(".", 1)[0] if "." in name else name


def list_mask_pairs(root: str, labels: Sequence[str], train_percent: int,
                    split_by: str = "file") -> list[ImageSource]:
  """Lists `images/<id>.<ext>` with `masks/<id>.png`; the split is a hash of the image id.

  An image without a mask, a mask without an image and a second image with the same id are
  listed with their problem (quarantined with that reason, never dropped silently).

  Raises:
    IngestError: for a bad class list, or configured `labels` that differ from it.
  """
  del split_by  # masks have no per-image class to hold out
  root = root.rstrip("/")
  names = read_class_list(root)
  if labels and tuple(labels) != names:
    raise IngestError(f"{root}/{CLASSES_FILE}: classes {list(names)} differ from the configured "
                      f"labels {list(labels)}")
  images = sorted(m.path for m in FileSystems.match([f"{root}/{IMAGES_DIR}/*"])[0].metadata_list)
  masks = {_stem(m.path): m.path
           for m in FileSystems.match([f"{root}/{MASKS_DIR}/*"])[0].metadata_list}
  if not images:
    raise IngestError(f"{root}/{IMAGES_DIR}: no images found")
  sources, seen = [], {}
  for path in images:
    stem = _stem(path)
    split = hash_split(stem, train_percent)
    if stem in seen:
      sources.append(ImageSource(path, "", split, problem=(
          f"duplicate image id '{stem}': {seen[stem]} has the same id")))
      continue
    seen[stem] = path
    if stem not in masks:
      sources.append(ImageSource(path, "", split, problem=(
          f"image without a mask: no {root}/{MASKS_DIR}/{stem}.png")))
      continue
    sources.append(ImageSource(path, "", split, annotation=(("mask", masks[stem]),
                                                            ("classes", names))))
  for stem, path in sorted(masks.items()):
    if stem not in seen:
      sources.append(ImageSource(path, "", hash_split(stem, train_percent), problem=(
          f"mask without an image: no {root}/{IMAGES_DIR}/{stem}.*")))
  return sources


def annotate_mask(src: ImageSource, info) -> dict | str:
  """The example's `mask` (an 8-bit PNG, class id per pixel), `label` (its most frequent
  non-background class) and `classes` (the class list, names in id order), or why the pair is
  quarantined."""
  import cv2  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  annotation = dict(src.annotation)
  path, names = annotation["mask"], annotation["classes"]
  try:
    with FileSystems.open(path, compression_type="uncompressed") as f:
      data = f.read()
  except Exception as e:  # pylint: disable=broad-except
    return f"cannot read mask {path}: {e}"
  mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
  if mask is None:
    return f"mask {path} is not an image OpenCV can decode"
  if mask.ndim == 3:
    if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, mask.shape[2])):
      return f"mask {path} has colour; expected one class id per pixel (8-bit grayscale PNG)"
    mask = mask[..., 0]
  if mask.dtype != np.uint8:
    if not np.issubdtype(mask.dtype, np.integer) or mask.max() > 255:
      return f"mask {path} is {mask.dtype}; expected 8-bit class ids"
    mask = mask.astype(np.uint8)
  if mask.shape != (info.height, info.width):
    return (f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{info.width}x{info.height}")
  values, counts = np.unique(mask, return_counts=True)
  unknown = [int(v) for v in values if v >= len(names)]
  if unknown:
    return (f"mask {path} has values {unknown[:10]} not in the class list (0..{len(names) - 1} "
            f"in {CLASSES_FILE})")
  foreground = [(c, v) for v, c in zip(values, counts) if v > 0]
  label = names[max(foreground)[1]] if foreground else names[0]
  ok, png = cv2.imencode(".png", mask)
  return {"mask": png.tobytes(), "label": label.encode("utf-8"),
          "classes": [n.encode("utf-8") for n in names]}


def _mask_pair_files(source: str) -> list:
  root = source.rstrip("/")
  return [m for pattern in (f"{root}/{CLASSES_FILE}", f"{root}/{IMAGES_DIR}/*",
                            f"{root}/{MASKS_DIR}/*")
          for m in FileSystems.match([pattern])[0].metadata_list]


register(Reader("mask_pairs", is_mask_pairs, list_mask_pairs, _mask_pair_files, priority=10,
                annotate=annotate_mask))
