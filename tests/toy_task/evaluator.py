"""The toy task's own evaluator: mean absolute brightness error on the eval split, gated by an
upper bound, written in the one evaluation outcome format."""


import numpy as np
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import outcome
from components.image_ingest import ingest


def brightness_error(serving_model_dir: str, serialized: list[bytes]) -> tuple[np.ndarray, ...]:
  """(predicted, true) brightness of serialized eval examples, through the served signatures."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(serving_model_dir)
  examples = tf.constant(serialized)
  predicted = loaded.signatures["serving_examples"](examples)["brightness"].numpy()
  images = loaded.signatures["transform_features"](examples)["image_xf"].numpy()
  return predicted, images.mean(axis=(1, 2, 3))


@tfx.dsl.components.component
def BrightnessEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    max_mae: tfx.dsl.components.Parameter[float] = 0.05,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  del code_version
  rows = ingest.read_examples(examples.uri, "eval")
  predicted, true = brightness_error(path_utils.serving_model_path(model.uri),
                                     [r[0] for r in rows])
  mae = float(np.abs(predicted - true).mean())
  ok = mae <= max_mae
  outcome.publish(lambda _: outcome.new(
      "Brightness", {"mae": mae, "examples": float(len(rows))},
      {"mae": {"upper_bound": max_mae, "value": mae, "ok": ok}},
      [] if ok else [f"mae = {mae:.4f} is above the upper bound {max_mae}"]), evaluation, blessing)
