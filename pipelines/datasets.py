"""Embedded default data: real images that ship with installed packages, written as image files so
the real ingest path (files on disk -> validation -> tf.Examples) runs."""

from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

_DONE = ".complete"


def write_digits(out_dir: str) -> str:
  """Writes scikit-learn's 1,797 real 8x8 handwritten digits as PNGs, one folder per class.

  Idempotent: an existing complete copy is reused untouched (so TFX's cache still hits).

  Returns:
    The folder, `<out_dir>/digits/<0..9>/<index>.png`.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  root = os.path.join(out_dir, "digits")
  if os.path.exists(os.path.join(root, _DONE)):
    return root
  digits = load_digits()
  # Pixel values are 0..16; spread to 0..255.
  images = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
  for index, (image, target) in enumerate(zip(images, digits.target)):
    folder = os.path.join(root, str(int(target)))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(os.path.join(folder, f"{index:04d}.png"), image):
      raise OSError(f"cannot write {folder}/{index:04d}.png")
  with open(os.path.join(root, _DONE), "w") as f:
    f.write(f"{len(images)} images\n")
  return root


# ---------------------------------------------------------------------------------------------
# Scenes: real digits pasted onto real photos (segmentation; detection reads the same scenes)

DIGIT_CLASSES = ("background",) + tuple(str(d) for d in range(10))


def _backgrounds() -> list[np.ndarray]:
  """Real colour photos shipped inside scikit-image and scikit-learn (RGB uint8)."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  photos = [getattr(skimage.data, name)() for name in
            ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
             "hubble_deep_field", "colorwheel")]
  photos += [np.dstack([getattr(skimage.data, name)()] * 3)
             for name in ("grass", "gravel", "brick", "camera", "moon")]
  return photos + list(load_sample_images().images)


