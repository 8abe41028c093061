"""The semantic-segmentation task: what generic components and the CLI ask of it."""

from __future__ import annotations

import numpy as np

from components.common import contract
from components.common import edge_quality
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.segmentation import config

# The embedded default: 1,200 seeded 32 px scenes of real digits on real photos.
DEFAULT_SCENES = 1200
DEFAULT_SIZE = 32


def default_data(out_dir: str) -> str:
  return datasets.write_digit_scenes(out_dir, DEFAULT_SCENES, DEFAULT_SIZE)


def describe(prediction: dict) -> str:
  """"48x48 mask: 7 (9%), 3 (6%)": the non-background classes by share of pixels."""
  ids = np.asarray(prediction["class_ids"])
  names = prediction["classes"]
  counts = np.bincount(ids.reshape(-1), minlength=len(names))
  shown = [f"{names[i]} ({counts[i] / ids.size:.0%})"
           for i in np.argsort(-counts) if i > 0 and counts[i] > 0][:5]
  return f"{ids.shape[1]}x{ids.shape[0]} mask: " + (", ".join(shown) or "background only")


TASK = tasks.register(Task(
    name="segmentation",
    module=__name__,
    summary="semantic segmentation: U-Net or FCN, cross-entropy + Dice, mean-IoU gate",
    config=config.SegmentationConfig,
    load_config=config.load,
    pipeline="pipelines.segmentation.pipeline.create_pipeline",
    preprocessing_fn="pipelines.segmentation.transform.preprocessing_fn",
    run_fn="pipelines.segmentation.model.run_fn",
    serving_module="pipelines.segmentation.model.SegmentationServingModule",
    trainer_sections=("image", "train"),
    features={**contract.IMAGE_FEATURES, "mask": "bytes", "classes": "bytes"},
    readers=("mask_pairs", "coco_masks"),
    default_data=default_data,
    serving=ServingContract(outputs=("class_ids", "probabilities", "classes"),
                            compare="probabilities", describe=describe),
    edge=EdgeContract(quality=edge_quality.mask_scores, quality_metric="miou",
                      agreement_metric="pixel_agreement_with_keras", labels="mask_xf"),
    evaluation=Evaluation(node="SegmentationEvaluator",
                          component="components.mask_eval.component.SegmentationEvaluator"),
))
