"""Ingest readers, registered by name: each lists a data source into `ImageSource`s (path, label,
split) and names the files behind it (for the cache fingerprint). Tasks say which readers they
accept (`Task.readers`); new annotation formats add a reader here without touching the others.

  class_folders   DIR/<class>/<image>            (any source that is not a manifest)
  csv_manifest    path,label[,split] rows         (*.csv)
  mask_pairs      DIR/classes.txt, DIR/images/<id>.<ext>, DIR/masks/<id>.png  (segmentation)
  coco_json       a COCO file (*.json) or DIR/annotations.json; bboxes     (object detection)
  voc_xml         DIR/Annotations/<id>.xml, DIR/JPEGImages/<file>          (object detection)
  coco_masks      a COCO file or DIR/annotations.json; polygons / RLE   (semantic segmentation)
  video_folders   DIR/<class>/<video>             (video classification; frames sampled by
  video_manifest  path,label[,split] rows of videos   `video.VideoOptions`, the reader options)
  coco_captions   a COCO-captions file (*.json) or DIR/captions.json       (image captioning)
  caption_csv     path,caption[,split] rows, several per image           (image captioning)
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import os
import posixpath
from typing import Callable, Sequence

from apache_beam.io.filesystems import FileSystems

from components.image_ingest import video
from components.image_ingest.ingest import hash_split
from components.image_ingest.ingest import ImageInfo
from components.image_ingest.ingest import SPLITS
from components.image_ingest.ingest import ImageSource
from components.image_ingest.ingest import IngestError
from components.image_ingest.ingest import NOTE


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
  # Keyword options `list` takes beyond the four positional arguments (e.g. "unannotated").
  options: tuple[str, ...] = ()
  # Whether `accepts` reads the store (not just the name): remote sources are not probed.
  probes: bool = False
  # (ImageSource, the file's bytes, max_pixels, channels, reader options) -> (ImageInfo of what
  # the example shows, extra tf.Example features) or a quarantine reason, for files that are not
  # images (videos); runs on the workers. None: the file is an image, validated as one.
  decode: Callable | None = None


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
  """The first reader by priority (among `accepted`, if given) that accepts `source`. A remote
  source is not probed when the task names its readers: the first that accepts it by its name
  alone, else the task's first reader (pipelines compile for data they cannot reach; listing
  then names what is wrong with the source; a task's `data.reader` picks another)."""
  if accepted and "://" in source:
    by_name = [n for n in sorted(accepted, key=lambda n: get(n).priority)
               if not get(n).probes and get(n).accepts(source)]
    return (by_name or [get(accepted[0]).name])[0]
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


def _read_manifest(manifest: str) -> tuple[str, str]:
  """(the manifest's text, the folder relative paths in it are resolved against)."""
  try:
    with FileSystems.open(manifest) as f:
      text = f.read().decode("utf-8-sig")
  except (OSError, IOError) as e:  # Beam raises BeamIOError (an IOError) for missing files.
    raise IngestError(f"{manifest}: cannot read manifest: {e}") from None
  except UnicodeDecodeError:
    raise IngestError(f"{manifest}: manifest is not UTF-8 text") from None
  return text, manifest.rsplit("/", 1)[0] if "/" in manifest else "."


def list_manifest(manifest: str, labels: Sequence[str], train_percent: int,
                  split_by: str = "file") -> list[ImageSource]:
  """Reads `path,label[,split]` rows (a `path,label,...` header is allowed).

  Relative paths are resolved against the manifest's folder. Rows without a split are hashed.

  Raises:
    IngestError: naming the manifest and line for a malformed row, an empty or unknown label
      (when `labels` is configured), or an unknown split.
  """
  text, root = _read_manifest(manifest)
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
  return _matched([source] + [s.path for s in list_manifest(source, (), 50)])


