"""Typed configuration of the object-detection pipeline.

Defaults are the embedded digit-scenes run; `--config` overrides any key, and unknown keys are an
error. Infrastructure lives in `pipelines.infra.InfraConfig`, not here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import AnnotatedDataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig


# A COCO file (or a folder with annotations.json) or a Pascal VOC folder; empty: the embedded
# digit scenes. Images without any box are negatives by default.
DetectionDataConfig = AnnotatedDataConfig


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
  # Feature-map strides the heads run on (each a power of two the backbone reaches).
  strides: tuple[int, ...] = (8, 16)
  # Anchor side = size x stride x scale, for every scale and aspect ratio (width / height).
  size: float = 2.0
  scales: tuple[float, ...] = (1.0, 1.5)
  aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
  positive_iou: float = 0.5
  negative_iou: float = 0.4

  def validate(self) -> None:
    if not self.strides or any(s < 2 or s & (s - 1) for s in self.strides):
      raise ValueError(f"anchor strides must be powers of two >= 2, got {self.strides}")
    if list(self.strides) != sorted(set(self.strides)):
      raise ValueError(f"anchor strides must increase, got {self.strides}")
    if self.size <= 0 or not self.scales or not self.aspect_ratios or min(
        *self.scales, *self.aspect_ratios) <= 0:
      raise ValueError("anchor size, scales and aspect ratios must be positive")
    if not 0 < self.negative_iou <= self.positive_iou <= 1:
      raise ValueError("need 0 < negative_iou <= positive_iou <= 1")


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
  # Inside the served and edge graphs: a low threshold and 100 detections per image, as COCO
  # evaluation expects; clients filter by score.
  score_threshold: float = 0.05
  iou_threshold: float = 0.5
  max_detections: int = 100
  pre_nms_top_k: int = 300

  def validate(self) -> None:
    if not 0 <= self.score_threshold < 1 or not 0 < self.iou_threshold <= 1:
      raise ValueError("score_threshold must be in [0, 1) and iou_threshold in (0, 1]")
    if self.max_detections < 1 or self.pre_nms_top_k < self.max_detections:
      raise ValueError("need 1 <= max_detections <= pre_nms_top_k")


@dataclasses.dataclass(frozen=True)
class DetectionAugmentConfig:
  # Boxes move with the image: a random crop window resized back to the input size (zoom: its
  # side varies log-uniformly in [1 / (1 + zoom), 1 + zoom] of the image; shift: its centre moves
  # up to this fraction of the image; zero outside the image; a box with under half its area
  # left inside is dropped for that step), optional horizontal flips (off: digits are not
  # mirror-symmetric), and colour jitter of this strength (brightness, contrast, saturation,
  # hue).
  shift: float = 0.15
  zoom: float = 0.0
  flip: bool = False
  colour: float = 0.0

  def validate(self) -> None:
    if not 0 <= self.shift < 0.5 or not 0 <= self.zoom <= 1 or not 0 <= self.colour < 1:
      raise ValueError("augment: need 0 <= shift < 0.5, 0 <= zoom <= 1 and 0 <= colour < 1")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  backbone: Literal["small", "mobilenet_v2"] = "small"
  width: int = 32  # small backbone: filters of the first stage (doubled per stage); head width x2
  mobilenet_alpha: float = 0.35
  epochs: int = 40
  batch_size: int = 32
  learning_rate: float = 3e-3
  lr_schedule: Literal["plateau", "cosine", "constant"] = "cosine"
  early_stopping_patience: int = 0  # 0: off (the cosine schedule ends the run)
  reduce_lr_patience: int = 2
  # Focal loss. RetinaNet's (alpha 0.25, gamma 2) learns these small data sets slowly: on 1,200
  # digit scenes (64 px, 40 epochs, same model, outside the DAG) COCO AP50 was 0.43 at gamma 2,
  # 0.52 at 1.5, 0.59 at 1, 0.61 at 0.5, and 0.62 at gamma 1 with alpha 0.5 (the pair the
  # RetinaNet paper's grid also pairs); 60 epochs at gamma 1 reached 0.69.
  focal_alpha: float = 0.5
  focal_gamma: float = 1.0
  box_loss_weight: float = 1.0
  # 0: from the steps per epoch (`pipelines.vision.training.batch_norm_momentum`).
  batch_norm_momentum: float = 0.0
  anchors: AnchorConfig = dataclasses.field(default_factory=AnchorConfig)
  augment: DetectionAugmentConfig = dataclasses.field(default_factory=DetectionAugmentConfig)
  seed: int = 42

  def validate(self) -> None:
    if self.epochs < 1 or self.batch_size < 1 or self.width < 4:
      raise ValueError("epochs and batch_size must be >= 1 and width >= 4")
    if self.learning_rate < 0 or self.focal_gamma < 0 or not 0 < self.focal_alpha < 1:
      raise ValueError("learning_rate, focal_gamma >= 0 and focal_alpha in (0, 1)")
    if not 0 <= self.batch_norm_momentum < 1:
      raise ValueError(f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum}")
    if self.backbone == "small" and max(self.anchors.strides) > 32:
      raise ValueError("the small backbone reaches stride 32 at most")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  # Blessing gate on COCO metrics of the eval split: lower bounds on AP50 and AP@[.5:.95] (floors
  # that catch a broken model; the default digit scenes reach AP50 ~0.64, AP ~0.42, see README)
  ap50_lower_bound: float = 0.4
  ap_lower_bound: float = 0.2
  # ... and AP may not be more than this below the latest blessed model's (absolute).
  max_ap_drop: float = 0.0

  def validate(self) -> None:
    for name in ("ap50_lower_bound", "ap_lower_bound"):
      if not 0 <= getattr(self, name) <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
    if self.max_ap_drop < 0:
      raise ValueError(f"max_ap_drop must be >= 0, got {self.max_ap_drop}")


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
  model_name: str = "detector"  # the TF Serving model name: <serving>/<model_name>/<version>/
  data: DetectionDataConfig = dataclasses.field(default_factory=DetectionDataConfig)
  image: ImageConfig = dataclasses.field(default_factory=lambda: ImageConfig(64, 64, 3))
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  postprocess: PostprocessConfig = dataclasses.field(default_factory=PostprocessConfig)
  evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
  # The int8 gate is on AP50 (edge quality metric).
  export: ExportConfig = dataclasses.field(
      default_factory=lambda: ExportConfig(int8_max_quality_drop=0.02))

  def validate(self) -> None:
    check_model_name(self.model_name)
    top = max(self.train.anchors.strides)
    if self.image.height % top or self.image.width % top:
      raise ValueError(f"image size {self.image.height}x{self.image.width} must be divisible by "
                       f"the largest anchor stride {top}")


@dataclasses.dataclass(frozen=True)
class DetectionRun:
  """A whole YAML config file: the task section plus `infra:`."""
  detection: DetectionConfig = dataclasses.field(default_factory=DetectionConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> DetectionRun:
  """Loads a detection run config: defaults < YAML file < overrides."""
  return config_loader.load(DetectionRun, path, overrides)
