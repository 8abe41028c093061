"""The captioner's one custom Keras layer, registered so saved models load wherever the task is
imported (the edge export loads the Keras bundle after importing the task)."""

from __future__ import annotations

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
