"""Typed configuration of the content-based image retrieval pipeline (embeddings + Annoy index).

Defaults are the embedded digits run; `--config` YAML overrides any key (unknown keys are an
error). Infrastructure lives in `pipelines.infra.InfraConfig`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

from pipelines import config_loader
from pipelines.infra import InfraConfig
from pipelines.vision.config import AugmentConfig
from pipelines.vision.config import check_model_name
from pipelines.vision.config import DataConfig
from pipelines.vision.config import ExportConfig
from pipelines.vision.config import ImageConfig
from pipelines.vision.config import MetricLearningConfig


@dataclasses.dataclass(frozen=True)
class EmbeddingModelConfig:
  # classifier: bottleneck (pooled) features of a trained small-CNN classifier (the book's
  #   approach); metric: an embedding network trained with `metric_learning`'s loss;
  # autoencoder: the bottleneck code of a convolutional autoencoder; denoising_autoencoder: the
  #   same trained to reconstruct clean images from noisy ones.
  kind: Literal["classifier", "metric", "autoencoder", "denoising_autoencoder"] = "classifier"
  # Autoencoders: code size (the retrieval embedding). Metric: see metric_learning.embedding_dim.
  code_size: int = 32
  noise_stddev: float = 0.3  # denoising_autoencoder: Gaussian noise on [0, 1] inputs
  # classifier and autoencoders:
  epochs: int = 30
  batch_size: int = 32
  learning_rate: float = 1e-3
  early_stopping_patience: int = 5
  lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
  reduce_lr_patience: int = 2
  dropout: float = 0.3
  augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
  metric_learning: MetricLearningConfig = dataclasses.field(default_factory=MetricLearningConfig)
  seed: int = 42

  def validate(self) -> None:
    if self.code_size < 2:
      raise ValueError(f"code_size must be >= 2, got {self.code_size}")
    if self.noise_stddev < 0:
      raise ValueError(f"noise_stddev must be >= 0, got {self.noise_stddev}")
    if self.epochs < 1 or self.batch_size < 1:
      raise ValueError("epochs and batch_size must be >= 1")


@dataclasses.dataclass(frozen=True)
class IndexConfig:
  metric: Literal["angular", "euclidean", "dot"] = "angular"
  # More trees and a larger search_k: better recall, bigger index / slower queries. Fashion-MNIST,
  # 60k x 128-d (bench/retrieval.py): 32 trees with search_k 10*32*10 give recall@10 0.997 at
  # 0.29 ms/query (77x numpy brute force); Annoy's default search_k (n_trees*k) only 0.89.
  n_trees: int = 32
  # Nodes inspected per query, stored with the index: 0 = 10 * n_trees * k; -1 = Annoy's default
  # n_trees * k; else the number.
  search_k: int = 0

  def validate(self) -> None:
    if self.n_trees < 1:
      raise ValueError(f"n_trees must be >= 1, got {self.n_trees}")
    if self.search_k < -1:
      raise ValueError(f"search_k must be >= -1, got {self.search_k}")


@dataclasses.dataclass(frozen=True)
class RetrievalEvaluationConfig:
  k: int = 10
  # Blessing gate: mAP@k of held-out queries by class, and recall@k of Annoy vs exact search.
  min_map_at_k: float = 0.7
  min_recall_at_k: float = 0.9
  max_queries: int = -1  # eval examples used as queries; -1: all

  def validate(self) -> None:
    if self.k < 1:
      raise ValueError(f"k must be >= 1, got {self.k}")

  def lower_bounds(self) -> dict[str, float]:
    return {f"map_at_{self.k}": self.min_map_at_k,
            f"recall_at_{self.k}_vs_exact": self.min_recall_at_k}


@dataclasses.dataclass(frozen=True)
class RetrievalConfig:
  model_name: str = "retrieval"  # TF Serving model name: <serving>/<model_name>/<version>/
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  image: ImageConfig = dataclasses.field(default_factory=ImageConfig)
  model: EmbeddingModelConfig = dataclasses.field(default_factory=EmbeddingModelConfig)
  index: IndexConfig = dataclasses.field(default_factory=IndexConfig)
  evaluation: RetrievalEvaluationConfig = dataclasses.field(
      default_factory=RetrievalEvaluationConfig)
  export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

  def validate(self) -> None:
    check_model_name(self.model_name)
    if self.model.kind.endswith("autoencoder") and (self.image.height % 4 or self.image.width % 4):
      raise ValueError("autoencoders need image height and width divisible by 4, got "
                       f"{self.image.height}x{self.image.width}")


@dataclasses.dataclass(frozen=True)
class RetrievalRun:
  """A whole YAML config file: the task section plus `infra:`."""
  retrieval: RetrievalConfig = dataclasses.field(default_factory=RetrievalConfig)
  infra: InfraConfig = dataclasses.field(default_factory=InfraConfig)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> RetrievalRun:
  """Loads a retrieval run config: defaults < YAML file < overrides."""
  return config_loader.load(RetrievalRun, path, overrides)