def _matched(paths: list[str]) -> list:
  """Beam FileMetadata of `paths` (the ones that exist)."""
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
                    split_by: str = "file", unannotated: str = "quarantine") -> list[ImageSource]:
  """Lists `images/<id>.<ext>` with `masks/<id>.png`; the split is a hash of the image id.

  A mask without an image and a second image with the same id are listed with their problem
  (quarantined with that reason, never dropped silently); so is an image without a mask, unless
  `unannotated` is "negative": then its mask is all background.

  Raises:
    IngestError: for a bad class list, or configured `labels` that differ from it.
  """
  del split_by  # masks have no per-image class to hold out
  _check_unannotated(unannotated)
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
    if stem not in masks and unannotated == "quarantine":
      sources.append(ImageSource(path, "", split, problem=(
          f"image without a mask: no {root}/{MASKS_DIR}/{stem}.png (unannotated: quarantine)")))
      continue
    sources.append(ImageSource(path, "", split, annotation=(("mask", masks.get(stem)),
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
  if path is None:  # an image without a mask, kept as a negative: all background
    _, png = cv2.imencode(".png", np.zeros((info.height, info.width), np.uint8))
    return {"mask": png.tobytes(), "label": names[0].encode("utf-8"),
            "classes": [n.encode("utf-8") for n in names]}
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
                annotate=annotate_mask, options=("unannotated",), probes=True))


# ---------------------------------------------------------------------------------------------
# Boxes (object detection): COCO JSON and Pascal VOC XML. Both list each image with its objects
# in pixels; `annotate_boxes` checks them against the decoded image and writes the example's
# `boxes` ([ymin, xmin, ymax, xmax] normalised, flattened), `box_classes` (class index per box),
# `classes` (the class list) and `label` (the most frequent class, or NO_OBJECT).

COCO_FILE = "annotations.json"
VOC_ANNOTATIONS_DIR = "Annotations"
VOC_IMAGES_DIR = "JPEGImages"
NO_OBJECT = "(none)"
# Pixel value 0 of masks read from COCO segmentations.
BACKGROUND = "background"
# The detector pads ground truth to this many boxes per image; an image with more is quarantined
# (never truncated silently).
MAX_BOXES = 100
UNANNOTATED = ("negative", "quarantine")


def _check_unannotated(unannotated: str) -> None:
  if unannotated not in UNANNOTATED:
    raise IngestError(f"unannotated must be one of {UNANNOTATED}, got {unannotated!r}")


def _box_source(path: str, split: str, objects: list, names: Sequence[str], unannotated: str,
                size: tuple[int, int] | None = None, problem: str = "",
                max_objects: int | None = MAX_BOXES) -> ImageSource:
  """An image with its objects ((x0, y0, x1, y1, class index) in pixels, or (annotation id,
  segmentation JSON, class index) for masks)."""
  if not problem and not objects and unannotated == "quarantine":
    problem = "image without annotation (unannotated: quarantine)"
  if not problem and max_objects is not None and len(objects) > max_objects:
    problem = f"{len(objects)} boxes; at most {max_objects} per image are kept"
  return ImageSource(path, "", split, problem=problem, annotation=(
      ("objects", tuple(objects)), ("classes", tuple(names)), ("size", size)))


def _json_file(source: str, name: str) -> str:
  """The annotation file of a source: the source itself (*.json), or `name` in the folder."""
  return source if source.endswith(".json") else f"{source.rstrip('/')}/{name}"


def _has_json_file(source: str, name: str) -> bool:
  if source.endswith(".json"):
    return True
  try:
    return FileSystems.exists(_json_file(source, name))
  except Exception:  # pylint: disable=broad-except
    return False


def _read_coco(path: str, what: str, kind: str, lists: Sequence[str]) -> tuple[dict, str]:
  """(a COCO-style JSON file holding the `lists`, the folder its file names are relative to).

  Raises:
    IngestError: naming the file, if it cannot be read or lacks one of the lists.
  """
  import json  # pylint: disable=g-import-not-at-top
  try:
    with FileSystems.open(path) as f:
      data = json.loads(f.read().decode("utf-8-sig"))
  except (OSError, IOError, ValueError) as e:
    raise IngestError(f"{path}: cannot read the {what}: {e}") from None
  if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in lists):
    names = [f"'{k}'" for k in lists]
    raise IngestError(f"{path}: not {kind}: needs lists {', '.join(names[:-1])} and {names[-1]}")
  return data, path.rsplit("/", 1)[0] if "/" in path else "."


def is_coco(source: str) -> bool:
  """A COCO annotation file (*.json), or a folder holding `annotations.json`."""
  return _has_json_file(source, COCO_FILE)


