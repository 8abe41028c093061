"""Small-data benchmark: the default classification DAG on 100, 300 and 1,000 real images, beside
a plain-Keras CNN of the same size trained on the same images, in one run.

  python bench/small_data.py [--sizes 100 300 1000] [--batch-norm-momentum M] [--output DIR]

Data: Fashion-MNIST (real photographs of 10 kinds of clothing, Debian `dataset-fashion-mnist`),
10 classes, read as RGB at 32 x 32 (`image: {channels: 3}`), as a user with a small folder of
colour images would run it. For N training images (N/10 per class, from the official train set)
the run's manifest adds N/4 eval images (from the official test set), like an 80/20 split; both
models are then scored on 2,000 further test images neither has seen.

The pipeline runs with its defaults (only the image size and channels set);
`--batch-norm-momentum 0.9` reproduces the fixed momentum used before it was derived from the
steps per epoch. The baseline is Conv(32)-pool-Conv(64)-pool-Conv(128)-GAP-Dropout-Dense without
BatchNormalization, Adam 1e-3, batch 32, 30 epochs, no augmentation and no early stopping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import fashion  # noqa: E402

TEST_IMAGES = 2000


def subset(train_y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
  """Indices of n/10 training images per class (the same draw for the DAG and the baseline)."""
  rng = np.random.default_rng(seed)
  return np.concatenate([rng.choice(np.flatnonzero(train_y == c), n // 10, replace=False)
                         for c in range(10)])


def write_subset(root: str, n: int, seed: int = 0) -> str:
  """N train images (N/10 per class) and N/4 eval images as PNG files with a manifest."""
  train_x, train_y = fashion.images("train"), fashion.labels("train")
  test_x, test_y = fashion.images("t10k"), fashion.labels("t10k")
  train_idx = subset(train_y, n, seed)
  rows = ["path,label,split"]
  for split, xs, ys, idx in (("train", train_x, train_y, train_idx),
                             ("eval", test_x, test_y, np.arange(max(n // 4, 10)))):
    for i in idx:
      rel = f"{split}/{fashion.CLASSES[ys[i]]}/{i:05d}.png"
      os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
      cv2.imwrite(os.path.join(root, rel), xs[i])
      rows.append(f"{rel},{fashion.CLASSES[ys[i]]},{split}")
  manifest = os.path.join(root, "manifest.csv")
  with open(manifest, "w") as f:
    f.write("\n".join(rows) + "\n")
  return manifest


def _rgb32(images: np.ndarray) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  x = tf.image.resize(images[..., None].astype(np.float32), [32, 32], antialias=True) / 255.0
  return np.repeat(x.numpy(), 3, axis=-1)


def test_set(n: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
  """Test images after the eval ones: (PNG bytes, RGB 32 px arrays, labels)."""
  start = max(n // 4, 10)
  xs = fashion.images("t10k")[start:start + TEST_IMAGES]
  ys = fashion.labels("t10k")[start:start + TEST_IMAGES]
  return [cv2.imencode(".png", x)[1].tobytes() for x in xs], _rgb32(xs), ys.astype(np.int64)


def baseline_accuracy(n: int, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0) -> float:
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  from tf_keras import layers  # pylint: disable=g-import-not-at-top
  train_x, train_y = fashion.images("train"), fashion.labels("train")
  idx = subset(train_y, n, seed)
  keras.utils.set_random_seed(42)
  model = keras.Sequential([
      keras.Input((32, 32, 3)),
      layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
      layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
      layers.Conv2D(128, 3, padding="same", activation="relu"),
      layers.GlobalAveragePooling2D(), layers.Dropout(0.3),
      layers.Dense(10, activation="softmax")])
  model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
  model.fit(_rgb32(train_x[idx]), train_y[idx].astype(np.int64), batch_size=32, epochs=30,
            shuffle=True, verbose=0)
  return float(model.evaluate(test_x, test_y, verbose=0)[1])


def pipeline_accuracy(serving_dir: str, test_png: list[bytes], test_y: np.ndarray) -> float:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  predict = tf.saved_model.load(serving_dir).signatures["serving_default"]
  names = np.array([fashion.CLASSES[y].encode() for y in test_y])
  hits = 0
  for i in range(0, len(test_png), 250):
    out = predict(image_bytes=tf.constant(test_png[i:i + 250]))
    hits += int(np.sum(out["predicted_class"].numpy() == names[i:i + 250]))
  return hits / len(test_png)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
  parser.add_argument("--batch-norm-momentum", type=float, default=0.0,
                      help="0 (default): from the steps per epoch; 0.9: the old fixed value")
  parser.add_argument("--output", default="bench-output/small-data")
  args = parser.parse_args()
  from components.common import outcome  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top

  rows = []
  for n in args.sizes:
    out = os.path.abspath(os.path.join(args.output, f"bn{args.batch_norm_momentum:g}", f"n{n}"))
    data = write_subset(os.path.join(os.path.abspath(args.output), f"data-{n}"), n)
    test_png, test_x, test_y = test_set(n)
    overrides = {"classification": {
        "model_name": "small", "image": {"height": 32, "width": 32, "channels": 3},
        "train": {"batch_norm_momentum": args.batch_norm_momentum}}}
    t = time.monotonic()
    result = runners.run_task("classification", out, data=data, overrides=overrides,
                              emit=lambda line: None, quiet_console=True)
    wall = time.monotonic() - t
    evaluation = outcome.read(result.output_uri("Evaluator", "evaluation"))
    blessed = result.output_properties("Evaluator", "blessing").get("blessed")
    history = os.path.join(result.output_uri("Trainer", "model_run"), "history.json")
    with open(history) as f:
      epochs = len(json.load(f)["loss"])
    model_uri = os.path.join(result.output_uri("Trainer", "model"), "Format-Serving")
    t = time.monotonic()
    base = baseline_accuracy(n, test_x, test_y)
    rows.append((n, evaluation["metrics"].get("sparse_categorical_accuracy", float("nan")),
                 pipeline_accuracy(model_uri, test_png, test_y), base, epochs, blessed, wall,
                 time.monotonic() - t))
    print(f"n={n}: pipeline {rows[-1][2]:.3f}, plain Keras {base:.3f}", flush=True)

  print(f"\n=== small data, Fashion-MNIST RGB 32 px, batch_norm_momentum="
        f"{args.batch_norm_momentum:g} (0: auto) ===")
  print(f"{'train':>6s} {'eval acc (TFMA)':>16s} {'test acc':>9s} {'plain Keras':>12s} "
        f"{'epochs':>7s} {'blessed':>8s} {'DAG s':>7s} {'Keras s':>8s}")
  for n, eval_acc, test_acc, base, epochs, blessed, wall, base_s in rows:
    print(f"{n:6d} {eval_acc:16.3f} {test_acc:9.3f} {base:12.3f} {epochs:7d} {str(blessed):>8s} "
          f"{wall:7.0f} {base_s:8.0f}")
  print(f"test acc: {TEST_IMAGES} Fashion-MNIST test images neither model saw; chance is 0.100")
  return 0


if __name__ == "__main__":
  sys.exit(main())
