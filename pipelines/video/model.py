"""Video classification: Keras builders ((2+1)D convolutions, frame CNN + LSTM), the single-frame
baseline, the serving module and the Trainer's `run_fn` (Transform: `transform.preprocessing_fn`).

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(frames: string[N, F])   -> classes, scores, predicted_class, predicted_score
                          (F >= 1 encoded frames per clip, the same F for every clip of a
                          request; T of them, evenly spread, are used: what ingest samples)
      serving_examples(examples: string[N])   -> the same outputs, from serialized tf.Examples
      transform_features(examples: string[N]) -> transformed features (TFMA's label source)
  {uri}/Format-Keras/   the bare Keras model on [N, T, H, W, C] float clips in [0, 1], its class
                        names, preprocessing (with "frames": T) and `single_frame_baseline.json`
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.video.config import TrainConfig
from pipelines.video.config import VideoConfig
from pipelines.video.transform import FRAMES_KEY
from pipelines.video.transform import FRAMES_XF
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig

RUN_FN = "pipelines.video.model.run_fn"
BASELINE_FILE = "single_frame_baseline.json"

# ---------------------------------------------------------------------------------------------
# Keras


def _conv_bn_relu(x, filters: int, kernel, name: str, per_frame: bool):
  conv = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")
  x = layers.TimeDistributed(conv, name=f"{name}_td")(x) if per_frame else conv(x)
  x = layers.BatchNormalization(name=f"{name}_bn")(x)
  return layers.ReLU(name=f"{name}_relu")(x)


def _pool(x, name: str, per_frame: bool):
  pool = layers.MaxPooling2D(2, name=name)
  return layers.TimeDistributed(pool, name=f"{name}_td")(x) if per_frame else pool(x)


def frame_features(x, width: int, per_frame: bool, name: str = "frame"):
  """Three conv-BN-ReLU-pool blocks (width, 2x, 4x filters) on one frame [N, H, W, C], or on
  every frame of a clip [N, T, H, W, C] (`per_frame`); the spatial grid is kept (flattened), so
  where things are survives for the temporal model."""
  for i in range(3):
    x = _conv_bn_relu(x, width * 2 ** i, 3, f"{name}{i}", per_frame)
    x = _pool(x, f"{name}{i}_pool", per_frame)
  flatten = layers.Flatten(name=f"{name}_flatten")
  return layers.TimeDistributed(flatten, name=f"{name}_flatten_td")(x) if per_frame else flatten(x)


def build_cnn_lstm(num_classes: int, frames: int, image: ImageConfig,
                   train: TrainConfig) -> keras.Model:
  """The book's approach: a frame CNN on every frame, an LSTM over the frames' features."""
  inputs = keras.Input((frames, image.height, image.width, image.channels), name="frames")
  x = frame_features(inputs, train.width, per_frame=True)
  x = layers.TimeDistributed(layers.Dense(train.lstm_units, activation="relu"),
                             name="frame_embedding")(x)
  # Unrolled over the T frames: plain ops that TFLite converts (float and int8) and ONNX runs;
  # a symbolic loop leaves tensor-list ops that TFLite's builtins lack.
  x = layers.LSTM(train.lstm_units, unroll=True, name="lstm")(x)
  x = layers.Dropout(train.dropout, name="dropout")(x)
  outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name="cnn_lstm")


def build_r2plus1d(num_classes: int, frames: int, image: ImageConfig,
                   train: TrainConfig) -> keras.Model:
  """(2+1)D convolutions: per block a 3x3 spatial convolution on every frame, then a 3-frame
  temporal convolution at every place (a Conv2D over [T, H*W]), then 2x2 spatial pooling. Only
  2D ops: no Conv3D or 3D pooling, which TFLite runs only as flex or float kernels."""
  inputs = keras.Input((frames, image.height, image.width, image.channels), name="frames")
  x = inputs
  height, width = image.height, image.width
  for i in range(3):
    filters = train.width * 2 ** i
    x = _conv_bn_relu(x, filters, 3, f"spatial{i}", per_frame=True)
    x = layers.Reshape((frames, height * width, filters), name=f"to_time{i}")(x)
    x = _conv_bn_relu(x, filters, (3, 1), f"temporal{i}", per_frame=False)
    x = layers.Reshape((frames, height, width, filters), name=f"to_space{i}")(x)
    x = _pool(x, f"pool{i}", per_frame=True)
    height, width = height // 2, width // 2
  x = layers.Reshape((frames * height * width, train.width * 4), name="positions")(x)
  x = layers.GlobalAveragePooling1D(name="average")(x)
  x = layers.Dropout(train.dropout, name="dropout")(x)
  outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name="r2plus1d")


BUILDERS = {"cnn_lstm": build_cnn_lstm, "r2plus1d": build_r2plus1d}


def build(num_classes: int, frames: int, image: ImageConfig, train: TrainConfig) -> keras.Model:
  """The configured model: [N, T, H, W, C] float in [0, 1] -> [N, num_classes] probabilities."""
  return BUILDERS[train.model](num_classes, frames, image, train)


def build_single_frame(num_classes: int, image: ImageConfig, train: TrainConfig) -> keras.Model:
  """The baseline: the same frame CNN on one frame [N, H, W, C]."""
  inputs = keras.Input((image.height, image.width, image.channels), name="frame")
  x = frame_features(inputs, train.width, per_frame=False)
  x = layers.Dense(train.lstm_units, activation="relu", name="embedding")(x)
  x = layers.Dropout(train.dropout, name="dropout")(x)
  outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name="single_frame")


def fit(model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset, epochs: int,
        train: TrainConfig, num_examples: int, log_dir: str | None = None) -> dict:
  """Adam + sparse cross-entropy with early stopping and the configured LR schedule."""
  training.adapt_batch_norm(model, num_examples, train.batch_size, train.batch_norm_momentum)
  model.compile(optimizer=keras.optimizers.Adam(train.learning_rate),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
  callbacks = training.callbacks(epochs, train.learning_rate, train.lr_schedule,
                                 train.early_stopping_patience, train.reduce_lr_patience, log_dir)
  steps = training.num_batches(num_examples, train.batch_size)
  return model.fit(**training.one_iterator(train_ds, steps), validation_data=eval_ds,
                   epochs=epochs, callbacks=callbacks, verbose=2).history


def middle_frame(clips: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(clip [N, T, ...], label) -> (its middle frame [N, ...], label): the baseline's input."""
  return clips[:, clips.shape[1] // 2], labels


def single_frame_baseline(train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
                          num_classes: int, image: ImageConfig, train: TrainConfig,
                          num_examples: int) -> dict:
  """Trains the single-frame baseline on the middle frames; its eval accuracy against chance."""
  model = build_single_frame(num_classes, image, train)
  fit(model, train_ds.map(middle_frame), eval_ds.map(middle_frame), train.baseline_epochs,
      train, num_examples)
  _, accuracy = model.evaluate(eval_ds.map(middle_frame), verbose=0)
  return {"accuracy": float(accuracy), "chance": 1.0 / num_classes,
          "epochs": train.baseline_epochs, "frame": "middle"}


# ---------------------------------------------------------------------------------------------
# Serving


class VideoServingModule(serving.ServingModule):
  """serving_default takes a clip's encoded frames; the outputs are the classifier's
  (`serving.class_outputs`)."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: list[str]):
    super().__init__()
    self.model = serving.WeightsOnly(model)
    self.tft_layer = tft_output.transform_features_layer()
    self._raw_spec = tft_output.raw_feature_spec()
    self._frames_spec = {FRAMES_KEY: self._raw_spec[FRAMES_KEY]}
    self.frames = int(self._raw_spec[FRAMES_KEY].shape[0])
    self.image_shapes = {FRAMES_XF: tuple(model.input_shape[1:])}
    self.class_names = tf.constant(class_names)

  def outputs(self, clips: tf.Tensor) -> dict[str, tf.Tensor]:
    return serving.class_outputs(self.model(clips, training=False), self.class_names)

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name=FRAMES_KEY)])
  def serve_frames(self, frames):
    """T frames evenly spread over the F sent (repeating frames when F < T)."""
    count = tf.cast(tf.shape(frames)[1], tf.float32)
    tf.debugging.assert_positive(count, message="a clip needs at least one frame")
    picks = tf.cast(tf.round(tf.linspace(0.0, count - 1.0, self.frames)), tf.int32)
    sampled = tf.gather(frames, picks, axis=1)
    return self.outputs(self.transformed({FRAMES_KEY: sampled})[FRAMES_XF])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, examples):
    features = self.transformed(tf.io.parse_example(examples, self._frames_spec))
    return self.outputs(features[FRAMES_XF])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def transform_features(self, examples):
    return self.transformed(tf.io.parse_example(examples, self._raw_spec))

  def signatures(self) -> dict:
    return {"serving_default": self.serve_frames.get_concrete_function(),
            "serving_examples": self.serve_examples.get_concrete_function(),
            "transform_features": self.transform_features.get_concrete_function()}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


def clip_dataset(files, data_accessor, tft_output, batch_size: int, seed: int,
                 shape: tuple[int, ...]) -> tf.data.Dataset:
  return transform.dataset(files, data_accessor, tft_output, batch_size, shuffle=False,
                           seed=seed, shape=shape, image=FRAMES_XF)


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the video model and the single-frame baseline; exports the
  serving model and the Keras bundle."""
  cfg = config_loader.from_dict(VideoConfig, fn_args.custom_config["video"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = transform.class_names(tft_output)
  frames = int(tft_output.raw_feature_spec()[FRAMES_KEY].shape[0])
  shape = transform.image_shape(cfg.image, frames)
  num_train = transform.count_examples(fn_args.train_files)
  logging.info("training %s on %d clips of %d frames, %d classes: %s", cfg.train.model,
               num_train, frames, len(class_names), class_names)
  batch, seed = cfg.train.batch_size, cfg.train.seed
  train_ds = transform.reshuffled_in_memory(
      clip_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch, seed,
                   shape).unbatch(),
      num_train, seed).batch(batch)
  eval_ds = clip_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch, seed,
                         shape).cache()
  model = build(len(class_names), frames, cfg.image, cfg.train)
  fit(model, train_ds, eval_ds, cfg.train.epochs, cfg.train, num_train,
      log_dir=fn_args.model_run_dir)
  bundle = os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR)
  VideoServingModule(model, tft_output, class_names).save(fn_args.serving_model_dir, task="video")
  keras_bundle.write(model, class_names,
                     {**transform.preprocessing_metadata(cfg.image), "frames": frames,
                      "layout": "NTHWC"}, bundle)
  if cfg.train.baseline_epochs:
    baseline = single_frame_baseline(train_ds, eval_ds, len(class_names), cfg.image, cfg.train,
                                     num_train)
    _, accuracy = model.evaluate(eval_ds, verbose=0)
    baseline["model_accuracy"] = float(accuracy)
    logging.info("single-frame baseline: %s", baseline)
    with tf.io.gfile.GFile(os.path.join(bundle, BASELINE_FILE), "w") as f:
      json.dump(baseline, f, indent=1)
