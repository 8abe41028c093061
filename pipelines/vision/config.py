"""Configuration sections shared by every image task: data source, input image, augmentation,
edge export. Each task's frozen config composes them; hyperparameters stay per task."""

from __future__ import annotations

import dataclasses
from typing import Literal


def check_model_name(name: str) -> None:
  """A TF Serving model name: the pushed models go to <serving_dir>/<name>/<version>/."""
  if not name or "/" in name:
    raise ValueError(f"model_name must be a non-empty name without '/', got {name!r}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  # Folder with one sub-folder per class, or a CSV manifest (path,label[,split]); local or gs://.
  # Empty: the embedded default (scikit-learn's digits written as PNG files).
  source: str = ""
  # Allowed class names. Empty: the sub-folders (folder mode) or the manifest's labels.
  labels: tuple[str, ...] = ()
  # Percent of examples hashed into the train split; the rest is eval.
  train_percent: int = 80
  # Images larger than this are quarantined instead of ingested.
  max_file_bytes: int = 20 * 1024 * 1024
  max_pixels: int = 40_000_000
  # The ingest reader (`components/image_ingest/readers.py`); empty: the first of the task's
  # readers that accepts the source (remote sources get the task's first reader unprobed).
  reader: str = ""

  def validate(self) -> None:
    if not 1 <= self.train_percent <= 99:
      raise ValueError(f"train_percent must be in [1, 99], got {self.train_percent}")
    if self.max_file_bytes <= 0 or self.max_pixels <= 0:
      raise ValueError("max_file_bytes and max_pixels must be positive")
    if len(set(self.labels)) != len(self.labels):
      raise ValueError(f"labels has duplicates: {list(self.labels)}")


@dataclasses.dataclass(frozen=True)
class AnnotatedDataConfig(DataConfig):
  """Data whose images carry annotations (boxes, masks)."""
  # Images without annotation (no box; no mask file) are kept as negatives (all background: they
  # teach the background) or quarantined with the reason.
  unannotated: Literal["negative", "quarantine"] = "negative"


@dataclasses.dataclass(frozen=True)
class ImageConfig:
  height: int = 32
  width: int = 32
  channels: Literal[1, 3] = 1

  def validate(self) -> None:
    if self.height < 8 or self.width < 8:
      raise ValueError(f"image size must be at least 8x8, got {self.height}x{self.width}")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  flip: bool = False  # horizontal flips; off by default: digits are not mirror-symmetric
  rotation: float = 0.05  # fraction of a full turn
  zoom: float = 0.1
  contrast: float = 0.1


@dataclasses.dataclass(frozen=True)
class AccuracyGateConfig:
  """The blessing gate of classifiers (images, videos) on TFMA accuracy."""
  # Blessing gate: the candidate needs at least this accuracy on eval ...
  accuracy_lower_bound: float = 0.8
  # ... and may not be worse than the latest blessed model by more than this (absolute).
  max_accuracy_drop: float = 0.0

  def validate(self) -> None:
    if not 0 <= self.accuracy_lower_bound <= 1:
      raise ValueError(f"accuracy_lower_bound must be in [0, 1], got {self.accuracy_lower_bound}")
    if self.max_accuracy_drop < 0:
      raise ValueError(f"max_accuracy_drop must be >= 0, got {self.max_accuracy_drop}")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  # The int8 TFLite model is blessed for edge only within this margin of the float model on the
  # task's edge quality metric (classification: accuracy; embeddings: precision@k).
  int8_max_quality_drop: float = 0.01
  # Eval examples used as representative data for full-integer quantization.
  representative_examples: int = 200
  onnx_opset: int = 15


@dataclasses.dataclass(frozen=True)
class MetricLearningConfig:
  """Training of an embedding network with a metric-learning loss on P x K batches."""
  loss: Literal["contrastive", "triplet"] = "triplet"
  # Distances are between unit vectors (0..2): contrastive pushes negatives beyond the margin,
  # triplet wants d(a, n) >= d(a, p) + margin.
  margin: float = 0.5
  embedding_dim: int = 64
  classes_per_batch: int = 8  # P
  examples_per_class: int = 4  # K
  epochs: int = 30
  learning_rate: float = 1e-3
  early_stopping_patience: int = 5
  lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
  reduce_lr_patience: int = 2
  augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
  seed: int = 42

  def validate(self) -> None:
    if self.margin <= 0:
      raise ValueError(f"margin must be > 0, got {self.margin}")
    if self.classes_per_batch < 2 or self.examples_per_class < 2:
      raise ValueError("classes_per_batch and examples_per_class must be >= 2 (positives and "
                       "negatives in every batch)")
    if self.embedding_dim < 2 or self.epochs < 1 or self.learning_rate < 0:
      raise ValueError("embedding_dim >= 2, epochs >= 1 and learning_rate >= 0 are required")