def _coco_file(source: str) -> str:
  return _json_file(source, COCO_FILE)


def list_coco(source: str, labels: Sequence[str], train_percent: int, split_by: str = "file",
              unannotated: str = "negative", masks: bool = False) -> list[ImageSource]:
  """Lists the images of a COCO annotation file (`file_name` relative to the file's folder) with
  their `bbox`es, or with `masks` their `segmentation`s (polygons or RLE; crowd regions are
  painted too, and the class list starts with BACKGROUND); the split is a hash of `file_name`.

  Quarantined with the reason: a second image with an id already used, an annotation naming a
  category id the file does not define (or a category outside the configured `labels`), an
  annotation of an image id the file does not list, a malformed `bbox`, and images without
  annotation when `unannotated` is "quarantine" (by default they are negatives).

  Raises:
    IngestError: naming the file, if it is unreadable, not COCO, or its categories are bad.
  """
  import json  # pylint: disable=g-import-not-at-top
  _check_unannotated(unannotated)
  del split_by
  path = _coco_file(source)
  data, root = _read_coco(path, "COCO annotations", "COCO",
                          ("images", "annotations", "categories"))
  categories: dict = {}
  for c in data["categories"]:
    if not isinstance(c, dict) or "id" not in c or not str(c.get("name", "")).strip():
      raise IngestError(f"{path}: category {c!r} needs an id and a name")
    if c["id"] in categories:
      raise IngestError(f"{path}: category id {c['id']} is defined twice")
    categories[c["id"]] = str(c["name"]).strip()
  names = tuple(labels) or tuple(categories[k] for k in sorted(categories))
  if masks and not labels:
    names = (BACKGROUND, *names)
  if masks and names[0] != BACKGROUND:
    raise IngestError(f"{path}: the class list of masks starts with '{BACKGROUND}' (pixel value "
                      f"0); configured labels are {list(names)}")
  if len(set(categories.values())) != len(categories):
    raise IngestError(f"{path}: duplicate category names {sorted(categories.values())}")
  if len(names) == (1 if masks else 0):  # masks: the background alone
    raise IngestError(f"{path}: no categories")
  index = {n: i for i, n in enumerate(names) if not (masks and i == 0)}
  by_image: dict = {}
  orphans = []
  image_ids = {im.get("id") for im in data["images"] if isinstance(im, dict)}
  for a in data["annotations"]:
    if not isinstance(a, dict):
      raise IngestError(f"{path}: annotation {a!r} is not an object")
    if a.get("image_id") not in image_ids:
      orphans.append(a)
      continue
    by_image.setdefault(a["image_id"], []).append(a)
  sources, seen = [], {}
  for im in data["images"]:
    name = str(im.get("file_name", "")) if isinstance(im, dict) else ""
    if not name:
      raise IngestError(f"{path}: image {im!r} has no file_name")
    image_path = _join(root, name)
    split = hash_split(name, train_percent)
    if im.get("id") in seen:
      sources.append(_box_source(image_path, split, [], names, unannotated, problem=(
          f"duplicate image id {im['id']} in {path}: {seen[im['id']]} has the same id")))
      continue
    seen[im.get("id")] = image_path
    objects, problem = [], ""
    for a in by_image.get(im.get("id"), []):
      if a.get("iscrowd") and not masks:
        continue  # crowd regions are not instances (COCO's own convention)
      box = a.get("bbox")
      if masks:
        problem = _segmentation_problem(a.get("segmentation"))
        if problem:
          problem = f"annotation {a.get('id')}: {problem}"
          break
      elif (not isinstance(box, list) or len(box) != 4 or
            not all(isinstance(v, (int, float)) for v in box)):
        problem = f"annotation {a.get('id')}: bbox {box!r} is not [x, y, width, height]"
        break
      category = a.get("category_id")
      if category not in categories:
        problem = (f"annotation {a.get('id')}: unknown category id {category!r} (the file "
                   f"defines {sorted(categories)})")
        break
      if categories[category] not in index:
        problem = (f"annotation {a.get('id')}: category '{categories[category]}' is not one of "
                   f"the configured labels {list(names)}")
        break
      if masks:
        objects.append((a.get("id"), json.dumps(a["segmentation"]), index[categories[category]]))
        continue
      x, y, w, h = (float(v) for v in box)
      objects.append((x, y, x + w, y + h, index[categories[category]]))
    size = ((int(im["width"]), int(im["height"])) if isinstance(im.get("width"), int) and
            isinstance(im.get("height"), int) else None)
    sources.append(_box_source(image_path, split, objects, names, unannotated, size, problem,
                               max_objects=None if masks else MAX_BOXES))
  for a in orphans:
    sources.append(ImageSource(f"{path}#annotation={a.get('id')}", "",
                               hash_split(str(a.get("id")), train_percent), problem=(
        f"annotation {a.get('id')} is for image id {a.get('image_id')!r}, which {path} does not "
        f"list")))
  if not sources:
    raise IngestError(f"{path}: no images listed")
  return sources


