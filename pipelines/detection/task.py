"""The object-detection task: what generic components and the CLI ask of it."""

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
from pipelines.detection import config

# The embedded default: 1,500 seeded 64 px scenes of 1-3 real digits (13-29 px) on real photos,
# written as PNGs + COCO JSON.
DEFAULT_SCENES = 1500
DEFAULT_SIZE = 64
DEFAULT_SCALE = (0.2, 0.45)


def default_data(out_dir: str) -> str:
  return datasets.write_digit_scenes(out_dir, DEFAULT_SCENES, DEFAULT_SIZE,
                                     scale=DEFAULT_SCALE)


def describe(prediction: dict) -> str:
  """"3 detections >= 0.3: 7 (0.98) at [0.1, 0.2, 0.4, 0.5], ..."."""
  n = int(round(float(np.asarray(prediction["num_detections"]))))
  names = prediction["detection_class_names"][:n]
  scores = np.asarray(prediction["detection_scores"])[:n]
  boxes = np.asarray(prediction["detection_boxes"])[:n]
  shown = [f"{names[i]} ({scores[i]:.2f}) at [{', '.join(f'{v:.2f}' for v in boxes[i])}]"
           for i in range(n) if scores[i] >= 0.3][:5]
  return f"{len([s for s in scores if s >= 0.3])} detections >= 0.3" + (
      ": " + ", ".join(shown) if shown else "")


def edge_model(model, metadata: dict):
  from pipelines.detection import model as detection_model  # pylint: disable=g-import-not-at-top
  return detection_model.edge_model(model, metadata)


TASK = tasks.register(Task(
    name="detection",
    module=__name__,
    summary="object detection: single-stage anchors + focal loss, NMS in the graph, COCO AP gate",
    config=config.DetectionConfig,
    load_config=config.load,
    pipeline="pipelines.detection.pipeline.create_pipeline",
    preprocessing_fn="pipelines.detection.transform.preprocessing_fn",
    run_fn="pipelines.detection.model.run_fn",
    serving_module="pipelines.detection.model.DetectionServingModule",
    trainer_sections=("image", "train", "postprocess"),
    features={**contract.IMAGE_FEATURES, "boxes": "float", "box_classes": "int64",
              "classes": "bytes"},
    readers=("coco_json", "voc_xml"),
    default_data=default_data,
    serving=ServingContract(
        outputs=("detection_boxes", "detection_scores", "detection_classes",
                 "detection_class_names", "num_detections"),
        compare="detection_scores", describe=describe),
    edge=EdgeContract(quality=edge_quality.detections, quality_metric="ap50",
                      agreement_metric="detection_agreement_with_keras", labels="boxes_xf",
                      edge_model=edge_model, int8_float_outputs=True),
    evaluation=Evaluation(node="DetectionEvaluator",
                          component="components.box_eval.component.DetectionEvaluator"),
))
