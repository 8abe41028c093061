"""RetrievalEvaluator and VerificationEvaluator: the blessing gates of embedding models.

Both write a `ModelEvaluation` (`{uri}/evaluation.json` + figures: the evaluation outcome of
`components/common/outcome.py`) and a standard `ModelBlessing` (`BLESSED` / `NOT_BLESSED` file,
custom property `blessed`), which TFX's Pusher checks. Lower bounds arrive as a typed parameter
{metric name: bound}.
"""

import os
from typing import Dict

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import outcome
from components.embedding_eval import retrieval
from components.embedding_eval import verification
from components.common import keras_bundle
from components.image_ingest import ingest


@component
def RetrievalEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    k: Parameter[int] = 10,
    lower_bounds: Parameter[Dict[str, float]] = None,
    max_queries: Parameter[int] = -1,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses an indexed model only if every configured metric meets its lower bound."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval", max_queries)
  outcome.publish(lambda out: retrieval.evaluate(
      path_utils.serving_model_path(model.uri), os.path.join(model.uri, keras_bundle.KERAS_DIR), rows,
      out, k=k, lower_bounds=lower_bounds or {}), evaluation, blessing)


@component
def VerificationEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    far: Parameter[float] = 1e-3,
    max_positive_pairs: Parameter[int] = 3000,
    max_negative_pairs: Parameter[int] = 30000,
    lower_bounds: Parameter[Dict[str, float]] = None,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a verification model only if every configured metric meets its lower bound."""
  del code_version
  rows = ingest.read_examples(examples.uri, "eval")
  outcome.publish(lambda out: verification.evaluate(
      path_utils.serving_model_path(model.uri), os.path.join(model.uri, keras_bundle.KERAS_DIR), rows,
      out, far=far, max_positive=max_positive_pairs, max_negative=max_negative_pairs,
      lower_bounds=lower_bounds or {}), evaluation, blessing)