def _segmentation_problem(segmentation) -> str:
  """Why a COCO `segmentation` is malformed, or "": polygons are lists of at least three x, y
  points; RLE is {"size": [height, width], "counts": list of runs or a compressed string}."""
  if isinstance(segmentation, list):
    if not segmentation:
      return "empty segmentation"
    for polygon in segmentation:
      if (not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2 or
          not all(isinstance(v, (int, float)) for v in polygon)):
        return f"polygon {str(polygon)[:60]} is not a list of at least three x, y points"
    return ""
  if isinstance(segmentation, dict):
    size, counts = segmentation.get("size"), segmentation.get("counts")
    if (not isinstance(size, list) or len(size) != 2 or
        not all(isinstance(v, int) and v > 0 for v in size)):
      return f"RLE size {size!r} is not [height, width]"
    if not (isinstance(counts, str) and counts) and not (
        isinstance(counts, list) and counts and all(isinstance(v, int) and v >= 0
                                                    for v in counts)):
      return "RLE counts are neither a list of runs nor a compressed string"
    if isinstance(counts, list) and sum(counts) != size[0] * size[1]:
      return f"RLE runs cover {sum(counts)} pixels, its size {size[1]}x{size[0]} has {size[0] * size[1]}"
    return ""
  return f"no segmentation (polygons or RLE), got {type(segmentation).__name__}"


def _size_problem(annotation: dict, src: ImageSource, info) -> str:
  size = annotation.get("size")
  if size and tuple(size) != (info.width, info.height):
    return (f"the annotation says the image is {size[0]}x{size[1]} but {src.path} is "
            f"{info.width}x{info.height}")
  return ""


def annotate_coco_mask(src: ImageSource, info) -> dict | str:
  """The example's `mask` (8-bit PNG, class id per pixel; later annotations paint over earlier
  ones), `classes` and `label` (as `annotate_mask` writes them) from COCO polygons or RLE, or
  why the image is quarantined: an RLE of another size than the image, a region that covers no
  pixel of it, an annotation file that gives the image another size."""
  import cv2  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from pycocotools import mask as mask_utils  # pylint: disable=g-import-not-at-top
  annotation = dict(src.annotation)
  names = annotation["classes"]
  problem = _size_problem(annotation, src, info)
  if problem:
    return problem
  h, w = info.height, info.width
  mask = np.zeros((h, w), np.uint8)
  for annotation_id, encoded, class_id in annotation["objects"]:
    segmentation = json.loads(encoded)
    if isinstance(segmentation, list):
      rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    else:
      if list(segmentation["size"]) != [h, w]:
        return (f"annotation {annotation_id}: RLE mask is {segmentation['size'][1]}x"
                f"{segmentation['size'][0]} but the image is {w}x{h}")
      counts = segmentation["counts"]
      rle = (mask_utils.frPyObjects(segmentation, h, w) if isinstance(counts, list) else
             {"size": [h, w], "counts": counts.encode("ascii")})
    region = mask_utils.decode(rle)
    if not region.any():
      return (f"annotation {annotation_id}: the '{names[class_id]}' region covers no pixel of "
              f"the {w}x{h} image")
    mask[region > 0] = class_id
  values, counts = np.unique(mask, return_counts=True)
  foreground = [(c, v) for v, c in zip(values, counts) if v > 0]
  label = names[max(foreground)[1]] if foreground else names[0]
  _, png = cv2.imencode(".png", mask)
  return {"mask": png.tobytes(), "label": label.encode("utf-8"),
          "classes": [n.encode("utf-8") for n in names]}


