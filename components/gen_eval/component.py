"""The blessing gates of generative models, in the feature space of the model's own judge
classifier: GenerativeEvaluator (FID against the real-vs-real floor, conditional accuracy) and
TranslationEvaluator (PSNR against the true images, FID against the floor).

Each writes a `ModelEvaluation` (the evaluation outcome of `components/common/outcome.py`; the
generative one also the (label, seed) of every generated eval image in `generated.jsonl`) and a
standard `ModelBlessing` the Pusher checks.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.common import outcome
from components.gen_eval import evaluate
from components.image_ingest import ingest


@component
def GenerativeEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    max_fid_to_floor: Parameter[float] = 6.0,
    conditional_accuracy_lower_bound: Parameter[float] = 0.7,
    max_fid_to_floor_increase: Parameter[float] = 0.5,
    max_conditional_accuracy_drop: Parameter[float] = 0.02,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a generator whose FID / floor is at most `max_fid_to_floor` and whose conditional
  accuracy (conditional models) is at least its lower bound, neither worse than the latest
  blessed model's (`baseline_model`, when there is one) by more than the allowed margins."""
  del code_version  # keys TFX's cache to the code that runs here
  eval_rows = ingest.read_examples(examples.uri, "eval")
  train_rows = ingest.read_examples(examples.uri, "train")
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate(
      candidate, baseline, eval_rows, train_rows, out, max_fid_to_floor,
      conditional_accuracy_lower_bound, max_fid_to_floor_increase,
      max_conditional_accuracy_drop), model, baseline_model, evaluation, blessing)


@component
def TranslationEvaluator(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    psnr_lower_bound: Parameter[float] = 14.0,
    max_fid_to_floor: Parameter[float] = 8.0,
    max_psnr_drop: Parameter[float] = 0.5,
    max_fid_to_floor_increase: Parameter[float] = 0.5,
    code_version: Parameter[str] = "",
) -> None:
  """Blesses a translator whose eval PSNR (translations of the eval images' conditions against
  the images) is at least `psnr_lower_bound` and whose FID / floor is at most
  `max_fid_to_floor`, neither worse than the latest blessed model's by more than the margins."""
  del code_version  # keys TFX's cache to the code that runs here
  eval_rows = ingest.read_examples(examples.uri, "eval")
  train_rows = ingest.read_examples(examples.uri, "train")
  outcome.publish_against_baseline(lambda candidate, baseline, out: evaluate.evaluate_translation(
      candidate, baseline, eval_rows, train_rows, out, psnr_lower_bound, max_fid_to_floor,
      max_psnr_drop, max_fid_to_floor_increase), model, baseline_model, evaluation, blessing)
