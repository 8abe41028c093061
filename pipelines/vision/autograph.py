"""AutoGraph must not rewrite tf-keras's own code.

tf-keras is Keras 2 under a new package name, and TensorFlow 2.16's AutoGraph only knows the old
one: its conversion rules skip `keras` (code written to run as a graph as it is) but not
`tf_keras`, so every `tf.function` that calls a tf-keras model (Keras's train and predict
functions, serving signatures) has AutoGraph transpile Keras's internals, layer by layer, on
every trace. Measured here: tracing the GAN's `train_step` took 64 s under cProfile, 4.8 s with
the rule (later steps 90 ms either way). `skip_tf_keras` adds the missing rule, once per process;
user code (a model's `call`, a custom `train_step`) is still converted.
"""

from __future__ import annotations


def skip_tf_keras() -> None:
  """Adds "do not convert tf_keras" to AutoGraph's conversion rules (idempotent)."""
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  rule = config.DoNotConvert("tf_keras")
  if not any(isinstance(r, config.DoNotConvert) and r.matches("tf_keras")
             for r in config.CONVERSION_RULES):
    config.CONVERSION_RULES = (rule, *config.CONVERSION_RULES)