def _list_coco_masks(source: str, labels: Sequence[str], train_percent: int,
                     split_by: str = "file", unannotated: str = "negative") -> list[ImageSource]:
  return list_coco(source, labels, train_percent, split_by, unannotated, masks=True)


def _coco_files(source: str) -> list:
  return _json_listed_files(_coco_file(source))


def _json_listed_files(path: str) -> list:
  """A COCO-style file (`images` with `file_name`s) and every image it lists."""
  import json  # pylint: disable=g-import-not-at-top
  root = path.rsplit("/", 1)[0] if "/" in path else "."
  metas = list(FileSystems.match([path])[0].metadata_list)
  try:
    with FileSystems.open(path) as f:
      listed = [str(im.get("file_name", "")) for im in json.loads(f.read())["images"]]
  except Exception:  # pylint: disable=broad-except  # listing names what is wrong
    return metas
  return metas + _matched([_join(root, n) for n in listed if n])


def is_voc(source: str) -> bool:
  """A Pascal VOC folder: `Annotations/*.xml` beside `JPEGImages/`."""
  try:
    return (not source.endswith((".json", ".csv")) and
            FileSystems.exists(f"{source.rstrip('/')}/{VOC_ANNOTATIONS_DIR}"))
  except Exception:  # pylint: disable=broad-except
    return False


def _voc_objects(path: str) -> tuple[str, tuple[int, int] | None, list]:
  """(image file name, (width, height) or None, [(x0, y0, x1, y1, name)]) of one VOC XML file.
  VOC pixel coordinates are 1-based and inclusive: (1, 1, W, H) is the whole image."""
  import xml.etree.ElementTree as ET  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    root = ET.fromstring(f.read())
  filename = (root.findtext("filename") or "").strip()
  size = None
  if root.find("size") is not None:
    size = (int(float(root.findtext("size/width"))), int(float(root.findtext("size/height"))))
  objects = []
  for obj in root.findall("object"):
    name = (obj.findtext("name") or "").strip()
    bb = obj.find("bndbox")
    if bb is None:
      raise ValueError(f"object '{name}' has no bndbox")
    x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    objects.append((x0 - 1, y0 - 1, x1, y1, name))
  return filename, size, objects


def list_voc(source: str, labels: Sequence[str], train_percent: int, split_by: str = "file",
             unannotated: str = "negative") -> list[ImageSource]:
  """Lists `Annotations/<id>.xml` with `JPEGImages/<filename>`; classes are the configured
  `labels`, else every object name found (sorted). Unreadable XML, an object name outside the
  configured labels, and an image without an XML file (when `unannotated` is "quarantine") are
  quarantined with the reason; images without objects are negatives by default."""
  _check_unannotated(unannotated)
  del split_by
  root = source.rstrip("/")
  xmls = sorted(m.path for m in
                FileSystems.match([f"{root}/{VOC_ANNOTATIONS_DIR}/*.xml"])[0].metadata_list)
  images = sorted(m.path for m in
                  FileSystems.match([f"{root}/{VOC_IMAGES_DIR}/*"])[0].metadata_list)
  parsed, problems = {}, {}
  for xml in xmls:
    try:
      parsed[xml] = _voc_objects(xml)
    except Exception as e:  # pylint: disable=broad-except  # any parse error is the reason
      problems[xml] = f"cannot read VOC annotation {xml}: {e}"
  names = tuple(labels) or tuple(sorted({o[4] for _, _, objs in parsed.values() for o in objs}))
  if not names:
    raise IngestError(f"{root}/{VOC_ANNOTATIONS_DIR}: no objects in any annotation")
  index = {n: i for i, n in enumerate(names)}
  sources, annotated = [], set()
  for xml in xmls:
    stem = _stem(xml)
    if xml in problems:
      sources.append(_box_source(xml, hash_split(stem, train_percent), [], names, unannotated,
                                 problem=problems[xml]))
      continue
    filename, size, objs = parsed[xml]
    image_path = f"{root}/{VOC_IMAGES_DIR}/{filename or stem + '.jpg'}"
    annotated.add(image_path)
    unknown = sorted({o[4] for o in objs} - set(index))
    problem = (f"{xml}: object names {unknown} are not classes {list(names)}" if unknown else "")
    objects = [(*o[:4], index[o[4]]) for o in objs if o[4] in index]
    sources.append(_box_source(image_path, hash_split(stem, train_percent), objects, names,
                               unannotated, size, problem))
  for image in images:
    if image not in annotated:
      sources.append(_box_source(image, hash_split(_stem(image), train_percent), [], names,
                                 unannotated))
  if not sources:
    raise IngestError(f"{root}: no VOC annotations or images found")
  return sources


