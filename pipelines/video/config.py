"""Typed configuration of the video-classification pipeline.

Defaults are the embedded moving-digits run; a YAML file or `--config` overrides any key, and
unknown keys are an error. Infrastructure lives in `pipelines.infra.InfraConfig`, not here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from components.image_ingest.video import VideoOptions
from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import AccuracyGateConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  # cnn_lstm: a frame CNN on every frame, an LSTM over the frame features (the book's approach);
  # r2plus1d: (2+1)D convolutions, a spatial 3x3 then a temporal 3-frame convolution per block.
  model: Literal["cnn_lstm", "r2plus1d"] = "r2plus1d"
  width: int = 16  # filters of the first block (doubled per block)
  lstm_units: int = 64
  epochs: int = 25
  batch_size: int = 32
  learning_rate: float = 2e-3
  early_stopping_patience: int = 6
  lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
  reduce_lr_patience: int = 2
  dropout: float = 0.2
  batch_norm_momentum: float = 0.0  # 0: from the steps per epoch (`training.batch_norm_momentum`)
  # Epochs of the single-frame baseline (the same frame CNN on the middle frame only), whose eval
  # accuracy the report shows beside the model's: near chance when motion decides the class.
  # 0: no baseline.
  baseline_epochs: int = 10
  seed: int = 42

  def validate(self) -> None:
    if self.epochs < 1 or self.batch_size < 1 or self.width < 1 or self.lstm_units < 1:
      raise ValueError("epochs, batch_size, width and lstm_units must be >= 1")
    if self.learning_rate < 0 or self.baseline_epochs < 0:
      raise ValueError("learning_rate and baseline_epochs must be >= 0")
    if not 0 <= self.dropout < 1 or not 0 <= self.batch_norm_momentum < 1:
      raise ValueError("dropout and batch_norm_momentum must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class VideoConfig:
  model_name: str = "video_classifier"  # TF Serving: <serving>/<model_name>/<version>/
  # data.max_file_bytes bounds a video file; frames over data.max_pixels are quarantined.
  data: DataConfig = dataclasses.field(
      default_factory=lambda: DataConfig(max_file_bytes=256 * 1024 * 1024))
  # How ingest samples frames from each video (the video readers' options).
  frames: VideoOptions = dataclasses.field(default_factory=VideoOptions)
  # The size every frame is resized to.
  image: ImageConfig = dataclasses.field(default_factory=ImageConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  evaluation: AccuracyGateConfig = dataclasses.field(
      default_factory=lambda: AccuracyGateConfig(accuracy_lower_bound=0.8))
  export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

  def validate(self) -> None:
    check_model_name(self.model_name)


@dataclasses.dataclass(frozen=True)
class VideoRun:
  """A whole YAML config file: the task section plus `infra:`."""
  video: VideoConfig = dataclasses.field(default_factory=VideoConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> VideoRun:
  """Loads a video run config: defaults < YAML file < overrides."""
  return config_loader.load(VideoRun, path, overrides)
