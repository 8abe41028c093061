"""Semantic segmentation: U-Net (default) or FCN builders, cross-entropy + Dice loss, joint
image/mask augmentation, the serving module and the Trainer's `run_fn`.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N]) -> class_ids [N, H, W] (argmax in the graph),
                                                 probabilities [N, H, W, K], classes [N, K]
      serving_examples(examples: string[N])   -> same outputs, from serialized tf.Examples
      transform_features(examples: string[N]) -> transformed features (image_xf, mask_xf)
  {uri}/Format-Keras/   the bare Keras model on [N, H, W, C] float images in [0, 1] ->
                        probabilities [N, H, W, K], class names and preprocessing
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.segmentation import transform as seg_transform
from pipelines.segmentation.config import SegmentationAugmentConfig
from pipelines.segmentation.config import SegmentationConfig
from pipelines.segmentation.config import TrainConfig
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig

RUN_FN = "pipelines.segmentation.model.run_fn"

# ---------------------------------------------------------------------------------------------
# Keras


def _conv_block(x, filters: int, name: str):
  for i in range(2):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
    x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
    x = layers.ReLU(name=f"{name}_relu{i}")(x)
  return x


def _stem(inputs, filters: int, stride: int):
  """Stride 1: the input as it is. Stride s > 1: one strided conv-BN-ReLU, so the network runs at
  1/s of the input size (s^2 fewer multiply-adds per level) and `_head` up-samples its class
  scores back to the input size."""
  if stride == 1:
    return inputs
  x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                    name="stem_conv")(inputs)
  x = layers.BatchNormalization(name="stem_bn")(x)
  return layers.ReLU(name="stem_relu")(x)


def _head(x, num_classes: int, upsample: int):
  """1x1 class scores, bilinearly up-sampled by `upsample` (scores, not probabilities), then a
  softmax: [N, H, W, num_classes]."""
  x = layers.Conv2D(num_classes, 1, name="scores")(x)
  if upsample > 1:
    x = layers.UpSampling2D(upsample, interpolation="bilinear", name="upsample")(x)
  return layers.Softmax(name="probabilities")(x)


def build_unet(image: ImageConfig, num_classes: int, base_filters: int = 16,
               depth: int = 3, stem_stride: int = 1) -> keras.Model:
  """U-Net: `depth` (conv-BN-ReLU x2, max-pool) levels down, transposed convolutions up with
  skip connections, a 1x1 softmax head: [N, H, W, C] in [0, 1] -> [N, H, W, num_classes]. With
  `stem_stride` > 1 it runs behind a strided stem (`_stem`) and its scores are up-sampled."""
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  x, skips = _stem(inputs, base_filters, stem_stride), []
  for d in range(depth):
    x = _conv_block(x, base_filters * 2 ** d, f"down{d}")
    skips.append(x)
    x = layers.MaxPooling2D(name=f"pool{d}")(x)
  x = _conv_block(x, base_filters * 2 ** depth, "bottom")
  for d in reversed(range(depth)):
    x = layers.Conv2DTranspose(base_filters * 2 ** d, 2, strides=2, name=f"up{d}")(x)
    x = layers.Concatenate(name=f"skip{d}")([x, skips[d]])
    x = _conv_block(x, base_filters * 2 ** d, f"dec{d}")
  return keras.Model(inputs, _head(x, num_classes, stem_stride), name="unet")


def build_fcn(image: ImageConfig, num_classes: int, base_filters: int = 16,
              depth: int = 3, stem_stride: int = 1) -> keras.Model:
  """FCN: a plain conv-pool encoder, a 1x1 class scorer and a bilinear up-sampling by
  stem_stride x 2**depth (no skip connections: coarser borders than the U-Net)."""
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  x = _stem(inputs, base_filters, stem_stride)
  for d in range(depth):
    x = _conv_block(x, base_filters * 2 ** d, f"down{d}")
    x = layers.MaxPooling2D(name=f"pool{d}")(x)
  x = _conv_block(x, base_filters * 2 ** depth, "bottom")
  return keras.Model(inputs, _head(x, num_classes, stem_stride * 2 ** depth), name="fcn")


def build(image: ImageConfig, num_classes: int, train: TrainConfig) -> keras.Model:
  builder = {"unet": build_unet, "fcn": build_fcn}[train.model]
  return builder(image, num_classes, train.base_filters, train.depth, train.stem_stride)


class SegmentationLoss(keras.losses.Loss):
  """Pixel cross-entropy + `dice_weight` x (1 - soft Dice), Dice averaged over classes and
  images (smoothed by 1 so absent classes count as matched when none is predicted)."""

  def __init__(self, num_classes: int, dice_weight: float = 1.0, name: str = "ce_dice"):
    super().__init__(name=name)
    self.num_classes = num_classes
    self.dice_weight = dice_weight

  def call(self, y_true, y_pred):
    labels = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)
    ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred)  # [N, H, W]
    onehot = tf.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
    inter = tf.reduce_sum(onehot * y_pred, axis=[1, 2])
    total = tf.reduce_sum(onehot + y_pred, axis=[1, 2])
    dice = (2.0 * inter + 1.0) / (total + 1.0)  # [N, K]
    per_image = tf.reduce_mean(ce, axis=[1, 2]) + self.dice_weight * (
        1.0 - tf.reduce_mean(dice, axis=-1))
    return per_image

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes,
            "dice_weight": self.dice_weight}


def pixel_class_frequencies(batches: tf.data.Dataset, num_classes: int) -> tf.Tensor:
  """Each class's share of the mask pixels over one pass of (image, mask) batches: [K]."""
  counts = batches.reduce(
      tf.zeros([num_classes], tf.int64),
      lambda total, batch: total + tf.math.bincount(
          tf.reshape(tf.cast(batch[1], tf.int32), [-1]), minlength=num_classes,
          maxlength=num_classes, dtype=tf.int64))
  return tf.cast(counts, tf.float32) / tf.cast(tf.maximum(tf.reduce_sum(counts), 1), tf.float32)


