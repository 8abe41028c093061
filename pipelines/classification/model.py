"""Classification model: tf.Transform `preprocessing_fn`, Keras builders, and the Trainer's `run_fn`.

Referenced by dotted path (PREPROCESSING_FN, RUN_FN) so the compiled Kubeflow pipeline imports them
from the installed package, as the container image does.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N])  -> classes, scores, predicted_class, predicted_score
      serving_examples(examples: string[N])    -> same outputs, from serialized tf.Examples (TFMA)
      transform_features(examples: string[N])  -> transformed features (TFMA's label source)
  {uri}/Format-Keras/   the bare Keras model on [N, H, W, C] float images in [0, 1], its class
                        names and preprocessing (`components.edge_export.export.write_keras_bundle`)
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.edge_export import export as edge_export
from pipelines import config_loader
from pipelines.classification.config import ClassificationConfig
from pipelines.classification.config import ImageConfig
from pipelines.classification.config import TrainConfig
from pipelines.vision import backbones
from pipelines.vision import preprocessing

PREPROCESSING_FN = "pipelines.classification.model.preprocessing_fn"
RUN_FN = "pipelines.classification.model.run_fn"

IMAGE_KEY = "image"
LABEL_KEY = "label"
LABEL_VOCABULARY = "label"
SERVING_INPUT = "image_bytes"


def xf(key: str) -> str:
  return f"{key}_xf"


# ---------------------------------------------------------------------------------------------
# tf.Transform


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict:
  """Decodes and resizes images, and maps labels to ids with a tft vocabulary."""
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  outputs = {xf(IMAGE_KEY): preprocessing.decode_and_resize(
      inputs[IMAGE_KEY], image.height, image.width, image.channels)}
  if LABEL_KEY in inputs:
    # Class ids follow the vocabulary file (by frequency); labels.txt records the order.
    outputs[xf(LABEL_KEY)] = tft.compute_and_apply_vocabulary(
        tf.reshape(inputs[LABEL_KEY], [-1]), vocab_filename=LABEL_VOCABULARY)
  return outputs


# ---------------------------------------------------------------------------------------------
# Keras


def build_classifier(num_classes: int, image: ImageConfig, train: TrainConfig) -> keras.Model:
  """The inference model: [N, H, W, C] float in [0, 1] -> [N, num_classes] probabilities."""
  if train.model == "small_cnn":
    inputs = keras.Input((image.height, image.width, image.channels), name="image")
    features = backbones.small_cnn_features(inputs)
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
                     train: TrainConfig, log_dir: str | None = None) -> dict[str, list[float]]:
  """Trains `model` (augmentation on train batches, early stopping, optional fine-tuning).

  A MobileNetV2 backbone is frozen for the first phase and its top layers are unfrozen for
  `fine_tune_epochs` more at `fine_tune_learning_rate`.

  Returns:
    The merged Keras history.
  """
  augment = backbones.augmentation(train.augment.flip, train.augment.rotation,
                                   train.augment.zoom, train.augment.contrast, seed=train.seed)
  if augment.layers:
    train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y),
                            num_parallel_calls=tf.data.AUTOTUNE)
  train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
  callbacks: list[keras.callbacks.Callback] = []
  if train.early_stopping_patience > 0:
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=train.early_stopping_patience, restore_best_weights=True))
  if train.lr_schedule == "plateau":
    callbacks.append(keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=1 / 3, patience=train.reduce_lr_patience, min_lr=1e-5))
  elif train.lr_schedule == "cosine":
    callbacks.append(keras.callbacks.LearningRateScheduler(
        lambda epoch: train.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / train.epochs))))
  if log_dir:
    callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
  backbone = _backbone(model)
  if backbone is not None:
    backbone.trainable = False
  _compile(model, train.learning_rate)
  history = model.fit(train_ds, validation_data=eval_ds, epochs=train.epochs,
                      callbacks=callbacks, verbose=2).history
  if backbone is not None and train.fine_tune_epochs > 0:
    backbones.unfreeze_top(backbone, train.fine_tune_layers)
    _compile(model, train.fine_tune_learning_rate)
    more = model.fit(train_ds, validation_data=eval_ds, epochs=train.fine_tune_epochs,
                     callbacks=callbacks, verbose=2).history
    history = {k: history.get(k, []) + more.get(k, []) for k in set(history) | set(more)}
  return history


# ---------------------------------------------------------------------------------------------
# Serving signatures


class _ServingModule(tf.Module):
  """Holds the Keras model and the tf.Transform layer so both are saved in one SavedModel."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: list[str]):
    super().__init__()
    self.model = model
    self.tft_layer = tft_output.transform_features_layer()
    self.class_names = tf.constant(class_names)
    raw_spec = tft_output.raw_feature_spec()
    self._raw_spec = raw_spec
    self._serving_spec = {k: v for k, v in raw_spec.items() if k == IMAGE_KEY}

  def _predict(self, raw_features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    transformed = self.tft_layer(raw_features)
    scores = self.model(transformed[xf(IMAGE_KEY)], training=False)
    top = tf.argmax(scores, axis=-1)
    n = tf.shape(scores)[0]
    return {
        "classes": tf.tile(self.class_names[tf.newaxis, :], [n, 1]),
        "scores": scores,
        "predicted_class": tf.gather(self.class_names, top),
        "predicted_score": tf.reduce_max(scores, axis=-1),
    }

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])
  def serve_image_bytes(self, image_bytes):
    # The inferred schema may give the image feature shape [1]; match it.
    shape = self._raw_spec[IMAGE_KEY].shape
    return self._predict({IMAGE_KEY: tf.reshape(image_bytes, [-1, *shape])})

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, examples):
    return self._predict(tf.io.parse_example(examples, self._serving_spec))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def transform_features(self, examples):
    return self.tft_layer(tf.io.parse_example(examples, self._raw_spec))


