"""Training study outside the DAG: the generative task's own judge, generator, discriminator and
`train_step` on Fashion-MNIST held in memory, one config change at a time.

  python bench/gan_training.py [--train-images 20000] [--eval-images 10000]
                               [--train JSON] [--judge JSON] [--every 5]
                               [--judge-weights FILE.h5]

`--train` / `--judge` override the task's `train` / `judge` sections (validated like a YAML
override), e.g. `--train '{"conditioning": "projection"}'`. Defaults are the Fashion-MNIST
bench's (`bench/generative.py`: latent 64, width 16, batch 128, 25 epochs; judge width 32, 128
features, 10 epochs). Scores as the GenerativeEvaluator does (`components/gen_eval`): one
generated image per eval image, of its class; FID and KID in the judge's features against the
real eval images, next to the real-vs-real floor (as many training images against them);
conditional accuracy overall and per class; the judge's own eval accuracy. `--every N` also
scores the generator every N epochs (the curve behind a schedule choice).
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

import fashion  # noqa: E402
from components.gen_eval import evaluate as gen_eval  # noqa: E402
from components.gen_eval import metrics  # noqa: E402
from pipelines import config_loader  # noqa: E402
from pipelines.generative import model as gen  # noqa: E402
from pipelines.generative.config import GanConfig  # noqa: E402
from pipelines.generative.config import JudgeConfig  # noqa: E402
from pipelines.vision.config import ImageConfig  # noqa: E402

BENCH_TRAIN = {"epochs": 25, "latent_dim": 64, "width": 16, "batch_size": 128}
BENCH_JUDGE = {"width": 32, "features": 128, "epochs": 10}


class Scorer(keras.callbacks.Callback):
  """Scores the generator every `every` epochs (and after the last)."""

  def __init__(self, score, every: int, epochs: int):
    super().__init__()
    self.score, self.every, self.epochs = score, every, epochs

  def on_epoch_end(self, epoch, logs=None):
    if self.every and (epoch + 1) % self.every == 0 and epoch + 1 < self.epochs:
      print(f"  epoch {epoch + 1}: {self.score()}", flush=True)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--train-images", type=int, default=20000)
  parser.add_argument("--eval-images", type=int, default=10000)
  parser.add_argument("--train", default="{}", help="JSON override of the train section")
  parser.add_argument("--judge", default="{}", help="JSON override of the judge section")
  parser.add_argument("--every", type=int, default=0, help="score every N epochs too")
  parser.add_argument("--judge-weights", help="an .h5 file: the judge's weights are loaded from "
                      "it when it exists, else trained and saved there (same data and judge "
                      "config only: runs that share it compare generators in one feature space)")
  args = parser.parse_args()
  train = config_loader.from_dict(GanConfig, {**BENCH_TRAIN, **json.loads(args.train)}, "train")
  judge_cfg = config_loader.from_dict(JudgeConfig, {**BENCH_JUDGE, **json.loads(args.judge)},
                                      "judge")
  keras.utils.set_random_seed(train.seed)
  scale = lambda x: x[..., None].astype(np.float32) / 255.0  # noqa: E731
  x_train = scale(fashion.images("train")[:args.train_images])
  y_train = fashion.labels("train")[:args.train_images].astype(np.int64)
  x_eval = scale(fashion.images("t10k")[:args.eval_images])
  y_eval = fashion.labels("t10k")[:args.eval_images].astype(np.int64)
  image, k = ImageConfig(28, 28, 1), len(fashion.CLASSES)
  train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
      len(x_train), seed=train.seed, reshuffle_each_iteration=True).batch(
          train.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  eval_ds = tf.data.Dataset.from_tensor_slices((x_eval, y_eval)).batch(256).cache()

  start = time.monotonic()
  judge = gen.build_judge(k, image, judge_cfg)
  if args.judge_weights and os.path.exists(args.judge_weights):
    judge.load_weights(args.judge_weights)
    judge_accuracy = float((judge.predict(x_eval, batch_size=256, verbose=0)[0].argmax(-1) ==
                            y_eval).mean())
  else:
    judge_accuracy = gen.train_judge(judge, train_ds, eval_ds, judge_cfg, len(x_train),
                                     train.batch_size)
    if args.judge_weights:
      judge.save_weights(args.judge_weights)
  judge_seconds = time.monotonic() - start
  judged = lambda x: judge.predict(x, batch_size=256, verbose=0)  # noqa: E731
  _, real_features = judged(x_eval)
  floor_pick = np.random.default_rng(0).permutation(len(x_train))[:len(x_eval)]
  _, floor_features = judged(x_train[np.sort(floor_pick)])
  floor = metrics.fid(floor_features, real_features)
  print(f"judge {json.dumps(config_loader.to_dict(judge_cfg))}: eval accuracy "
        f"{judge_accuracy:.4f} ({judge_seconds:.0f} s); FID floor {floor:.4f}", flush=True)

  num_classes = k if train.conditional else 0
  generator = gen.build_generator(num_classes, image, train)
  discriminator = gen.build_discriminator(num_classes, image, train)
  # The evaluator's latents: seed SEED_OFFSET + i for eval image i, through the served mapping.
  latents = gen.seed_latents(tf.constant(gen_eval.SEED_OFFSET + np.arange(len(x_eval))),
                             train.latent_dim).numpy()

  gan = gen.GAN(generator, discriminator, num_classes, train.latent_dim, train.real_label,
                train.class_loss_weight, train.ema_decay)

  def score() -> str:
    inputs = [latents, np.eye(k, dtype=np.float32)[y_eval]] if num_classes else latents
    fake = gan.trained_generator.predict(inputs, batch_size=256, verbose=0)
    probs, features = (np.asarray(a) for a in judge.predict(fake, batch_size=256, verbose=0))
    s = gen_eval.scores((probs, features), y_eval if num_classes else -np.ones_like(y_eval),
                        real_features, floor)
    text = " ".join(f"{key} {value:.4f}" for key, value in s.items())
    if num_classes:
      hits = probs.argmax(-1) == y_eval
      text += "\n    per class: " + ", ".join(
          f"{name} {hits[y_eval == c].mean():.2f}" for c, name in enumerate(fashion.CLASSES))
    return text

  gan.compile(d_optimizer=keras.optimizers.Adam(train.learning_rate, beta_1=train.beta_1),
              g_optimizer=keras.optimizers.Adam(train.learning_rate, beta_1=train.beta_1))
  start = time.monotonic()
  history = gan.fit(train_ds, epochs=train.epochs, verbose=0,
                    callbacks=[Scorer(score, args.every, train.epochs)]).history
  seconds = time.monotonic() - start
  print(f"gan train={json.dumps(json.loads(args.train))}: {len(x_train)} train / {len(x_eval)} "
        f"eval images, {train.epochs} epochs in {seconds:.0f} s "
        f"(d_loss {[round(v, 2) for v in history['d_loss'][::5]]}, "
        f"d_real {[round(v, 2) for v in history['d_real'][::5]]}, "
        f"d_fake {[round(v, 2) for v in history['d_fake'][::5]]})")
  print(f"  final: {score()}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
