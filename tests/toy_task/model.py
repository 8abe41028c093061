"""The toy task's Trainer: a linear model of the mean pixel value, served as `brightness`."""

from __future__ import annotations

import os

import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform
from tests.toy_task.config import ToyConfig


def build(image) -> keras.Model:
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  pooled = layers.GlobalAveragePooling2D()(inputs)
  return keras.Model(inputs, layers.Dense(1, name="brightness")(pooled), name="brightness")


class BrightnessServingModule(serving.ImageServingModule):

  def outputs(self, images):
    return {"brightness": self.model(images, training=False)[:, 0]}


@distribute.distributed
def run_fn(fn_args) -> None:
  cfg = config_loader.from_dict(ToyConfig, fn_args.custom_config["toy"])
  keras.utils.set_random_seed(0)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  shape = transform.image_shape(cfg.image)
  x, _ = transform.load_arrays(fn_args.train_files, fn_args.data_accessor, tft_output, shape)
  x_val, _ = transform.load_arrays(fn_args.eval_files, fn_args.data_accessor, tft_output, shape)
  model = build(cfg.image)
  model.compile(keras.optimizers.Adam(cfg.train.learning_rate), "mae")
  model.fit(x, x.mean(axis=(1, 2, 3)), validation_data=(x_val, x_val.mean(axis=(1, 2, 3))),
            epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, verbose=2,
            callbacks=training.callbacks(cfg.train.epochs, cfg.train.learning_rate, "constant",
                                         0, 1, fn_args.model_run_dir))
  BrightnessServingModule(model, tft_output).save(fn_args.serving_model_dir, task="toy")
  keras_bundle.write(model, transform.class_names(tft_output),
                     transform.preprocessing_metadata(cfg.image),
                     os.path.join(os.path.dirname(fn_args.serving_model_dir),
                                  keras_bundle.KERAS_DIR))