def compose_scene(rng: np.random.Generator, backgrounds: list[np.ndarray],
                  sprites: np.ndarray, targets: np.ndarray, size: int,
                  count: tuple[int, int] = (1, 3), scale: tuple[float, float] = (0.3, 0.5),
                  max_overlap: float = 0.1,
                  opaque: bool = False) -> tuple[np.ndarray, np.ndarray, list[dict]]:
  """One scene: a random crop of a real photo with 1-3 real objects (`sprites` in [0, 1])
  pasted at random scales and places (bounding boxes overlapping by at most `max_overlap` IoU),
  each in a colour that contrasts with the photo under it.

  `opaque=False` (digits: the sprite is ink coverage): the colour is blended with the photo by
  the sprite's value, and the mask is where it covers more than half. `opaque=True` (photographed
  objects such as Fashion-MNIST garments, whose grey levels are shading, not coverage): every
  pixel of the object's silhouette (sprite > 0) is painted, the colour shaded by the sprite's
  grey level (40-100 %), and the mask is that silhouette; dark garments stay as visible as light
  ones.

  Returns:
    (RGB image [size, size, 3] uint8, mask [size, size] uint8 with 0 = background and digit d =
    d + 1 on the pixels where the digit covers more than half, instances [{"class_id",
    "box": [x0, y0, x1, y1] of its visible mask pixels (exclusive x1, y1), "pixels"}]).
  """
  photo = backgrounds[rng.integers(len(backgrounds))]
  crop = int(rng.integers(size, min(photo.shape[:2]) + 1))
  y, x = rng.integers(0, photo.shape[0] - crop + 1), rng.integers(0, photo.shape[1] - crop + 1)
  image = cv2.resize(photo[y:y + crop, x:x + crop], (size, size),
                     interpolation=cv2.INTER_AREA).astype(np.float32)
  mask = np.zeros((size, size), np.uint8)
  placed: list[tuple[int, int, int, int, int]] = []
  for _ in range(int(rng.integers(count[0], count[1] + 1))):
    for _ in range(20):
      side = int(round(size * rng.uniform(*scale)))
      x0, y0 = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
      box = (x0, y0, x0 + side, y0 + side)
      if all(_iou(box, p[:4]) <= max_overlap for p in placed):
        break
    else:
      continue
    i = int(rng.integers(len(sprites)))
    alpha = cv2.resize(sprites[i].astype(np.float32), (side, side),
                       interpolation=cv2.INTER_LINEAR).clip(0, 1)[..., None]
    patch = image[y0:y0 + side, x0:x0 + side]
    dark = patch.mean() > 128
    colour = rng.uniform(0, 60, 3) if dark else rng.uniform(195, 255, 3)
    if opaque:
      covered = cv2.resize((sprites[i] > 0.02).astype(np.float32), (side, side),
                           interpolation=cv2.INTER_LINEAR) > 0.5
      shaded = (0.4 + 0.6 * alpha) * colour
      patch[covered] = shaded[covered]
    else:
      covered = alpha[..., 0] > 0.5
      image[y0:y0 + side, x0:x0 + side] = alpha * colour + (1 - alpha) * patch
    mask[y0:y0 + side, x0:x0 + side][covered] = int(targets[i]) + 1
    placed.append((*box, int(targets[i]) + 1))
  instances = []
  for n, (*_, class_id) in enumerate(placed):
    # Visible pixels of this instance: its class in the mask inside its own square, not
    # overwritten by a later digit of another class.
    x0, y0, x1, y1 = placed[n][:4]
    own = np.zeros_like(mask, bool)
    own[y0:y1, x0:x1] = mask[y0:y1, x0:x1] == class_id
    for later in placed[n + 1:]:
      own[later[1]:later[3], later[0]:later[2]] &= later[4] != class_id
    ys, xs = np.nonzero(own)
    if len(xs):
      instances.append({"class_id": class_id, "pixels": int(len(xs)),
                        "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                int(ys.max()) + 1]})
  return np.clip(np.round(image), 0, 255).astype(np.uint8), mask, instances


def _iou(a, b) -> float:
  ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
  iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = ix * iy
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union else 0.0


def write_digit_scenes(out_dir: str, count: int = 600, size: int = 48, seed: int = 0,
                       scale: tuple[float, float] = (0.35, 0.6),
                       digits: Sequence[int] = tuple(range(10))) -> str:
  """Writes `count` scenes of real scikit-learn digits (`write_scenes`): of every digit, classes
  `DIGIT_CLASSES`, or only of `digits` (ascending), classes the background and those.

  Returns:
    The folder, `<out_dir>/digit-scenes-<count>-<size>px-<seed>-<scale>[-<digits>]`.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  digits = tuple(int(d) for d in digits)
  if not digits or list(digits) != sorted(set(digits)) or not set(digits) <= set(range(10)):
    raise ValueError(f"digits must be ascending, distinct and in 0-9, got {digits}")
  subset = "" if digits == tuple(range(10)) else "-" + "".join(map(str, digits))
  root = os.path.join(out_dir, f"digit-scenes-{count}-{size}px-{seed}-"
                           f"{scale[0]:g}-{scale[1]:g}{subset}")
  if not _complete(root):
    data = load_digits()
    keep = np.isin(data.target, digits)
    write_scenes(root, data.images[keep] / 16.0, np.searchsorted(digits, data.target[keep]),
                 [DIGIT_CLASSES[0], *(DIGIT_CLASSES[d + 1] for d in digits)], count, size, seed,
                 scale)
  return root


def _complete(root: str) -> bool:
  return all(os.path.exists(os.path.join(root, f)) for f in (_DONE, "annotations.json"))


def write_scenes(root: str, sprites: np.ndarray, targets: np.ndarray, classes: Sequence[str],
                 count: int, size: int, seed: int = 0,
                 scale: tuple[float, float] = (0.35, 0.6), opaque: bool = False) -> str:
  """Writes `count` scenes of real objects (`sprites`: [N, h, w] in [0, 1], class `targets[i]`,
  named `classes[targets[i] + 1]`; `classes[0]` is the background), each `scale` x `size` wide,
  on real photos (`compose_scene`, `opaque` as there) in the `mask_pairs` layout:
  `images/<id>.png`, `masks/<id>.png` (class id per pixel) and `classes.txt`; `instances.jsonl`
  lists each scene's objects with exact boxes, and `annotations.json` holds the same boxes as COCO
  (the `coco_json` reader's input; category k + 1 is `classes[k + 1]`). Seeded and idempotent (a
  complete copy is reused untouched, so TFX's cache still hits).
  """
  import json  # pylint: disable=g-import-not-at-top
  if _complete(root):
    return root
  backgrounds = _backgrounds()
  rng = np.random.default_rng(seed)
  for sub in ("images", "masks"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
  coco = {"images": [], "annotations": [], "categories": [
      {"id": k, "name": name} for k, name in enumerate(classes) if k > 0]}
  with open(os.path.join(root, "instances.jsonl"), "w") as listing:
    for i in range(count):
      image, mask, instances = compose_scene(rng, backgrounds, sprites, targets,
                                             size, scale=scale, opaque=opaque)
      name = f"{i:05d}.png"
      if not (cv2.imwrite(os.path.join(root, "images", name), image[..., ::-1]) and
              cv2.imwrite(os.path.join(root, "masks", name), mask)):
        raise OSError(f"cannot write {root}/*/{name}")
      listing.write(json.dumps({"image": f"images/{name}", "instances": instances}) + "\n")
      coco["images"].append({"id": i, "file_name": f"images/{name}", "width": size,
                             "height": size})
      for inst in instances:
        x0, y0, x1, y1 = inst["box"]
        coco["annotations"].append({
            "id": len(coco["annotations"]) + 1, "image_id": i, "category_id": inst["class_id"],
            "bbox": [x0, y0, x1 - x0, y1 - y0], "area": inst["pixels"], "iscrowd": 0})
  with open(os.path.join(root, "annotations.json"), "w") as f:
    json.dump(coco, f)
  with open(os.path.join(root, "classes.txt"), "w") as f:
    f.write("\n".join(classes) + "\n")
  with open(os.path.join(root, _DONE), "w") as f:
    f.write(f"{count} scenes\n")
  return root


# ---------------------------------------------------------------------------------------------
# Motion clips: real digits moving on real photos (video classification)

MOTIONS = ("down", "left", "right", "rotate", "up", "zoom")


def motion_frames(rng: np.random.Generator, background: np.ndarray, sprite: np.ndarray,
                  motion: str, size: int, frames: int) -> np.ndarray:
  """One clip [frames, size, size, 3] (BGR uint8): `sprite` (coverage in [0, 1]) on a still
  crop of `background`, moving by `motion`. Every clip starts at a random place, size and tilt
  (the same ranges for every motion), so no single frame tells the motion: only frames together
  do."""
  crop = int(rng.integers(size, min(background.shape[:2]) + 1))
  y, x = (int(rng.integers(0, background.shape[k] - crop + 1)) for k in (0, 1))
  photo = cv2.resize(background[y:y + crop, x:x + crop], (size, size),
                     interpolation=cv2.INTER_AREA)[..., ::-1].astype(np.float32)
  side0 = size * rng.uniform(0.35, 0.5)
  angle0 = rng.uniform(-20, 20)
  travel = size * rng.uniform(0.25, 0.4)  # pixels moved over the clip (translations)
  t = np.linspace(0.0, 1.0, frames)
  side = side0 * (1 + 0.6 * t) if motion == "zoom" else np.full(frames, side0)
  spin = rng.choice([-1, 1]) * rng.uniform(90, 150)
  angle = angle0 + spin * t if motion == "rotate" else np.full(frames, angle0)
  dx = {"left": -travel, "right": travel}.get(motion, 0.0) * t
  dy = {"up": -travel, "down": travel}.get(motion, 0.0) * t
  half = side.max() / 2
  # A start from which the whole path stays inside the frame.
  cx0 = rng.uniform(half - min(dx.min(), 0), size - half - max(dx.max(), 0))
  cy0 = rng.uniform(half - min(dy.min(), 0), size - half - max(dy.max(), 0))
  # A colour that contrasts with the photo where the sprite goes (over its whole path; the
  # whole crop's mean left some clips nearly invisible).
  x0, x1 = (int(np.clip(v, 0, size)) for v in (cx0 + dx.min() - half, cx0 + dx.max() + half + 1))
  y0, y1 = (int(np.clip(v, 0, size)) for v in (cy0 + dy.min() - half, cy0 + dy.max() + half + 1))
  colour = (rng.uniform(0, 60, 3) if photo[y0:y1, x0:x1].mean() > 128
            else rng.uniform(195, 255, 3))
  h, w = sprite.shape
  clip = np.empty((frames, size, size, 3), np.uint8)
  for k in range(frames):
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[k]), float(side[k]) / w)
    m[:, 2] += (cx0 + dx[k] - w / 2, cy0 + dy[k] - h / 2)
    alpha = cv2.warpAffine(sprite.astype(np.float32), m, (size, size),
                           flags=cv2.INTER_LINEAR).clip(0, 1)[..., None]
    clip[k] = np.clip(np.round(alpha * colour + (1 - alpha) * photo), 0, 255).astype(np.uint8)
  return clip


def write_motion_clips(root: str, sprites: np.ndarray, count: int, size: int, frames: int,
                       seed: int = 0, fps: float = 10.0) -> str:
  """Writes `count` real video files (`cv2.VideoWriter`, Motion-JPEG AVI) of `sprites` (coverage
  in [0, 1]) moving on real photos, one folder per motion (`MOTIONS`, the classes):
  `<root>/<motion>/<id>.avi`. Seeded and idempotent."""
  if os.path.exists(os.path.join(root, _DONE)):
    return root
  backgrounds = _backgrounds()
  rng = np.random.default_rng(seed)
  fourcc = cv2.VideoWriter_fourcc(*"MJPG")
  for i in range(count):
    motion = MOTIONS[i % len(MOTIONS)]
    clip = motion_frames(rng, backgrounds[rng.integers(len(backgrounds))],
                         sprites[rng.integers(len(sprites))], motion, size, frames)
    folder = os.path.join(root, motion)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{i:05d}.avi")
    writer = cv2.VideoWriter(path, fourcc, fps, (size, size), True)
    if not writer.isOpened():
      raise OSError(f"cannot write {path}: OpenCV has no Motion-JPEG writer")
    for frame in clip:
      writer.write(frame)
    writer.release()
  with open(os.path.join(root, _DONE), "w") as f:
    f.write(f"{count} clips\n")
  return root


def write_moving_digits(out_dir: str, count: int = 600, size: int = 32, frames: int = 16,
                        seed: int = 0) -> str:
  """The video task's embedded default: `count` clips of real scikit-learn digits moving by
  class (`write_motion_clips`). Returns `<out_dir>/moving-digits-<count>-<size>px-<frames>f-
  <seed>`."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  root = os.path.join(out_dir, f"moving-digits-{count}-{size}px-{frames}f-{seed}")
  if not os.path.exists(os.path.join(root, _DONE)):
    write_motion_clips(root, load_digits().images / 16.0, count, size, frames, seed)
  return root


# ---------------------------------------------------------------------------------------------
# Captioned scenes: real digits on real photos, reference captions from the exact ground truth
# (image captioning)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _plural(word: str) -> str:
  return word + ("es" if word.endswith(("x", "s")) else "s")


def held_out_pair(first: int, second: int) -> bool:
  """Ordered digit pairs (left/top first) kept out of training: the eval split's unseen
  combinations (about one pair in seven; every digit still appears in training, alone and in
  other pairs, in both places)."""
  return (first + 2 * second) % 7 == 3


def scene_captions(objects: Sequence[dict], layout: str) -> list[str]:
  """3-5 reference captions written from a scene's exact ground truth: what (the objects), how
  many (a single one, a pair, "a pair of sevens"), where (left/right/above/below, or where a
  single object is) and size (small/large). Counts are never number words: with digits they
  would be object names ("one", "two"), and the object-mention F1 would count them.

  Args:
    objects: [{"word": "seven", "size": "large"}], left or top first.
    layout: "left"/"right"/"top"/"bottom" (where a single object is) or "row"/"column" (pairs).
  """
  if len(objects) == 1:
    (o,) = objects
    where = f"on the {layout}" if layout in ("left", "right") else f"at the {layout}"
    return [f"a {o['size']} {o['word']} {where}", f"a {o['word']} {where}",
            f"a single {o['size']} {o['word']}", f"a single {o['word']} {where} of the image"]
  a, b = objects
  if layout == "row":
    caps = [f"a {a['size']} {a['word']} to the left of a {b['size']} {b['word']}",
            f"a {b['size']} {b['word']} to the right of a {a['size']} {a['word']}",
            f"a {a['word']} on the left and a {b['word']} on the right"]
    together = "side by side"
  else:
    caps = [f"a {a['size']} {a['word']} above a {b['size']} {b['word']}",
            f"a {b['size']} {b['word']} below a {a['size']} {a['word']}",
            f"a {a['word']} at the top and a {b['word']} at the bottom"]
    together = "stacked vertically"
  if a["word"] == b["word"]:
    caps.append(f"a pair of {_plural(a['word'])} {together}")
  else:
    caps.append(f"a pair of objects {together} a {a['word']} and a {b['word']}")
  return caps


def compose_caption_scene(rng: np.random.Generator, backgrounds: list[np.ndarray],
                          sprites: Sequence[np.ndarray], size: int, classes: Sequence[int],
                          layout: str, sizes: Sequence[str]) -> np.ndarray:
  """An RGB scene [size, size, 3]: a crop of a real photo with the digits `classes` (one sprite
  each, coverage in [0, 1]) at `layout`: one digit in the left/right/top/bottom half, or two in
  a row (first on the left) or a column (first on top); "large" digits are 0.4-0.45 of the
  image wide, "small" ones 0.25-0.3. Each digit contrasts with the photo under it."""
  photo = backgrounds[rng.integers(len(backgrounds))]
  crop = int(rng.integers(size, min(photo.shape[:2]) + 1))
  y, x = rng.integers(0, photo.shape[0] - crop + 1), rng.integers(0, photo.shape[1] - crop + 1)
  image = cv2.resize(photo[y:y + crop, x:x + crop], (size, size),
                     interpolation=cv2.INTER_AREA).astype(np.float32)
  half = size // 2
  # The region (x0, y0, x1, y1) of each digit: a half of the image.
  regions = {"left": [(0, 0, half, size)], "right": [(half, 0, size, size)],
             "top": [(0, 0, size, half)], "bottom": [(0, half, size, size)],
             "row": [(0, 0, half, size), (half, 0, size, size)],
             "column": [(0, 0, size, half), (0, half, size, size)]}[layout]
  for sprite, region, which in zip(sprites, regions, sizes):
    lo, hi = (0.4, 0.45) if which == "large" else (0.25, 0.3)
    side = max(3, int(round(size * rng.uniform(lo, hi))))
    rx0, ry0, rx1, ry1 = region
    x0 = int(rng.integers(rx0, max(rx0, rx1 - side) + 1))
    y0 = int(rng.integers(ry0, max(ry0, ry1 - side) + 1))
    alpha = cv2.resize(sprite.astype(np.float32), (side, side),
                       interpolation=cv2.INTER_LINEAR).clip(0, 1)[..., None]
    patch = image[y0:y0 + side, x0:x0 + side]
    colour = rng.uniform(0, 60, 3) if patch.mean() > 128 else rng.uniform(195, 255, 3)
    image[y0:y0 + side, x0:x0 + side] = alpha * colour + (1 - alpha) * patch
  del classes
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_caption_scenes(root: str, sprites: np.ndarray, targets: np.ndarray,
                         words: Sequence[str], count: int, size: int, seed: int = 0,
                         single_share: float = 0.3) -> str:
  """Writes `count` captioned scenes of real objects (`sprites`, class `targets[i]` named
  `words[targets[i]]`): `images/<id>.png`, `captions.json` (COCO captions, each image with its
  split) and the same captions as `captions.csv` (`path,caption,split`), and `scenes.jsonl`
  (the ground truth: objects, layout, sizes). A share `single_share` are single objects; the
  rest pairs. Pairs whose ordered classes are `held_out_pair` form the eval split (unseen
  combinations); every other scene is for training. Seeded and idempotent."""
  import csv as csv_module  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  if os.path.exists(os.path.join(root, _DONE)):
    return root
  backgrounds = _backgrounds()
  rng = np.random.default_rng(seed)
  by_class = {c: np.flatnonzero(targets == c) for c in range(len(words))}
  os.makedirs(os.path.join(root, "images"), exist_ok=True)
  coco: dict = {"images": [], "annotations": []}
  rows, scenes = [], []
  for i in range(count):
    single = rng.uniform() < single_share
    classes = [int(rng.integers(len(words))) for _ in range(1 if single else 2)]
    layout = (str(rng.choice(["left", "right", "top", "bottom"])) if single
              else str(rng.choice(["row", "column"])))
    sizes = [str(rng.choice(["small", "large"])) for _ in classes]
    picks = [sprites[rng.choice(by_class[c])] for c in classes]
    image = compose_caption_scene(rng, backgrounds, picks, size, classes, layout, sizes)
    split = "eval" if not single and held_out_pair(*classes) else "train"
    captions = scene_captions([{"word": words[c], "size": s} for c, s in zip(classes, sizes)],
                              layout)
    name = f"images/{i:05d}.png"
    if not cv2.imwrite(os.path.join(root, name), image[..., ::-1]):
      raise OSError(f"cannot write {root}/{name}")
    coco["images"].append({"id": i, "file_name": name, "width": size, "height": size,
                           "split": split})
    for caption in captions:
      coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i,
                                  "caption": caption})
      rows.append((name, caption, split))
    scenes.append({"image": name, "objects": [words[c] for c in classes], "layout": layout,
                   "sizes": sizes, "split": split})
  with open(os.path.join(root, "captions.json"), "w") as f:
    json.dump(coco, f)
  with open(os.path.join(root, "captions.csv"), "w", newline="") as f:
    writer = csv_module.writer(f)
    writer.writerow(("path", "caption", "split"))
    writer.writerows(rows)
  with open(os.path.join(root, "scenes.jsonl"), "w") as f:
    f.writelines(json.dumps(s) + "\n" for s in scenes)
  with open(os.path.join(root, _DONE), "w") as f:
    f.write(f"{count} scenes\n")
  return root


def write_digit_captions(out_dir: str, count: int = 1500, size: int = 32, seed: int = 0) -> str:
  """The captioning task's embedded default: `count` captioned scenes of real scikit-learn
  digits on real photos (`write_caption_scenes`). Returns
  `<out_dir>/digit-captions-<count>-<size>px-<seed>`."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  root = os.path.join(out_dir, f"digit-captions-{count}-{size}px-{seed}")
  if not os.path.exists(os.path.join(root, _DONE)):
    digits = load_digits()
    write_caption_scenes(root, digits.images / 16.0, digits.target, DIGIT_WORDS, count, size,
                         seed)
  return root
