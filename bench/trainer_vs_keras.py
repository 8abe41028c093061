"""The classification Trainer against a plain `model.fit` on in-memory arrays, side by side.

  python bench/trainer_vs_keras.py [--subset 5000] [--epochs 6] [--batch-size 32]

Runs the classification DAG on the first N Fashion-MNIST training images (a class-folder tree, as
a user would) with a fixed number of epochs and no early stopping, then, in the same process and
on the same transformed examples (read back from Transform's output into arrays), builds the same
model and trains it with `model.fit(x, y)` for the same epochs, batch size, learning-rate schedule
and validation set. Prints:

  - the Trainer's steady-state throughput (images/s over epochs 2..E, from the `seconds` that
    `history.json` records per epoch) and the plain fit's, and their ratio;
  - the Trainer's time outside its epochs (the component's wall time minus the epochs: process
    set-up, input pipeline, model build, export of the serving SavedModel and the Keras bundle)
    and the extra cost of its first epoch (tracing, TFXIO set-up) against a later one;
  - a third run, plain fit with the Trainer's default augmentation mapped over the in-memory data,
    so the augmentation's own cost is visible (the Trainer run itself has augmentation off, like
    the plain fit: same work).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fashion  # noqa: E402


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--subset", type=int, default=5000)
  parser.add_argument("--epochs", type=int, default=6)
  parser.add_argument("--batch-size", type=int, default=32)
  args = parser.parse_args()
  if args.epochs < 2:
    parser.error("--epochs must be >= 2 (epoch 1 carries the tracing)")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  from components.common import keras_bundle  # pylint: disable=g-import-not-at-top
  from components.edge_export import export  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  from pipelines.classification import config as cls_config  # pylint: disable=g-import-not-at-top
  from pipelines.classification import model  # pylint: disable=g-import-not-at-top
  from pipelines.vision import backbones  # pylint: disable=g-import-not-at-top
  from pipelines.vision import training  # pylint: disable=g-import-not-at-top
  from pipelines.vision import transform  # pylint: disable=g-import-not-at-top

  output = os.path.abspath(args.output)
  data = fashion.write_subset(output, args.subset)
  out = os.path.join(output, f"trainer-vs-keras-{args.subset}")
  shutil.rmtree(out, ignore_errors=True)
  no_augment = {"flip": False, "rotation": 0.0, "zoom": 0.0, "contrast": 0.0}
  overrides = {"classification": {"image": {"height": 28, "width": 28, "channels": 1},
                                  "train": {"epochs": args.epochs, "batch_size": args.batch_size,
                                            "early_stopping_patience": 0,
                                            "augment": no_augment}}}
  emit, times = fashion.component_timer()
  result = runners.run_task("classification", out, data=data, overrides=overrides, emit=emit)
  cfg = cls_config.load(overrides=overrides).classification
  with open(os.path.join(result.output_uri("Trainer", "model_run"),
                         keras_bundle.HISTORY_FILE)) as f:
    trainer_epochs = json.load(f)[keras_bundle.EPOCH_SECONDS]
  trainer_wall = float(times["Trainer"].rstrip("s"))

  tft_output = tft.TFTransformOutput(result.output_uri("Transform", "transform_graph"))
  examples = result.output_uri("Transform", "transformed_examples")
  spec = tft_output.transformed_feature_spec()
  arrays = {split: export.load_transformed_examples(
      os.path.join(examples, f"Split-{split}", "*.gz"), spec) for split in ("train", "eval")}
  image, label = transform.xf(transform.IMAGE_KEY), transform.xf(transform.LABEL_KEY)
  x, y = arrays["train"][image], arrays["train"][label].reshape(-1)
  xe, ye = arrays["eval"][image], arrays["eval"][label].reshape(-1)
  classes = len(transform.class_names(tft_output))

  def plain_fit(augment: bool) -> list[float]:
    keras.utils.set_random_seed(cfg.train.seed)
    net = model.build_classifier(classes, cfg.image, cfg.train)
    training.adapt_batch_norm(net, len(x), cfg.train.batch_size, cfg.train.batch_norm_momentum)
    model._compile(net, cfg.train.learning_rate)  # pylint: disable=protected-access
    timer = training.HistoryFile(os.path.join(out, f"plain-fit-{augment}"))  # times epochs
    callbacks = training.callbacks(cfg.train.epochs, cfg.train.learning_rate,
                                   cfg.train.lr_schedule, 0, cfg.train.reduce_lr_patience)
    if augment:
      a = cls_config.TrainConfig().augment  # the default augmentation
      layer = backbones.augmentation(a.flip, a.rotation, a.zoom, a.contrast, seed=0)
      ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0)
            .batch(cfg.train.batch_size)
            .map(lambda b, t: (layer(b, training=True), t), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
      net.fit(ds, validation_data=(xe, ye), epochs=cfg.train.epochs,
              callbacks=[*callbacks, timer], verbose=0)
    else:
      net.fit(x, y, batch_size=cfg.train.batch_size, validation_data=(xe, ye),
              epochs=cfg.train.epochs, callbacks=[*callbacks, timer], verbose=0)
    return timer.history[keras_bundle.EPOCH_SECONDS]

  plain = plain_fit(augment=False)
  augmented = plain_fit(augment=True)

  def rate(seconds: list[float]) -> float:
    return len(x) / statistics.median(seconds[1:])

  print(f"\n=== Trainer vs plain model.fit: {len(x)} train / {len(xe)} eval images, "
        f"{cfg.image.height}x{cfg.image.width}, batch {cfg.train.batch_size}, "
        f"{cfg.train.epochs} epochs ===")
  print(f"{'':34s} {'epoch 1 s':>10s} {'later s':>8s} {'img/s':>8s}")
  for name, seconds in (("Trainer (TFX component)", trainer_epochs),
                        ("plain fit, in-memory arrays", plain),
                        ("plain fit + default augmentation", augmented)):
    print(f"{name:34s} {seconds[0]:10.2f} {statistics.median(seconds[1:]):8.2f} "
          f"{rate(seconds):8.0f}")
  print(f"Trainer throughput / plain fit: {rate(trainer_epochs) / rate(plain):.2f}x "
        f"(steady-state epochs, validation included in both)")
  print(f"Trainer component {trainer_wall:.1f} s = epochs {sum(trainer_epochs):.1f} s + outside "
        f"the epochs {trainer_wall - sum(trainer_epochs):.1f} s (set-up, input, build, export); "
        f"first-epoch extra {trainer_epochs[0] - statistics.median(trainer_epochs[1:]):.1f} s "
        f"(plain fit: {plain[0] - statistics.median(plain[1:]):.1f} s)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
