"""Typed configuration of the image-captioning pipeline.

Defaults are the embedded captioned digit scenes; a YAML file or `--config` overrides any key,
and unknown keys are an error. Infrastructure lives in `pipelines.infra.InfraConfig`, not here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig


@dataclasses.dataclass(frozen=True)
class TextConfig:
  """The captions: what ingest keeps and how Transform turns them into token ids."""
  # Words per caption (our tokenizer's tokens); longer captions are dropped at ingest (noted).
  # Sequences are max_tokens + 2 long (<start> ... <end>, padded).
  max_tokens: int = 12
  # Captions kept per image (the first ones; the rest are dropped at ingest, noted).
  max_captions: int = 5
  # Words seen fewer times in the training captions are <unk>; at most max_vocabulary words.
  min_word_count: int = 1
  max_vocabulary: int = 10000

  def validate(self) -> None:
    if self.max_tokens < 1 or self.max_captions < 1:
      raise ValueError("max_tokens and max_captions must be >= 1")
    if self.min_word_count < 1 or self.max_vocabulary < 1:
      raise ValueError("min_word_count and max_vocabulary must be >= 1")

  def reader_options(self) -> dict:
    return {"max_tokens": self.max_tokens, "max_captions": self.max_captions}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The book's captioner: a CNN encoder over the image's feature grid and an LSTM decoder
  with Bahdanau (additive) attention over the grid, trained with teacher forcing."""
  width: int = 16  # filters of the encoder's first block (doubled per block)
  # Spatial poolings of the encoder: the attention grid is (H / 2^p) x (W / 2^p).
  poolings: int = 2
  embedding: int = 32
  units: int = 96  # LSTM units
  attention_units: int = 48
  epochs: int = 12
  # Images per batch, each with all its captions (text.max_captions rows, those past the
  # image's captions weigh nothing): the encoder runs once per image.
  batch_size: int = 16
  learning_rate: float = 3e-3
  early_stopping_patience: int = 5
  # The eval metric early stopping (best weights kept) and the plateau schedule watch: the
  # teacher-forced next-word loss, or its accuracy (which can keep rising, and the captions
  # improving, while an over-confident loss rises).
  monitor: Literal["loss", "accuracy"] = "loss"
  lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
  reduce_lr_patience: int = 2
  dropout: float = 0.1
  batch_norm_momentum: float = 0.0  # 0: from the steps per epoch (`training.batch_norm_momentum`)
  seed: int = 42

  def validate(self) -> None:
    if min(self.width, self.embedding, self.units, self.attention_units, self.epochs,
           self.batch_size) < 1:
      raise ValueError("width, embedding, units, attention_units, epochs and batch_size must "
                       "be >= 1")
    if not 0 <= self.poolings <= 4:
      raise ValueError(f"poolings must be in [0, 4], got {self.poolings}")
    if self.learning_rate < 0:
      raise ValueError("learning_rate must be >= 0")
    if not 0 <= self.dropout < 1 or not 0 <= self.batch_norm_momentum < 1:
      raise ValueError("dropout and batch_norm_momentum must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
  """Decoding inside the serving graph: beam search of this width (1: greedy). The
  `serving_greedy` signature is always greedy (what the edge decoding loop does)."""
  beam_width: int = 3
  # The finished beams are ranked by log-probability / ((5 + length) / 6) ** length_penalty
  # (GNMT's length normalisation); 0: by plain log-probability, which favours short captions.
  # One trained model of the captioning bench (4,000 scenes, 394 eval images of unseen pairs),
  # re-decoded side by side (`bench/captioning.py --length-penalties`): 0 / 0.5 / 1 / 1.5 / 2 gave
  # object-mention F1 0.894 / 0.901 / 0.902 / 0.903 / 0.904 (recall 0.879 -> 0.898, precision
  # ~0.91 throughout) and BLEU-4 0.875 / 0.877 / 0.876 / 0.878 / 0.879.
  length_penalty: float = 1.0

  def validate(self) -> None:
    if not 1 <= self.beam_width <= 16:
      raise ValueError(f"beam_width must be in [1, 16], got {self.beam_width}")
    if not 0 <= self.length_penalty <= 2:
      raise ValueError(f"length_penalty must be in [0, 2], got {self.length_penalty}")


@dataclasses.dataclass(frozen=True)
class CaptionGateConfig:
  """The blessing gate on the eval split's generated captions."""
  bleu4_lower_bound: float = 0.3
  cider_d_lower_bound: float = 1.0
  # Neither may drop more than this below the latest blessed model's (absolute).
  max_bleu4_drop: float = 0.0
  max_cider_d_drop: float = 0.0
  # Words naming objects, for the object-mention F1 (reported, not gated); empty: not computed.
  # The default: the embedded data's digit names (`pipelines.datasets.DIGIT_WORDS`).
  object_words: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six",
                                   "seven", "eight", "nine")
  # Eval images written to the report with their captions and attention maps.
  report_examples: int = 8

  def validate(self) -> None:
    if not 0 <= self.bleu4_lower_bound <= 1 or self.cider_d_lower_bound < 0:
      raise ValueError("bleu4_lower_bound must be in [0, 1] and cider_d_lower_bound >= 0")
    if self.max_bleu4_drop < 0 or self.max_cider_d_drop < 0:
      raise ValueError("max_bleu4_drop and max_cider_d_drop must be >= 0")


@dataclasses.dataclass(frozen=True)
class CaptioningConfig:
  model_name: str = "captioner"  # TF Serving: <serving>/<model_name>/<version>/
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  text: TextConfig = dataclasses.field(default_factory=TextConfig)
  image: ImageConfig = dataclasses.field(default_factory=lambda: ImageConfig(channels=3))
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  decode: DecodeConfig = dataclasses.field(default_factory=DecodeConfig)
  evaluation: CaptionGateConfig = dataclasses.field(default_factory=CaptionGateConfig)
  export: ExportConfig = dataclasses.field(
      # Edge models are scored by BLEU-4 of their greedy captions.
      default_factory=lambda: ExportConfig(int8_max_quality_drop=0.05))

  def validate(self) -> None:
    check_model_name(self.model_name)


@dataclasses.dataclass(frozen=True)
class CaptioningRun:
  """A whole YAML config file: the task section plus `infra:`."""
  captioning: CaptioningConfig = dataclasses.field(default_factory=CaptioningConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> CaptioningRun:
  """Loads a captioning run config: defaults < YAML file < overrides."""
  return config_loader.load(CaptioningRun, path, overrides)
