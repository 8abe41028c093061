"""DetectionEvaluator: the blessing gate of object detectors (COCO AP50 and AP).

Writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`, with AP per
class as slices, a boxes figure and precision-recall curves) and a standard `ModelBlessing` the
Pusher checks.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.box_eval import evaluate
from components.common import keras_bundle
from components.common import outcome
from components.image_ingest import ingest


@component
def DetectionEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    ap50_lower_bound: Parameter[float] = 0.5,
    ap_lower_bound: Parameter[float] = 0.2,
    max_ap_drop: Parameter[float] = 0.0,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a model whose eval AP50 and AP meet their lower bounds and whose AP is at most
  `max_ap_drop` below the latest blessed model's (`baseline_model`, when there is one)."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval")
  names = keras_bundle.read_labels(keras_bundle.keras_dir(model.uri))
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, [r[0] for r in rows], names, out, ap50_lower_bound, ap_lower_bound,
      max_ap_drop), model, baseline_model, evaluation, blessing)
