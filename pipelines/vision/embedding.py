"""Embedding models shared by the retrieval and similarity tasks, and how they are trained.

Every embedding model maps [N, H, W, C] images in [0, 1] to L2-normalised vectors [N, D], so
Euclidean and angular distances agree and the model converts to TFLite/ONNX like any Keras model.
"""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

from pipelines.vision import backbones
from pipelines.vision import losses
from components.common import sampling
from pipelines.vision import training
from pipelines.vision.config import ImageConfig
from pipelines.vision.config import MetricLearningConfig


def embedding_network(image: ImageConfig, dim: int) -> keras.Model:
  """Small CNN -> Dense(dim) -> unit length: the shared tower of a Siamese/triplet network."""
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  x = backbones.small_cnn_features(inputs)
  x = layers.Dense(dim, name="embedding_dense")(x)
  return keras.Model(inputs, layers.UnitNormalization(name="embedding")(x), name="embedding_net")


def from_classifier(classifier: keras.Model) -> keras.Model:
  """The L2-normalised bottleneck (pooled features before the classifier head) of a classifier."""
  features = classifier.get_layer("dropout").input
  return keras.Model(classifier.input, layers.UnitNormalization(name="embedding")(features),
                     name="classifier_bottleneck")


def autoencoder(image: ImageConfig, code_size: int) -> tuple[keras.Model, keras.Model]:
  """A convolutional autoencoder (two stride-2 convolutions down, two transposed up).

  Returns:
    (autoencoder: images -> reconstructions in [0, 1], encoder: images -> unit-length codes).
  """
  h, w, c = image.height, image.width, image.channels
  inputs = keras.Input((h, w, c), name="image")
  x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="enc_conv0")(inputs)
  x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="enc_conv1")(x)
  code = layers.Dense(code_size, name="code")(layers.Flatten(name="enc_flatten")(x))
  y = layers.Dense((h // 4) * (w // 4) * 64, activation="relu", name="dec_dense")(code)
  y = layers.Reshape((h // 4, w // 4, 64), name="dec_reshape")(y)
  y = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu",
                             name="dec_up0")(y)
  y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu",
                             name="dec_up1")(y)
  out = layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="reconstruction")(y)
  ae = keras.Model(inputs, out, name="autoencoder")
  encoder = keras.Model(inputs, layers.UnitNormalization(name="embedding")(code),
                        name="autoencoder_code")
  return ae, encoder


def _pk_dataset(x: np.ndarray, y: np.ndarray, cfg: MetricLearningConfig,
                fixed: bool) -> tf.data.Dataset:
  """P x K batches; a new draw each epoch (train) or the same batches every time (`fixed`)."""
  epochs = itertools.count()

  def gen():
    seed = cfg.seed if fixed else cfg.seed + next(epochs)
    for idx in sampling.pk_batches(y, cfg.classes_per_batch, cfg.examples_per_class,
                                   np.random.default_rng(seed)):
      yield x[idx], y[idx]

  return tf.data.Dataset.from_generator(gen, output_signature=(
      tf.TensorSpec([None, *x.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64)))


def fit_metric(model: keras.Model, x: np.ndarray, y: np.ndarray, x_val: np.ndarray,
               y_val: np.ndarray, cfg: MetricLearningConfig, log_dir: str | None = None) -> dict:
  """Trains an embedding model with `cfg.loss` on P x K batches (augmented), validating on
  fixed P x K batches of the eval split. Returns the Keras history."""
  keras.utils.set_random_seed(cfg.seed)
  train_ds = _pk_dataset(x, y, cfg, fixed=False)
  augment = backbones.augmentation(cfg.augment.flip, cfg.augment.rotation, cfg.augment.zoom,
                                   cfg.augment.contrast, seed=cfg.seed)
  if augment.layers:
    train_ds = train_ds.map(lambda a, b: (augment(a, training=True), b))
  training.adapt_batch_norm(model, len(y), cfg.classes_per_batch * cfg.examples_per_class)
  model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                loss=losses.get(cfg.loss, cfg.margin))
  val_ds = _pk_dataset(x_val, y_val, cfg, fixed=True) if len(np.unique(y_val)) > 1 else None
  monitor = "val_loss" if val_ds is not None else "loss"
  return model.fit(train_ds.prefetch(tf.data.AUTOTUNE), validation_data=val_ds,
                   epochs=cfg.epochs, verbose=2,
                   callbacks=training.callbacks(cfg.epochs, cfg.learning_rate, cfg.lr_schedule,
                                                cfg.early_stopping_patience,
                                                cfg.reduce_lr_patience, log_dir,
                                                monitor=monitor)).history


def fit_autoencoder(ae: keras.Model, x: np.ndarray, x_val: np.ndarray, noise_stddev: float,
                    epochs: int, batch_size: int, learning_rate: float, lr_schedule: str,
                    early_stopping_patience: int, reduce_lr_patience: int, seed: int,
                    log_dir: str | None = None) -> dict:
  """Trains `ae` to reconstruct clean images from inputs with Gaussian noise (0: plain AE)."""
  keras.utils.set_random_seed(seed)

  def noisy(clean):
    if noise_stddev <= 0:
      return clean, clean
    return tf.clip_by_value(clean + tf.random.normal(tf.shape(clean), stddev=noise_stddev),
                            0.0, 1.0), clean

  train_ds = (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed)
              .batch(batch_size).map(noisy))
  rng = np.random.default_rng(seed)
  x_val_in = (np.clip(x_val + rng.normal(0, noise_stddev, x_val.shape), 0, 1).astype(np.float32)
              if noise_stddev > 0 else x_val)
  ae.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
  return ae.fit(**training.one_iterator(train_ds, training.num_batches(len(x), batch_size)),
                validation_data=(x_val_in, x_val), epochs=epochs, verbose=2,
                batch_size=batch_size,
                callbacks=training.callbacks(epochs, learning_rate, lr_schedule,
                                             early_stopping_patience, reduce_lr_patience,
                                             log_dir)).history

