"""DetectionEvaluator: the blessing gate of object detectors (COCO AP50 and AP).

Writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`, with AP per
class as slices, a boxes figure and precision-recall curves) and a standard `ModelBlessing` the
Pusher checks.
"""

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.box_eval import evaluate
from components.common import keras_bundle
from components.common import outcome
from components.image_ingest import ingest


@tfx.dsl.components.component
def DetectionEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: tfx.dsl.components.InputArtifact[standard_artifacts.Model] = None,
    ap50_lower_bound: tfx.dsl.components.Parameter[float] = 0.5,
    ap_lower_bound: tfx.dsl.components.Parameter[float] = 0.2,
    max_ap_drop: tfx.dsl.components.Parameter[float] = 0.0,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses a model whose eval AP50 and AP meet their lower bounds and whose AP is at most
  `max_ap_drop` below the latest blessed model's (`baseline_model`, when there is one)."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval")
  names = keras_bundle.read_labels(keras_bundle.keras_dir(model.uri))
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, [r[0] for r in rows], names, out, ap50_lower_bound, ap_lower_bound,
      max_ap_drop), model, baseline_model, evaluation, blessing)
