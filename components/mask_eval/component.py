"""SegmentationEvaluator: the blessing gate of semantic-segmentation models (mean IoU).

Writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`, with IoU per
class as slices and an overlays figure) and a standard `ModelBlessing` the Pusher checks.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.common import outcome
from components.image_ingest import ingest
from components.mask_eval import evaluate


@component
def SegmentationEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    miou_lower_bound: Parameter[float] = 0.5,
    max_miou_drop: Parameter[float] = 0.0,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a model whose eval mIoU meets the lower bound and is at most `max_miou_drop` below
  the latest blessed model's (`baseline_model`, when there is one)."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval")
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, [r[0] for r in rows], out, miou_lower_bound, max_miou_drop),
      model, baseline_model, evaluation, blessing)