def export_serving_model(model: keras.Model, tft_output: tft.TFTransformOutput,
                         class_names: list[str], export_dir: str) -> None:
  """Saves a SavedModel whose signatures take encoded images or tf.Examples (see module doc)."""
  module = _ServingModule(model, tft_output, class_names)
  signatures = {
      "serving_default": module.serve_image_bytes.get_concrete_function(),
      "serving_examples": module.serve_examples.get_concrete_function(),
      "transform_features": module.transform_features.get_concrete_function(),
  }
  tf.saved_model.save(module, export_dir, signatures=signatures)


def preprocessing_metadata(image: ImageConfig) -> dict:
  """How edge runtimes must prepare an image for the bare Keras/TFLite/ONNX model."""
  return {"height": image.height, "width": image.width, "channels": image.channels,
          "scale": preprocessing.SCALE, "offset": preprocessing.OFFSET, "layout": "NHWC",
          "color": "grayscale" if image.channels == 1 else "rgb", "resize": "bilinear"}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


def _dataset(file_pattern: list[str], data_accessor, tft_output: tft.TFTransformOutput,
             batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  ds = data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=xf(LABEL_KEY),
                                     num_epochs=1, shuffle=shuffle, shuffle_seed=seed),
      tft_output.transformed_metadata.schema)
  return ds.map(lambda features, label: (features[xf(IMAGE_KEY)], label))


def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains on transformed examples and exports serving + Keras models."""
  cfg = config_loader.from_dict(ClassificationConfig, fn_args.custom_config["classification"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = [c.decode() if isinstance(c, bytes) else c
                 for c in tft_output.vocabulary_by_name(LABEL_VOCABULARY)]
  logging.info("training %s on %d classes: %s", cfg.train.model, len(class_names), class_names)
  train_ds = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                      cfg.train.batch_size, shuffle=True, seed=cfg.train.seed)
  eval_ds = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                     cfg.train.batch_size, shuffle=False, seed=cfg.train.seed)
  model = build_classifier(len(class_names), cfg.image, cfg.train)
  train_classifier(model, train_ds, eval_ds, cfg.train, log_dir=fn_args.model_run_dir)
  export_serving_model(model, tft_output, class_names, fn_args.serving_model_dir)
  edge_export.write_keras_bundle(
      model, class_names, preprocessing_metadata(cfg.image),
      os.path.join(os.path.dirname(fn_args.serving_model_dir), edge_export.KERAS_DIR))
