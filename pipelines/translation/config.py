"""Typed configuration of the image-to-image translation pipeline (pix2pix-style).

Defaults are the embedded digits at 16x16, edges -> image; a YAML file or `--config` overrides
any key, and unknown keys are an error. Infrastructure lives in `pipelines.infra.InfraConfig`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from pipelines import config_loader
from pipelines.generative.config import JudgeConfig
from pipelines.infra import InfraConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig


@dataclasses.dataclass(frozen=True)
class TranslationTrainConfig:
  """pix2pix: a U-Net generator from the condition image to the image, a PatchGAN discriminator
  on (condition, image) pairs, adversarial + `l1_weight` x L1 loss in a custom `train_step`.

  mode: what the condition is, made from every image by construction (so the true target is
  known): `edges` (Sobel edge magnitude: edges -> image) or `denoise` (the image plus Gaussian
  noise of `noise_stddev`, fresh every epoch in training, seeded by the image at serving)."""
  mode: Literal["edges", "denoise"] = "edges"
  noise_stddev: float = 0.3
  width: int = 16  # filters of the U-Net's first level (doubled per level)
  depth: int = 2  # stride-2 levels of the U-Net (image sides must divide by 2^depth)
  l1_weight: float = 100.0
  epochs: int = 30
  batch_size: int = 64
  learning_rate: float = 2e-4
  beta_1: float = 0.5
  real_label: float = 0.9
  seed: int = 42

  def validate(self) -> None:
    if min(self.width, self.depth, self.epochs, self.batch_size) < 1:
      raise ValueError("width, depth, epochs and batch_size must be >= 1")
    if self.noise_stddev <= 0 or self.l1_weight < 0 or self.learning_rate < 0:
      raise ValueError("noise_stddev must be > 0, l1_weight and learning_rate >= 0")
    if not 0 <= self.beta_1 < 1 or not 0.5 < self.real_label <= 1:
      raise ValueError("beta_1 must be in [0, 1) and real_label in (0.5, 1]")


@dataclasses.dataclass(frozen=True)
class TranslationGateConfig:
  """The blessing gate on the eval images' translations against their true targets."""
  psnr_lower_bound: float = 14.0  # dB
  # FID(translated, eval) / FID(train, eval) in the judge's features.
  max_fid_to_floor: float = 8.0
  max_psnr_drop: float = 0.5  # dB below the latest blessed model's
  max_fid_to_floor_increase: float = 0.5

  def validate(self) -> None:
    if self.max_fid_to_floor <= 0 or self.max_psnr_drop < 0 or self.max_fid_to_floor_increase < 0:
      raise ValueError("max_fid_to_floor must be > 0; max_psnr_drop and "
                       "max_fid_to_floor_increase >= 0")


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
  model_name: str = "translator"  # TF Serving: <serving>/<model_name>/<version>/
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  image: ImageConfig = dataclasses.field(
      default_factory=lambda: ImageConfig(height=16, width=16, channels=1))
  train: TranslationTrainConfig = dataclasses.field(default_factory=TranslationTrainConfig)
  judge: JudgeConfig = dataclasses.field(default_factory=JudgeConfig)
  evaluation: TranslationGateConfig = dataclasses.field(default_factory=TranslationGateConfig)
  export: ExportConfig = dataclasses.field(
      # Edge translators are scored by PSNR (dB) against the true targets.
      default_factory=lambda: ExportConfig(int8_max_quality_drop=1.0))

  def validate(self) -> None:
    check_model_name(self.model_name)
    step = 2 ** self.train.depth
    if self.image.height % step or self.image.width % step:
      raise ValueError(f"the U-Net halves the image train.depth={self.train.depth} times: image "
                       f"height and width must be multiples of {step}, got "
                       f"{self.image.height}x{self.image.width}")


@dataclasses.dataclass(frozen=True)
class TranslationRun:
  """A whole YAML config file: the task section plus `infra:`."""
  translation: TranslationConfig = dataclasses.field(default_factory=TranslationConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> TranslationRun:
  """Loads a translation run config: defaults < YAML file < overrides."""
  return config_loader.load(TranslationRun, path, overrides)
