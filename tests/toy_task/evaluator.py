"""The toy task's own evaluator: mean absolute brightness error on the eval split, gated by an
upper bound, written in the one evaluation outcome format."""


import numpy as np
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
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


@component
def BrightnessEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    max_mae: Parameter[float] = 0.05,
    code_version: Parameter[str] = "",
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