def _voc_files(source: str) -> list:
  root = source.rstrip("/")
  return [m for pattern in (f"{root}/{VOC_ANNOTATIONS_DIR}/*", f"{root}/{VOC_IMAGES_DIR}/*")
          for m in FileSystems.match([pattern])[0].metadata_list]


def annotate_boxes(src: ImageSource, info) -> dict | str:
  """The example's boxes, normalised to the decoded image; boxes partly outside it are clipped
  (counted in the ingest notes), boxes wholly outside or without area quarantine the image, and
  so does an annotation file whose image size differs from the image's."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  annotation = dict(src.annotation)
  names = annotation["classes"]
  problem = _size_problem(annotation, src, info)
  if problem:
    return problem
  boxes, classes, clipped = [], [], 0
  for x0, y0, x1, y1, c in annotation["objects"]:
    if x1 <= x0 or y1 <= y0:
      return f"box {[x0, y0, x1, y1]} of class '{names[c]}' has no area"
    cx0, cy0 = min(max(x0, 0.0), info.width), min(max(y0, 0.0), info.height)
    cx1, cy1 = min(max(x1, 0.0), info.width), min(max(y1, 0.0), info.height)
    if cx1 <= cx0 or cy1 <= cy0:
      return (f"box {[x0, y0, x1, y1]} of class '{names[c]}' is wholly outside the "
              f"{info.width}x{info.height} image")
    clipped += (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
    boxes += [cy0 / info.height, cx0 / info.width, cy1 / info.height, cx1 / info.width]
    classes.append(int(c))
  label = names[max(set(classes), key=classes.count)] if classes else NO_OBJECT
  extra = {"boxes": np.asarray(boxes, np.float32), "box_classes": np.asarray(classes, np.int64),
           "classes": [n.encode("utf-8") for n in names], "label": label.encode("utf-8")}
  if clipped:
    extra[NOTE] = f"clipped {clipped} box(es) partly outside the image"
  return extra


register(Reader("coco_json", is_coco, list_coco, _coco_files, priority=5,
                annotate=annotate_boxes, options=("unannotated",), probes=True))
register(Reader("voc_xml", is_voc, list_voc, _voc_files, priority=6, annotate=annotate_boxes,
                options=("unannotated",), probes=True))
# Semantic segmentation from COCO polygons / RLE; after mask_pairs (priority 10) for a folder
# that holds both.
register(Reader("coco_masks", is_coco, _list_coco_masks, _coco_files, priority=11,
                annotate=annotate_coco_mask, options=("unannotated",), probes=True))


# ---------------------------------------------------------------------------------------------
# Videos (video classification): listed like images (class folders or a manifest); each file is
# decoded with OpenCV on the workers and `num_frames` sampled frames are stored (`video.py`).


def decode_video(src: ImageSource, data: bytes, max_pixels: int, channels: int,
                 options: dict | None = None) -> tuple[ImageInfo, dict] | str:
  """The poster frame's info and the sampled frames (`video.VIDEO_EXTRA_FEATURES`), or why the
  video is quarantined; a partial decode kept by `partial: keep` carries its note."""
  clip = video.read_clip_bytes(data, src.path, video.VideoOptions.from_strings(options),
                               channels or 3, max_pixels)
  if isinstance(clip, str):
    return clip
  poster, extra = video.clip_features(clip)
  height, width = clip.frames.shape[1:3]
  info = ImageInfo(height=int(height), width=int(width), channels=channels or 3, format="png",
                   data=poster, note=clip.note)
  return info, extra


def _list_videos(lister: Callable) -> Callable:
  """A listing that takes (and leaves to `decode_video`) the video options."""
  def list_videos(source, labels, train_percent, split_by="file", **options):
    video.VideoOptions.from_strings(options)  # a bad option fails at listing, naming itself
    return lister(source, labels, train_percent, split_by)
  return list_videos


register(Reader("video_manifest", is_manifest, _list_videos(list_manifest), _manifest_files,
                decode=decode_video, options=video.OPTION_NAMES))
register(Reader("video_folders", lambda source: not is_manifest(source),
                _list_videos(list_folder), _folder_files, priority=100, decode=decode_video,
                options=video.OPTION_NAMES))


# ---------------------------------------------------------------------------------------------
# Captions (image captioning): several reference captions per image, from a COCO-captions file
# or a `path,caption[,split]` CSV. Captions are checked at listing with the captioning
# tokenizer (`components.common.text`): an empty caption or one over `max_tokens` tokens is
# dropped with a note counted in the ingest summary, captions past `max_captions` likewise; an
# image left without a valid caption is quarantined with the reasons.

CAPTIONS_FILE = "captions.json"
CAPTION_OPTIONS = ("max_tokens", "max_captions")


def _caption_limits(options: dict) -> tuple[int, int]:
  unknown = sorted(set(options) - set(CAPTION_OPTIONS))
  if unknown:
    raise IngestError(f"unknown caption reader options {unknown}; use {list(CAPTION_OPTIONS)}")
  try:
    max_tokens, max_captions = int(options.get("max_tokens", 16)), int(
        options.get("max_captions", 5))
  except (TypeError, ValueError):
    raise IngestError(f"max_tokens and max_captions must be integers, got {options}") from None
  if max_tokens < 1 or max_captions < 1:
    raise IngestError(f"max_tokens and max_captions must be >= 1, got {options}")
  return max_tokens, max_captions


def _caption_source(path: str, split: str, captions: Sequence, max_tokens: int,
                    max_captions: int, problem: str = "") -> ImageSource:
  """An image with its valid captions; why others were dropped goes to its note."""
  from components.common import text  # pylint: disable=g-import-not-at-top
  kept, dropped = [], collections.Counter()
  for caption in captions:
    caption = caption.strip() if isinstance(caption, str) else ""
    tokens = len(text.tokenize(caption))
    if not tokens:
      dropped["empty caption"] += 1
    elif tokens > max_tokens:
      dropped[f"over-long caption (over max_tokens={max_tokens})"] += 1
    else:
      kept.append(caption)
  if len(kept) > max_captions:
    dropped[f"caption past max_captions={max_captions}"] += len(kept) - max_captions
    kept = kept[:max_captions]
  reasons = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items()))
  if not problem and not kept:
    problem = f"no valid caption: {reasons or 'none given'}"
  return ImageSource(path, "", split, problem=problem,
                     annotation=(("captions", tuple(kept)), ("dropped", reasons)))


def annotate_captions(src: ImageSource, info) -> dict:
  """The example's captions (a bytes list) and a note naming dropped captions."""
  del info
  annotation = dict(src.annotation)
  extra: dict = {"captions": [c.encode("utf-8") for c in annotation["captions"]]}
  if annotation["dropped"]:
    extra[NOTE] = f"dropped {annotation['dropped']}"
  return extra


