"""AutoGraph leaves tf-keras's and tf.Transform's code as it is and still converts ours."""

import tensorflow as tf
import tf_keras as keras
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion
from tensorflow_transform.saved import saved_transform_io_v2

from pipelines.vision import autograph


def _ours(x):
  if x > 0:  # a tensor condition: only runs in a graph once AutoGraph converts it
    return x
  return -x


def test_library_code_is_left_alone_and_user_code_is_converted():
  autograph.skip_library_code()
  autograph.skip_library_code()
  for module in autograph.LIBRARIES:
    assert sum(isinstance(r, config.DoNotConvert) and r.matches(module)
               for r in config.CONVERSION_RULES) == 1, module
  assert conversion.is_allowlisted(saved_transform_io_v2.SavedModelLoader._get_missing_inputs)
  assert conversion.is_allowlisted(keras.layers.Dense.call)
  assert not conversion.is_allowlisted(_ours)
  assert float(tf.function(_ours)(tf.constant(-2.0))) == 2.0
