"""RetrievalEvaluator and VerificationEvaluator: the blessing gates of embedding models.

Both write a `ModelEvaluation` (`{uri}/evaluation.json` + figures, see `outcome.py`) and a
standard `ModelBlessing` (`BLESSED` / `NOT_BLESSED` file, custom property `blessed`), which TFX's
Pusher checks. Lower bounds arrive as a JSON object {metric name: bound}.
"""

import json
import os

from absl import logging
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import artifact_io
from components.embedding_eval import outcome
from components.embedding_eval import retrieval
from components.embedding_eval import verification
from components.embedding_index import bundle
from components.image_ingest import ingest


def _finish(result: dict, evaluation, blessing) -> None:
  with artifact_io.local_output_dir(evaluation.uri) as ev, \
      artifact_io.local_output_dir(blessing.uri) as bl:
    outcome.write(ev, bl, result)
  blessing.set_int_custom_property("blessed", int(result["blessed"]))
  for name, value in result["metrics"].items():
    if isinstance(value, (int, float)):
      evaluation.set_float_custom_property(name, float(value))
  for f in result["failures"]:
    logging.warning("not blessed: %s", f)


@tfx.dsl.components.component
def RetrievalEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    k: tfx.dsl.components.Parameter[int] = 10,
    lower_bounds: tfx.dsl.components.Parameter[str] = "{}",
    max_queries: tfx.dsl.components.Parameter[int] = -1,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses an indexed model only if every configured metric meets its lower bound."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval", max_queries)
  serving_dir = path_utils.serving_model_path(model.uri)
  with artifact_io.local_output_dir(evaluation.uri) as out:
    result = retrieval.evaluate(serving_dir, os.path.join(model.uri, bundle.KERAS_DIR), rows,
                                out, k=k,
                                lower_bounds=json.loads(lower_bounds))
  _finish(result, evaluation, blessing)


@tfx.dsl.components.component
def VerificationEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    far: tfx.dsl.components.Parameter[float] = 1e-3,
    max_positive_pairs: tfx.dsl.components.Parameter[int] = 3000,
    max_negative_pairs: tfx.dsl.components.Parameter[int] = 30000,
    lower_bounds: tfx.dsl.components.Parameter[str] = "{}",
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses a verification model only if every configured metric meets its lower bound."""
  del code_version
  rows = ingest.read_examples(examples.uri, "eval")
  with artifact_io.local_output_dir(evaluation.uri) as out:
    result = verification.evaluate(
        path_utils.serving_model_path(model.uri), os.path.join(model.uri, bundle.KERAS_DIR),
        rows, out, far=far, max_positive=max_positive_pairs, max_negative=max_negative_pairs,
        lower_bounds=json.loads(lower_bounds))
  _finish(result, evaluation, blessing)