def is_coco_captions(source: str) -> bool:
  """A COCO-captions file (*.json), or a folder holding `captions.json`."""
  return _has_json_file(source, CAPTIONS_FILE)


def _captions_file(source: str) -> str:
  return _json_file(source, CAPTIONS_FILE)


def list_coco_captions(source: str, labels: Sequence[str], train_percent: int,
                       split_by: str = "file", **options) -> list[ImageSource]:
  """Lists the images of a COCO-captions file (`images` with id and `file_name` relative to the
  file's folder, and an optional `split` as in Karpathy's splits; `annotations` with `image_id`
  and `caption`). Images without a split are hashed by file name.

  Quarantined with the reason: a duplicate image id, an image without a valid caption, and an
  annotation of an image id the file does not list. A missing image file is quarantined when it
  is read ("cannot read").

  Raises:
    IngestError: naming the file, if it is unreadable, not COCO captions, or a split is unknown.
  """
  del labels, split_by
  max_tokens, max_captions = _caption_limits(options)
  path = _captions_file(source)
  data, root = _read_coco(path, "COCO captions", "COCO captions", ("images", "annotations"))
  by_image: dict = {}
  image_ids = {im.get("id") for im in data["images"] if isinstance(im, dict)}
  orphans = []
  for a in data["annotations"]:
    if not isinstance(a, dict) or "caption" not in a:
      raise IngestError(f"{path}: annotation {a!r} needs an image_id and a caption")
    if a.get("image_id") not in image_ids:
      orphans.append(a)
      continue
    by_image.setdefault(a["image_id"], []).append(a["caption"])
  sources, seen = [], {}
  for im in data["images"]:
    name = str(im.get("file_name", "")) if isinstance(im, dict) else ""
    if not name:
      raise IngestError(f"{path}: image {im!r} has no file_name")
    split = str(im.get("split") or hash_split(name, train_percent)).lower()
    split = {"val": "eval", "test": "eval", "restval": "train"}.get(split, split)
    if split not in SPLITS:
      raise IngestError(f"{path}: image {name}: unknown split {im.get('split')!r}; use one of "
                        f"{list(SPLITS)} (or val, test, restval)")
    problem = (f"duplicate image id {im['id']} in {path}: {seen[im['id']]} has the same id"
               if im.get("id") in seen else "")
    seen.setdefault(im.get("id"), name)
    sources.append(_caption_source(_join(root, name), split, by_image.get(im.get("id"), []),
                                   max_tokens, max_captions, problem))
  for a in orphans:
    sources.append(ImageSource(f"{path}#annotation={a.get('id')}", "",
                               hash_split(str(a.get("id")), train_percent), problem=(
        f"caption {a.get('id')} is for image id {a.get('image_id')!r}, which {path} does not "
        f"list")))
  if not sources:
    raise IngestError(f"{path}: no images listed")
  return sources


