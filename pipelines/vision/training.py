"""Keras training plumbing shared by task trainers: learning-rate schedule, early stopping, logs."""

from __future__ import annotations

import json
import logging
import math
import os
import time

import tensorflow as tf
import tf_keras as keras

from components.common import keras_bundle
from pipelines.vision import autograph

autograph.skip_library_code()


class HistoryFile(keras.callbacks.Callback):
  """Writes the metrics of every epoch so far to `<log_dir>/history.json` (any filesystem):
  {metric: [value per epoch]}, the run report's training curves, and `seconds`: each epoch's
  wall time (validation included). Across several `fit` calls with the same callback (e.g.
  fine-tuning) the epochs continue."""

  def __init__(self, log_dir: str):
    super().__init__()
    self.path = os.path.join(log_dir, keras_bundle.HISTORY_FILE)
    self.history: dict[str, list[float]] = {}
    self._start = 0.0

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.monotonic()

  def on_epoch_end(self, epoch, logs=None):
    for k, v in (logs or {}).items():
      self.history.setdefault(k, []).append(float(v))
    seconds = round(time.monotonic() - self._start, 3)
    self.history.setdefault(keras_bundle.EPOCH_SECONDS, []).append(seconds)
    tf.io.gfile.makedirs(os.path.dirname(self.path))
    with tf.io.gfile.GFile(self.path, "w") as f:
      json.dump(self.history, f)


def batch_norm_momentum(steps_per_epoch: int, configured: float = 0.0) -> float:
  """The moving-average momentum of BatchNormalization for a run of `steps_per_epoch` steps.

  Keras updates a BN layer's moving mean/variance once per training step; the evaluation at the
  end of an epoch uses them. With the usual 0.9-0.999 and only a handful of steps per epoch (a
  ~100-image data set gives 3-4), the moving statistics still hold their initial values for many
  epochs: evaluation sees a different network than training, eval loss and accuracy sit at
  chance, and early stopping and the plateau schedule act on that noise (restoring epoch 1).
  So, unless configured (> 0), the momentum makes the moving statistics 95% fresh after one
  epoch: 0.05 ** (1 / steps), kept within [0.5, 0.99] (0.99 is Keras's default for large runs).
  """
  if configured > 0:
    return configured
  return float(min(0.99, max(0.5, 0.05 ** (1.0 / max(1, steps_per_epoch)))))


def set_batch_norm_momentum(model: keras.Model, momentum: float) -> int:
  """Sets the momentum of every BatchNormalization layer in `model` (nested models included)
  before it is compiled; returns how many layers were set."""
  count = 0
  for layer in model.submodules:
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = momentum
      count += 1
  return count


def num_batches(num_examples: int, batch_size: int, drop_remainder: bool = False) -> int:
  """Batches in one pass over `num_examples` (at least 1)."""
  whole = num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)
  return max(1, whole)


def one_iterator(batches: tf.data.Dataset, steps_per_epoch: int | None) -> dict:
  """`model.fit` keywords that read `batches` (one pass: one epoch of `steps_per_epoch`
  batches, reshuffled each pass if it shuffles) through one iterator for the whole fit, with
  tf.data's autotuning off (a prefetch of two batches instead). `steps_per_epoch` None (a pass
  of unknown length): `batches` as they are, Keras's iterator per epoch.

  Measured on the captioner (epochs of 11-13 s on 2 cores): Keras makes a new iterator of a
  finite dataset every epoch and drops the spent one, and dropping it stalled ~9 s each epoch
  (the TensorBoard epoch events 20 s apart); keeping the spent iterators alive removed the stall.
  One repeated iterator moved the stall to the end of `fit` (10-40 s, varying from run to run);
  with autotuning off it was gone in every run: deleting an iterator waits for tf.data's
  autotuning thread, whose optimisation passes compete with training for the two cores."""
  if not steps_per_epoch:
    return {"x": batches}
  options = tf.data.Options()
  options.autotune.enabled = False
  return {"x": batches.repeat().prefetch(2).with_options(options),
          "steps_per_epoch": steps_per_epoch}


def adapt_batch_norm(model: keras.Model, num_examples: int, batch_size: int,
                     configured: float = 0.0) -> float:
  """Sets every BatchNormalization layer's momentum for `num_examples` in batches of
  `batch_size` (`batch_norm_momentum`), logs it and returns it."""
  steps = num_batches(num_examples, batch_size)
  momentum = batch_norm_momentum(steps, configured)
  count = set_batch_norm_momentum(model, momentum)
  logging.info("%d training examples, %d steps per epoch: BatchNormalization momentum %.3f "
               "(%d layers)", num_examples, steps, momentum, count)
  return momentum


class BuildOptimizers(keras.callbacks.Callback):
  """Creates the optimizers' slot variables (Adam's moments) as training begins. Keras creates
  them lazily, inside the first trace of its train function, and a `tf.function` whose first
  trace creates variables is traced a second time: the whole training step (forward pass,
  gradients, updates) twice, ~5 s of the captioner's first epoch. A model trained with several
  optimizers says which variables each updates with `optimizer_variables()`."""

  def on_train_begin(self, logs=None):
    for optimizer, variables in optimizer_variables(self.model):
      optimizer.build(variables)


def optimizer_variables(model: keras.Model) -> list[tuple[keras.optimizers.Optimizer, list]]:
  """(optimizer, the variables it updates) of a compiled `model`: the model's own
  `optimizer_variables()` if it has one, else its optimizer and trainable variables. Legacy
  (v1) optimizers, which have no `build`, are left out."""
  pairs = (model.optimizer_variables() if hasattr(model, "optimizer_variables")
           else [(model.optimizer, model.trainable_variables)])
  return [(o, v) for o, v in pairs if isinstance(o, keras.optimizers.Optimizer)]


def callbacks(epochs: int, learning_rate: float, lr_schedule: str, early_stopping_patience: int,
              reduce_lr_patience: int, log_dir: str | None = None,
              monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
  """Optimizer slots built up front (`BuildOptimizers`), early stopping (best weights
  restored), an LR schedule, TensorBoard logs and history.json.

  Args:
    lr_schedule: "plateau" (divide by 3 after `reduce_lr_patience` epochs without improvement),
      "cosine" (decay to 0 over `epochs`, per epoch) or "constant".
    early_stopping_patience: epochs without improvement of `monitor` before stopping; 0: off.
  """
  out: list[keras.callbacks.Callback] = [BuildOptimizers()]
  if early_stopping_patience > 0:
    out.append(keras.callbacks.EarlyStopping(
        monitor=monitor, patience=early_stopping_patience, restore_best_weights=True))
  if lr_schedule == "plateau":
    out.append(keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, factor=1 / 3, patience=reduce_lr_patience, min_lr=1e-5))
  elif lr_schedule == "cosine":
    out.append(keras.callbacks.LearningRateScheduler(
        lambda epoch: learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))))
  elif lr_schedule != "constant":
    raise ValueError(f"unknown lr_schedule {lr_schedule!r}")
  if log_dir:
    out.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
    out.append(HistoryFile(log_dir))
  return out
