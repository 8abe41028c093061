"""Classification model: Keras builders and the Trainer's `run_fn` (Transform is the shared
`pipelines.vision.transform.preprocessing_fn`).

Referenced by dotted path (RUN_FN) so the compiled Kubeflow pipeline imports it from the installed
package, as the container image does.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N])  -> classes, scores, predicted_class, predicted_score
      serving_examples(examples: string[N])    -> same outputs, from serialized tf.Examples (TFMA)
      transform_features(examples: string[N])  -> transformed features (TFMA's label source)
  {uri}/Format-Keras/   the bare Keras model on [N, H, W, C] float images in [0, 1], its class
                        names and preprocessing (`components.common.keras_bundle`)
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.classification.config import ClassificationConfig
from pipelines.classification.config import ImageConfig
from pipelines.classification.config import TrainConfig
from pipelines.vision import backbones
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform

RUN_FN = "pipelines.classification.model.run_fn"

# ---------------------------------------------------------------------------------------------
# Keras


def build_classifier(num_classes: int, image: ImageConfig, train: TrainConfig) -> keras.Model:
  """The inference model: [N, H, W, C] float in [0, 1] -> [N, num_classes] probabilities."""
  if train.model == "small_cnn":
    inputs = keras.Input((image.height, image.width, image.channels), name="image")
    features = backbones.small_cnn_features(inputs, train.widths)
  else:
    extractor, _ = backbones.mobilenet_v2_backbone(
        image.height, image.width, image.channels, alpha=train.backbone_alpha,
        weights=train.backbone_weights or None)
    inputs = extractor.input
    features = extractor.output
  x = layers.Dropout(train.dropout, name="dropout")(features)
  outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name=f"{train.model}_classifier")


def _backbone(model: keras.Model) -> keras.Model | None:
  for layer in model.layers:
    if isinstance(layer, keras.Model) and layer.name.startswith("mobilenetv2"):
      return layer
  return None


def _compile(model: keras.Model, learning_rate: float) -> None:
  model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def train_classifier(model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
                     train: TrainConfig, num_examples: int,
                     log_dir: str | None = None) -> dict[str, list[float]]:
  """Trains `model` (augmentation on train batches, early stopping, optional fine-tuning).

  `num_examples` (in `train_ds`) sets the BatchNormalization momentum
  (`training.batch_norm_momentum`): small data sets get few steps per epoch. A MobileNetV2
  backbone is frozen for the first phase and its top layers are unfrozen for `fine_tune_epochs`
  more at `fine_tune_learning_rate`.

  Returns:
    The merged Keras history.
  """
  augment = backbones.augmentation(train.augment.flip, train.augment.rotation,
                                   train.augment.zoom, train.augment.contrast, seed=train.seed)
  if augment.layers:
    train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y),
                            num_parallel_calls=tf.data.AUTOTUNE)
  steps = training.num_batches(num_examples, train.batch_size)
  callbacks = training.callbacks(train.epochs, train.learning_rate, train.lr_schedule,
                                 train.early_stopping_patience, train.reduce_lr_patience, log_dir)
  training.adapt_batch_norm(model, num_examples, train.batch_size, train.batch_norm_momentum)
  backbone = _backbone(model)
  if backbone is not None:
    backbone.trainable = False
  _compile(model, train.learning_rate)
  history = model.fit(**training.one_iterator(train_ds, steps), validation_data=eval_ds,
                      epochs=train.epochs, callbacks=callbacks, verbose=2).history
  if backbone is not None and train.fine_tune_epochs > 0:
    backbones.unfreeze_top(backbone, train.fine_tune_layers)
    _compile(model, train.fine_tune_learning_rate)
    more = model.fit(**training.one_iterator(train_ds, steps), validation_data=eval_ds,
                     epochs=train.fine_tune_epochs, callbacks=callbacks, verbose=2).history
    history = {k: history.get(k, []) + more.get(k, []) for k in set(history) | set(more)}
  return history


def export_serving_model(model: keras.Model, tft_output: tft.TFTransformOutput,
                         class_names: list[str], export_dir: str) -> None:
  """Saves a SavedModel whose signatures take encoded images or tf.Examples (see module doc)."""
  serving.ClassifierServingModule(model, tft_output, class_names).save(
      export_dir, task="classification")


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains on transformed examples and exports serving + Keras models."""
  cfg = config_loader.from_dict(ClassificationConfig, fn_args.custom_config["classification"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = transform.class_names(tft_output)
  logging.info("training %s on %d classes: %s", cfg.train.model, len(class_names), class_names)
  shape = transform.image_shape(cfg.image)
  train_ds = transform.dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                               cfg.train.batch_size, shuffle=True, seed=cfg.train.seed,
                               shape=shape)
  eval_ds = transform.dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                              cfg.train.batch_size, shuffle=False, seed=cfg.train.seed,
                              shape=shape)
  model = build_classifier(len(class_names), cfg.image, cfg.train)
  train_classifier(model, train_ds, eval_ds, cfg.train, transform.count_examples(fn_args.train_files),
                   log_dir=fn_args.model_run_dir)
  export_serving_model(model, tft_output, class_names, fn_args.serving_model_dir)
  keras_bundle.write(
      model, class_names, transform.preprocessing_metadata(cfg.image),
      os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR))