def start_at_class_prior(model: keras.Model, frequencies, floor: float = 1e-3) -> None:
  """Sets the class-score bias to log(pixel frequency) (at least `floor`): the untrained model
  predicts the class prior everywhere. From a zero bias, Adam moves each bias by about the
  learning rate per step, so a background of 90 % of the pixels took the U-Net ~100 steps to
  learn before any shape did (as RetinaNet's prior initialisation of its class head avoids)."""
  scores = model.get_layer("scores")
  kernel, bias = scores.get_weights()
  prior = np.maximum(np.asarray(frequencies, np.float64), floor)
  scores.set_weights([kernel, np.log(prior / prior.sum()).astype(bias.dtype)])


def augment_pair(image: tf.Tensor, mask: tf.Tensor, cfg: SegmentationAugmentConfig,
                 seed: int) -> tuple[tf.Tensor, tf.Tensor]:
  """The same random shift (whole pixels, zero/background padding) and flip for one image
  [H, W, C] and its mask [H, W]: the mask stays exact and aligned."""
  h, w = image.shape[0], image.shape[1]
  c = image.shape[2]
  both = tf.concat([image, tf.cast(mask[..., tf.newaxis], image.dtype)], axis=-1)
  if cfg.shift > 0:
    dy, dx = max(1, int(h * cfg.shift)), max(1, int(w * cfg.shift))
    both = tf.pad(both, [[dy, dy], [dx, dx], [0, 0]])
    both = tf.image.random_crop(both, [h, w, c + 1], seed=seed)
  if cfg.flip:
    both = tf.image.random_flip_left_right(both, seed=seed)
  return both[..., :c], tf.cast(tf.round(both[..., c]), mask.dtype)


def fit(model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
        num_classes: int, train: TrainConfig, num_examples: int,
        log_dir: str | None = None) -> dict:
  """Trains `model` on (image, mask) batches, its class scores starting at the training masks'
  class prior (`start_at_class_prior`); returns the Keras history."""
  frequencies = pixel_class_frequencies(train_ds, num_classes)
  logging.info("pixel class frequencies: %s", [round(float(f), 4) for f in frequencies])
  start_at_class_prior(model, frequencies)
  if train.augment.shift > 0 or train.augment.flip:
    train_ds = train_ds.unbatch().map(
        lambda x, y: augment_pair(x, y, train.augment, train.seed),
        num_parallel_calls=tf.data.AUTOTUNE).batch(train.batch_size)
  training.adapt_batch_norm(model, num_examples, train.batch_size, train.batch_norm_momentum)
  model.compile(optimizer=keras.optimizers.Adam(train.learning_rate),
                loss=SegmentationLoss(num_classes, train.dice_weight),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")])
  callbacks = training.callbacks(train.epochs, train.learning_rate, train.lr_schedule,
                                 train.early_stopping_patience, train.reduce_lr_patience,
                                 log_dir)
  steps = training.num_batches(num_examples, train.batch_size)
  return model.fit(**training.one_iterator(train_ds, steps), validation_data=eval_ds,
                   epochs=train.epochs, callbacks=callbacks, verbose=2).history


# ---------------------------------------------------------------------------------------------
# Serving


class SegmentationServingModule(serving.ImageServingModule):
  """Outputs class_ids [N, H, W] (argmax inside the graph), probabilities [N, H, W, K] and the
  class names [N, K]."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: list[str]):
    super().__init__(model, tft_output)
    self.class_names = tf.constant(class_names)

  def outputs(self, images):
    probabilities = self.model(images, training=False)
    n = tf.shape(probabilities)[0]
    return {"class_ids": tf.argmax(probabilities, axis=-1),
            "probabilities": probabilities,
            "classes": tf.tile(self.class_names[tf.newaxis, :], [n, 1])}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains on transformed examples, exports serving + Keras models."""
  cfg = config_loader.from_dict(SegmentationConfig, fn_args.custom_config["segmentation"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = seg_transform.class_names(tft_output)
  mask = transform.xf(seg_transform.MASK_KEY)
  num_train = transform.count_examples(fn_args.train_files)
  shape = transform.image_shape(cfg.image)
  train_ds = transform.reshuffled_in_memory(
      transform.dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                        cfg.train.batch_size, shuffle=False, seed=cfg.train.seed, shape=shape,
                        label=mask).unbatch(),
      num_train, cfg.train.seed).batch(cfg.train.batch_size)
  eval_ds = transform.dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                              cfg.train.batch_size, shuffle=False, seed=cfg.train.seed,
                              shape=shape, label=mask)
  logging.info("training a %s on %d classes: %s", cfg.train.model, len(class_names), class_names)
  model = build(cfg.image, len(class_names), cfg.train)
  fit(model, train_ds, eval_ds, len(class_names), cfg.train, num_train,
      log_dir=fn_args.model_run_dir)
  SegmentationServingModule(model, tft_output, class_names).save(
      fn_args.serving_model_dir, task="segmentation")
  keras_bundle.write(
      model, class_names, {**transform.preprocessing_metadata(cfg.image), "output": "probabilities"},
      os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR))
