"""Typed configuration of the semantic-segmentation pipeline.

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


@dataclasses.dataclass(frozen=True)
class SegmentationAugmentConfig:
  # Image and mask move together: flips and shifts apply the same draw to both (the mask is
  # shifted by whole pixels, so class ids stay exact). Flips are off by default: digits are not
  # mirror-symmetric. Shifts matter on the default scenes: without them mIoU fell from 0.28 to
  # 0.16 (1,000-1,200 scenes, measured).
  flip: bool = False
  shift: float = 0.1  # largest shift, as a fraction of the image size


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model: Literal["unet", "fcn"] = "unet"
  # U-Net: filters of the first level, doubled per level. 24 gave mIoU 0.648 against 0.584 (60
  # epochs, outside the DAG) at about twice the training time; 16 keeps the default run short.
  base_filters: int = 16
  depth: int = 3  # U-Net: down-sampling levels
  # 1: the network runs at the input size. 2 or 4: behind one strided conv (and its class scores
  # bilinearly up-sampled to the input size), for large inputs whose objects span many pixels:
  # at 128 px a depth-3 U-Net behind stride 2 trained 4.5x faster per image than depth 4 at
  # stride 1 (24 vs 107 ms, 2 cores).
  stem_stride: Literal[1, 2, 4] = 1
  # 1,200 digit scenes (32 px, outside the DAG, same model): mIoU 0.297 after 30 epochs, 0.584
  # after 60 (cosine to zero, no early stopping; 0.603 at learning rate 6e-3, 0.177 at 1e-3).
  epochs: int = 60
  batch_size: int = 32
  learning_rate: float = 3e-3
  # loss = cross-entropy + dice_weight * (1 - soft Dice averaged over classes). Measured on
  # 1,200 digit scenes (32 px, 30 epochs, in memory): Dice weight 1 gave mIoU 0.385,
  # cross-entropy alone 0.447; in the default DAG 0.25 gave 0.28 and 0.1 gave 0.20. So the
  # default is cross-entropy alone; raise it for rare classes on longer schedules.
  dice_weight: float = 0.0
  early_stopping_patience: int = 0  # 0: off (the cosine schedule ends the run)
  lr_schedule: Literal["plateau", "cosine", "constant"] = "cosine"
  reduce_lr_patience: int = 2
  # 0: from the steps per epoch (`pipelines.vision.training.batch_norm_momentum`).
  batch_norm_momentum: float = 0.0
  augment: SegmentationAugmentConfig = dataclasses.field(
      default_factory=SegmentationAugmentConfig)
  seed: int = 42

  def validate(self) -> None:
    if self.epochs < 1 or self.batch_size < 1 or self.base_filters < 1 or self.depth < 1:
      raise ValueError("epochs, batch_size, base_filters and depth must be >= 1")
    if self.learning_rate < 0 or self.dice_weight < 0:
      raise ValueError("learning_rate and dice_weight must be >= 0")
    if not 0 <= self.batch_norm_momentum < 1:
      raise ValueError(f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum}")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  # Blessing gate: the candidate needs at least this mean IoU on eval (a floor that catches a
  # broken model; the default digit scenes reach about 0.4, see README) ...
  miou_lower_bound: float = 0.25
  # ... and may not be more than this below the latest blessed model's (absolute).
  max_miou_drop: float = 0.0

  def validate(self) -> None:
    if not 0 <= self.miou_lower_bound <= 1:
      raise ValueError(f"miou_lower_bound must be in [0, 1], got {self.miou_lower_bound}")
    if self.max_miou_drop < 0:
      raise ValueError(f"max_miou_drop must be >= 0, got {self.max_miou_drop}")


@dataclasses.dataclass(frozen=True)
class SegmentationConfig:
  model_name: str = "segmenter"  # the TF Serving model name: <serving>/<model_name>/<version>/
  # mask_pairs (or coco_masks) data; an image without a mask is quarantined by default (a mask
  # file missing is more often a mistake than a negative), or all background with
  # `unannotated: negative`.
  data: AnnotatedDataConfig = dataclasses.field(
      default_factory=lambda: AnnotatedDataConfig(unannotated="quarantine"))
  image: ImageConfig = dataclasses.field(default_factory=lambda: ImageConfig(32, 32, 3))
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
  export: ExportConfig = dataclasses.field(
      default_factory=lambda: ExportConfig(int8_max_quality_drop=0.02))

  def validate(self) -> None:
    check_model_name(self.model_name)
    factor = self.train.stem_stride * 2 ** self.train.depth
    if self.image.height % factor or self.image.width % factor:
      raise ValueError(f"image size {self.image.height}x{self.image.width} must be divisible by "
                       f"stem_stride x 2**depth = {factor}")


@dataclasses.dataclass(frozen=True)
class SegmentationRun:
  """A whole YAML config file: the task section plus `infra:`."""
  segmentation: SegmentationConfig = dataclasses.field(default_factory=SegmentationConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> SegmentationRun:
  """Loads a segmentation run config: defaults < YAML file < overrides."""
  return config_loader.load(SegmentationRun, path, overrides)
