"""SegmentationEvaluator: the blessing gate of semantic-segmentation models (mean IoU).

Writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`, with IoU per
class as slices and an overlays figure) and a standard `ModelBlessing` the Pusher checks.
"""

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.common import outcome
from components.image_ingest import ingest
from components.mask_eval import evaluate


@tfx.dsl.components.component
def SegmentationEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: tfx.dsl.components.InputArtifact[standard_artifacts.Model] = None,
    miou_lower_bound: tfx.dsl.components.Parameter[float] = 0.5,
    max_miou_drop: tfx.dsl.components.Parameter[float] = 0.0,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Blesses a model whose eval mIoU meets the lower bound and is at most `max_miou_drop` below
  the latest blessed model's (`baseline_model`, when there is one)."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, "eval")
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, [r[0] for r in rows], out, miou_lower_bound, max_miou_drop),
      model, baseline_model, evaluation, blessing)
