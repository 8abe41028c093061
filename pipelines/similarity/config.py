"""Typed configuration of the similarity-learning (verification) pipeline: Siamese/contrastive or
triplet embeddings, optionally on faces detected and aligned with MTCNN.

Defaults are the embedded digits run; `--config` YAML overrides any key (unknown keys are an
error). Infrastructure lives in `pipelines.infra.InfraConfig`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import DataConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig
from pipelines.vision.config import MetricLearningConfig


@dataclasses.dataclass(frozen=True)
class FaceConfig:
  """Face mode: identity folders (one per person, LFW layout); ingest detects and aligns faces."""
  enabled: bool = False
  min_confidence: float = 0.9  # MTCNN detections below this do not count as faces
  # Aligned crop: eyes levelled, face box grown by this fraction on each side, then squared.
  margin: float = 0.2
  crop_size: int = 112  # side of the aligned face image written to the examples

  def validate(self) -> None:
    if not 0 < self.min_confidence <= 1:
      raise ValueError(f"min_confidence must be in (0, 1], got {self.min_confidence}")
    if self.margin < 0 or self.crop_size < 16:
      raise ValueError("margin must be >= 0 and crop_size >= 16")


@dataclasses.dataclass(frozen=True)
class VerificationConfig:
  far: float = 1e-3  # TAR is reported at this false accept rate where the pair count allows
  max_positive_pairs: int = 3000
  max_negative_pairs: int = 30000
  # Blessing gate on held-out pairs.
  min_roc_auc: float = 0.9
  min_accuracy: float = 0.8  # at the threshold exported with the model

  def lower_bounds(self) -> dict[str, float]:
    return {"roc_auc": self.min_roc_auc, "accuracy": self.min_accuracy}


@dataclasses.dataclass(frozen=True)
class SimilarityConfig:
  model_name: str = "similarity"
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  image: ImageConfig = dataclasses.field(default_factory=ImageConfig)
  faces: FaceConfig = dataclasses.field(default_factory=FaceConfig)
  # file: a hash of each path picks its split, so eval pairs are new images of identities seen in
  # training (closed set); label: whole identities are held out (open set, the LFW protocol).
  split_by: Literal["file", "label"] = "file"
  # contrastive: the Siamese network (shared weights, every in-batch pair); triplet: semi-hard.
  train: MetricLearningConfig = dataclasses.field(
      default_factory=lambda: MetricLearningConfig(loss="contrastive", margin=1.0))
  evaluation: VerificationConfig = dataclasses.field(default_factory=VerificationConfig)
  export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

  def validate(self) -> None:
    check_model_name(self.model_name)


@dataclasses.dataclass(frozen=True)
class SimilarityRun:
  """A whole YAML config file: the task section plus `infra:`."""
  similarity: SimilarityConfig = dataclasses.field(default_factory=SimilarityConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> SimilarityRun:
  """Loads a similarity run config: defaults < YAML file < overrides."""
  return config_loader.load(SimilarityRun, path, overrides)
