"""Typed config of the toy brightness task."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig
from pipelines.vision.config import check_model_name


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  epochs: int = 30
  learning_rate: float = 0.05
  batch_size: int = 16


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  max_mae: float = 0.05  # blessed only when the mean absolute error is at most this


@dataclasses.dataclass(frozen=True)
class ToyConfig:
  model_name: str = "brightness"
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  image: ImageConfig = dataclasses.field(default_factory=lambda: ImageConfig(16, 16, 1))
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
  export: ExportConfig = dataclasses.field(default_factory=lambda: ExportConfig(
      int8_max_quality_drop=0.05, representative_examples=20))

  def validate(self) -> None:
    check_model_name(self.model_name)


@dataclasses.dataclass(frozen=True)
class ToyRun:
  toy: ToyConfig = dataclasses.field(default_factory=ToyConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> ToyRun:
  return config_loader.load(ToyRun, path, overrides)
