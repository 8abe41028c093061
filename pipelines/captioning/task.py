"""The image-captioning task: what generic components and the CLI ask of it."""

from __future__ import annotations

from typing import Any, Mapping

from components.common import contract
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.captioning import config
from pipelines.captioning import edge

# The embedded default: 1,500 seeded 32 px scenes of real digits on real photos, 4 captions each.
DEFAULT_SCENES = 1500


def default_data(out_dir: str) -> str:
  return datasets.write_digit_captions(out_dir, DEFAULT_SCENES)


def describe(prediction: Mapping[str, Any]) -> str:
  """'"a small seven to the left of a large three" (log p -1.23)'."""
  return f"\"{prediction['caption']}\" (log p {prediction['log_prob']:.2f})"


TASK = tasks.register(Task(
    name="captioning",
    module=__name__,
    summary="image captioning: CNN encoder + attention LSTM decoder, beam search in the "
            "serving graph, BLEU-4 / CIDEr-D gate",
    config=config.CaptioningConfig,
    load_config=config.load,
    pipeline="pipelines.captioning.pipeline.create_pipeline",
    preprocessing_fn="pipelines.captioning.transform.preprocessing_fn",
    run_fn="pipelines.captioning.model.run_fn",
    serving_module="pipelines.captioning.model.CaptionServingModule",
    trainer_sections=("image", "text", "train", "decode"),
    features={**contract.IMAGE_FEATURES, "captions": "bytes"},
    readers=("coco_captions", "caption_csv"),
    default_data=default_data,
    serving=ServingContract(
        outputs=("caption", "tokens", "attention", "log_prob", "length"), compare="log_prob",
        atol=1e-3, describe=describe),
    edge=EdgeContract(quality=edge.bleu_of_ids, quality_metric="bleu4",
                      agreement_metric="caption_agreement_with_keras",
                      labels="captions_xf", edge_model=edge.parts, run_parts=edge.greedy_ids,
                      keras_modules=("pipelines.captioning.layers",), int8_float_outputs=True),
    evaluation=Evaluation(node="CaptionEvaluator",
                          component="components.caption_eval.component.CaptionEvaluator"),
    report_sections=("pipelines.captioning.report.caption_attention",),
))
