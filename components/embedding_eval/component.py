"""RetrievalEvaluator and VerificationEvaluator: the blessing gates of embedding models.

Both write a `ModelEvaluation` (`{uri}/evaluation.json` + figures: the evaluation outcome of
`components/common/outcome.py`) and a standard `ModelBlessing` (`BLESSED` / `NOT_BLESSED` file,
custom property `blessed`), which TFX's Pusher checks. Lower bounds arrive as a typed parameter
{metric name: bound}.
"""

import os
from typing import Dict

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import outcome
from components.embedding_eval import retrieval
from components.embedding_eval import verification
from components.common import keras_bundle
from components.image_ingest import ingest


@tfx.dsl.components.component
def RetrievalEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    k: tfx.dsl.components.Parameter[int] = 10,
    lower_bounds: tfx.dsl.components.Parameter[Dict[str, float]] = None,
    max_queries: tfx.dsl.components.Parameter[int] = -1,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses an indexed model only if every configured metric meets its lower bound."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval", max_queries)
  outcome.publish(lambda out: retrieval.evaluate(
      path_utils.serving_model_path(model.uri), os.path.join(model.uri, keras_bundle.KERAS_DIR), rows,
      out, k=k, lower_bounds=lower_bounds or {}), evaluation, blessing)


@tfx.dsl.components.component
def VerificationEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    far: tfx.dsl.components.Parameter[float] = 1e-3,
    max_positive_pairs: tfx.dsl.components.Parameter[int] = 3000,
    max_negative_pairs: tfx.dsl.components.Parameter[int] = 30000,
    lower_bounds: tfx.dsl.components.Parameter[Dict[str, float]] = None,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses a verification model only if every configured metric meets its lower bound."""
  del code_version
  rows = ingest.read_examples(examples.uri, "eval")
  outcome.publish(lambda out: verification.evaluate(
      path_utils.serving_model_path(model.uri), os.path.join(model.uri, keras_bundle.KERAS_DIR), rows,
      out, far=far, max_positive=max_positive_pairs, max_negative=max_negative_pairs,
      lower_bounds=lower_bounds or {}), evaluation, blessing)