def _coco_captions_files(source: str) -> list:
  return _json_listed_files(_captions_file(source))


def list_caption_csv(manifest: str, labels: Sequence[str], train_percent: int,
                     split_by: str = "file", **options) -> list[ImageSource]:
  """Reads `path,caption[,split]` rows (a `path,caption,...` header is allowed); the rows of
  one path are its captions, in order. Relative paths are resolved against the manifest's
  folder; rows without a split are hashed by path.

  Raises:
    IngestError: naming the manifest and line for a malformed row, an unknown split or one path
      given two splits.
  """
  del labels, split_by
  max_tokens, max_captions = _caption_limits(options)
  text_, root = _read_manifest(manifest)
  captions: dict[str, list[str]] = {}
  splits: dict[str, str] = {}
  for lineno, row in enumerate(csv.reader(io.StringIO(text_)), start=1):
    if not row or all(not c.strip() for c in row):
      continue
    if lineno == 1 and row[0].strip().lower() == "path":
      continue
    if len(row) not in (2, 3):
      raise IngestError(f"{manifest} line {lineno}: expected 'path,caption[,split]' (quote "
                        f"captions holding commas), got {len(row)} fields")
    path = row[0].strip()
    if not path:
      raise IngestError(f"{manifest} line {lineno}: empty path")
    split = row[2].strip().lower() if len(row) == 3 and row[2].strip() else ""
    if split and split not in SPLITS:
      raise IngestError(f"{manifest} line {lineno}: unknown split '{row[2]}'; use one of "
                        f"{list(SPLITS)}")
    split = split or splits.get(path) or hash_split(path, train_percent)
    if splits.setdefault(path, split) != split:
      raise IngestError(f"{manifest} line {lineno}: {path} is in split '{splits[path]}' on an "
                        f"earlier line and '{split}' here")
    captions.setdefault(path, []).append(row[1])
  if not captions:
    raise IngestError(f"{manifest}: manifest lists no images")
  return [_caption_source(_join(root, p), splits[p], c, max_tokens, max_captions)
          for p, c in captions.items()]


def _caption_csv_files(source: str) -> list:
  return _matched([source] + sorted({s.path for s in list_caption_csv(source, (), 50)}))


register(Reader("coco_captions", is_coco_captions, list_coco_captions, _coco_captions_files,
                priority=7, annotate=annotate_captions, options=CAPTION_OPTIONS, probes=True))
register(Reader("caption_csv", is_manifest, list_caption_csv, _caption_csv_files, priority=8,
                annotate=annotate_captions, options=CAPTION_OPTIONS))
