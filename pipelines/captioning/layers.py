"""The captioner's custom Keras layers, registered so saved models load wherever the task is
imported (the edge export loads the Keras bundle after importing the task)."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable(package="cvpipe_captioning")
class GridPositions(keras.layers.Layer):
  """Adds a learned vector per position of a feature grid [N, P, D]: where a feature sits
  (left, right, top, bottom) becomes part of what attention reads. TFLite/ONNX: one add."""

  def build(self, input_shape):
    self.positions = self.add_weight(name="positions", shape=tuple(input_shape[1:]),
                                     initializer=keras.initializers.RandomNormal(stddev=0.1))
    super().build(input_shape)

  def call(self, features):
    return features + self.positions


@keras.utils.register_keras_serializable(package="cvpipe_captioning")
class RepeatRows(keras.layers.Layer):
  """[N, ...] -> [N * times, ...], each row `times` times in a row: every caption of an image
  reads the image's one encoding."""

  def __init__(self, times: int, **kwargs):
    super().__init__(**kwargs)
    self.times = times

  def call(self, x):
    return tf.repeat(x, self.times, axis=0)

  def get_config(self):
    return {**super().get_config(), "times": self.times}


@keras.utils.register_keras_serializable(package="cvpipe_captioning")
class FoldRows(keras.layers.Layer):
  """[N, K, ...] -> [N * K, ...] (`unfold`: False) or back (`unfold`: True, K = `rows`)."""

  def __init__(self, rows: int, unfold: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.rows, self.unfold = rows, unfold

  def call(self, x):
    shape = tf.shape(x)
    if self.unfold:
      return tf.reshape(x, tf.concat([[-1, self.rows], shape[1:]], 0))
    return tf.reshape(x, tf.concat([[-1], shape[2:]], 0))

  def compute_output_shape(self, input_shape):
    if self.unfold:
      return tf.TensorShape([None, self.rows, *input_shape[1:]])
    return tf.TensorShape([None, *input_shape[2:]])

  def get_config(self):
    return {**super().get_config(), "rows": self.rows, "unfold": self.unfold}
