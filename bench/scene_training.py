"""Training study outside the DAG: the detection or segmentation task's own model, loss, training
loop and metric on seeded digit scenes held in memory, one config change at a time.

  python bench/scene_training.py detection [--scenes 1500] [--size 64] [--train JSON]
  python bench/scene_training.py segmentation [--scenes 1200] [--size 32] [--train JSON]
  add --fashion for Fashion-MNIST garments instead of digits (the benchmarks' scenes)

`--train` overrides the task's `train` section (validated like a YAML override), e.g.
`'{"epochs": 40, "focal_gamma": 1.0}'`. Scenes come from `pipelines.datasets.compose_scene` (real
scikit-learn digits on real photo crops, exact boxes and masks), 80 % train (reshuffled every
epoch) and 20 % held out. Prints the training time, the loss curve (every 5th epoch) and COCO
AP/AP50/AP75/AR@100 with AP50 per class (detection: `boxes.postprocess`, `coco.evaluate`, as the
evaluator) or mIoU and pixel accuracy (segmentation: `metrics.iou_scores`). The figures in the
README's detection and segmentation sections (focal loss, epochs, widths) came from this loop.
Two runs side by side on 2 cores each take about twice as long.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pipelines  # noqa: E402,F401  TensorFlow's environment (Keras 2, oneDNN), before TF loads

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from components.common import coco  # noqa: E402
from components.common import metrics  # noqa: E402
from pipelines import config_loader  # noqa: E402
from pipelines import datasets  # noqa: E402
from pipelines.vision.config import ImageConfig  # noqa: E402

NUM_CLASSES = 10  # digits 0-9, or the 10 Fashion-MNIST classes


def scenes(count: int, size: int, scale: tuple[float, float], seed: int = 0,
           fashion: bool = False):
  """(images [N, size, size, 3] in [0, 1], masks [N, size, size], boxes [N, 100, 4] yxyx
  normalised, box classes [N, 100] with -1 padding); digits, or Fashion-MNIST garments (the
  official training images, as `bench/detection.py` and `bench/segmentation.py`)."""
  if fashion:
    import fashion as fashion_mnist  # pylint: disable=g-import-not-at-top
    sprites, targets = fashion_mnist.garments()
  else:
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    digits = load_digits()
    sprites, targets = digits.images / 16.0, digits.target
  backgrounds = datasets._backgrounds()  # pylint: disable=protected-access
  rng = np.random.default_rng(seed)
  images, masks = [], []
  boxes = np.zeros((count, 100, 4), np.float32)
  classes = -np.ones((count, 100), np.int64)
  for i in range(count):
    image, mask, instances = datasets.compose_scene(rng, backgrounds, sprites, targets, size,
                                                    scale=scale, opaque=fashion)
    images.append(image.astype(np.float32) / 255.0)
    masks.append(mask)
    for k, inst in enumerate(instances):
      x0, y0, x1, y1 = inst["box"]
      boxes[i, k] = [y0 / size, x0 / size, y1 / size, x1 / size]
      classes[i, k] = inst["class_id"] - 1
  return np.stack(images), np.stack(masks).astype(np.int64), boxes, classes


def curve(history: dict) -> str:
  return (f"loss {[round(v, 3) for v in history['loss'][::5]]} "
          f"eval {[round(v, 3) for v in history['val_loss'][::5]]}")


def detection(args, images, boxes, classes, n_train: int) -> None:
  from pipelines.detection import boxes as box_ops  # pylint: disable=g-import-not-at-top
  from pipelines.detection import model as det  # pylint: disable=g-import-not-at-top
  from pipelines.detection.config import PostprocessConfig  # pylint: disable=g-import-not-at-top
  from pipelines.detection.config import TrainConfig  # pylint: disable=g-import-not-at-top
  train = config_loader.from_dict(TrainConfig, json.loads(args.train), "train")
  image = ImageConfig(args.size, args.size, 3)
  keras.utils.set_random_seed(train.seed)
  anchors = box_ops.anchors(det.anchor_spec(image, train.anchors))
  model = det.build(image, NUM_CLASSES, train)
  data = lambda a, b: tf.data.Dataset.from_tensor_slices(
      (images[a:b], boxes[a:b], classes[a:b]))
  start = time.monotonic()
  history = det.fit(model, data(0, n_train).shuffle(n_train, reshuffle_each_iteration=True),
                    data(n_train, len(images)), NUM_CLASSES, train, anchors, n_train)
  seconds = time.monotonic() - start
  post = PostprocessConfig()
  raw = model.predict(images[n_train:], batch_size=64, verbose=0)
  out = box_ops.postprocess(tf.constant(raw), tf.constant(anchors), NUM_CLASSES,
                            post.score_threshold, post.iou_threshold, post.max_detections,
                            post.pre_nms_top_k)
  det_boxes, det_scores, det_classes, num = (t.numpy() for t in out)
  n = num.round().astype(int)
  result = coco.evaluate(list(boxes[n_train:]), list(classes[n_train:]),
                         [det_boxes[i, :n[i]] for i in range(len(n))],
                         [det_scores[i, :n[i]] for i in range(len(n))],
                         [det_classes[i, :n[i]] for i in range(len(n))],
                         [str(d) for d in range(NUM_CLASSES)], (args.size, args.size))
  m = result["metrics"]
  print(f"detection train={args.train}: {n_train} train / {len(images) - n_train} held out, "
        f"fit {seconds:.0f} s; AP {m['ap']:.3f} AP50 {m['ap50']:.3f} AP75 {m['ap75']:.3f} "
        f"AR@100 {m['ar100']:.3f}")
  print("AP50 per class:", {k: round(v["ap50"], 2) for k, v in result["per_class"].items()})
  print(curve(history))


def segmentation(args, images, masks, n_train: int) -> None:
  from pipelines.segmentation import model as seg  # pylint: disable=g-import-not-at-top
  from pipelines.segmentation.config import TrainConfig  # pylint: disable=g-import-not-at-top
  train = config_loader.from_dict(TrainConfig, json.loads(args.train), "train")
  keras.utils.set_random_seed(train.seed)
  num_classes = NUM_CLASSES + 1
  model = seg.build(ImageConfig(args.size, args.size, 3), num_classes, train)
  train_ds = tf.data.Dataset.from_tensor_slices((images[:n_train], masks[:n_train])).shuffle(
      n_train, reshuffle_each_iteration=True).batch(train.batch_size)
  eval_ds = tf.data.Dataset.from_tensor_slices((images[n_train:], masks[n_train:])).batch(64)
  start = time.monotonic()
  history = seg.fit(model, train_ds, eval_ds, num_classes, train, n_train)
  seconds = time.monotonic() - start
  predicted = model.predict(images[n_train:], verbose=0).argmax(-1)
  scores = metrics.iou_scores(metrics.pixel_confusion(masks[n_train:].reshape(-1),
                                                      predicted.reshape(-1), num_classes))
  print(f"segmentation train={args.train}: {n_train} train / {len(images) - n_train} held out, "
        f"fit {seconds:.0f} s ({len(history['loss'])} epochs); mIoU {scores['miou']:.3f} "
        f"pixel accuracy {scores['pixel_accuracy']:.3f}")
  print(curve(history))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("task", choices=("detection", "segmentation"))
  parser.add_argument("--scenes", type=int, help="default: the task's default run's count")
  parser.add_argument("--size", type=int, help="default: the task's default run's size")
  parser.add_argument("--scale", help="digit side range as a fraction of the size, e.g. 0.2,0.45")
  parser.add_argument("--fashion", action="store_true",
                      help="Fashion-MNIST garments at 20-45 %% of the width (the benches' scenes)")
  parser.add_argument("--train", default="{}", help="JSON override of the train section")
  args = parser.parse_args()
  if args.task == "detection":
    from pipelines.detection import task  # pylint: disable=g-import-not-at-top
    defaults = (task.DEFAULT_SCENES, task.DEFAULT_SIZE, task.DEFAULT_SCALE)
  else:
    from pipelines.segmentation import task  # pylint: disable=g-import-not-at-top
    defaults = (task.DEFAULT_SCENES, task.DEFAULT_SIZE, (0.35, 0.6))
  args.scenes = args.scenes or defaults[0]
  args.size = args.size or defaults[1]
  if args.scale:
    scale = tuple(float(v) for v in args.scale.split(","))
  elif args.fashion:
    import fashion as fashion_mnist  # pylint: disable=g-import-not-at-top
    scale = fashion_mnist.SCENE_SCALE
  else:
    scale = defaults[2]
  images, masks, boxes, classes = scenes(args.scenes, args.size, scale, fashion=args.fashion)
  n_train = int(0.8 * args.scenes)
  if args.task == "detection":
    detection(args, images, boxes, classes, n_train)
  else:
    segmentation(args, images, masks, n_train)
  return 0


if __name__ == "__main__":
  sys.exit(main())
