"""AutoGraph must not rewrite library code that already runs as a graph: tf-keras and
tf.Transform.

tf-keras is Keras 2 under a new package name, and TensorFlow 2.16's AutoGraph only knows the old
one: its conversion rules skip `keras` (code written to run as a graph as it is) but not
`tf_keras`, so every `tf.function` that calls a tf-keras model (Keras's train and predict
functions, serving signatures) has AutoGraph transpile Keras's internals, layer by layer, on
every trace. Measured here: tracing the GAN's `train_step` took 64 s under cProfile, 4.8 s with
the rule (later steps 90 ms either way).

tf.Transform's layer that applies the transform graph (in every serving signature and some
trainers' inputs) was transpiled the same way: py-spy found AutoGraph converting its
`_apply_v2_transform_model` and `_get_missing_inputs` on the Trainer's serving export; tf.Transform
traces its own functions with `autograph=False`. Measured on the toy DAG in a fresh process, side
by side: Trainer 8.2-9.0 s -> 5.8-6.0 s.

`skip_library_code` adds the missing rules, once per process; user code (a model's `call`, a
custom `train_step`, a task's serving function) is still converted.
"""

from __future__ import annotations

LIBRARIES = ("tf_keras", "tensorflow_transform")


def skip_library_code() -> None:
  """Adds "do not convert" rules for `LIBRARIES` to AutoGraph's conversion rules (idempotent)."""
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  for module in LIBRARIES:
    if not any(isinstance(r, config.DoNotConvert) and r.matches(module)
               for r in config.CONVERSION_RULES):
      config.CONVERSION_RULES = (config.DoNotConvert(module), *config.CONVERSION_RULES)
