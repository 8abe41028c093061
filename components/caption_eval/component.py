"""CaptionEvaluator: the blessing gate of image-captioning models (BLEU-4 and CIDEr-D).

Writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`, plus every
eval image's caption in `captions.jsonl`) and a standard `ModelBlessing` the Pusher checks.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.caption_eval import evaluate
from components.common import outcome
from components.image_ingest import ingest


@component
def CaptionEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    bleu4_lower_bound: Parameter[float] = 0.3,
    cider_d_lower_bound: Parameter[float] = 1.0,
    max_bleu4_drop: Parameter[float] = 0.0,
    max_cider_d_drop: Parameter[float] = 0.0,
    object_words: Parameter[str] = "",
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a model whose eval BLEU-4 and CIDEr-D meet their lower bounds and are at most the
  allowed drops below the latest blessed model's (`baseline_model`, when there is one).
  `object_words` (space-separated) are the words the object-mention F1 looks for."""
  del code_version  # keys TFX's cache to the code that runs here
  rows = [row for _, row in ingest.read_examples(examples.uri, "eval")]
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, rows, out, bleu4_lower_bound, cider_d_lower_bound, max_bleu4_drop,
      max_cider_d_drop, object_words.split()), model, baseline_model, evaluation, blessing)
