"""The content-based image retrieval DAG: ingest -> stats/schema/validation -> Transform ->
Trainer (embedding model) -> IndexBuilder (Annoy index of the corpus, bundled with the model) ->
RetrievalEvaluator (blessing gate) + ServingCheck -> Pusher, EdgeExport (TFLite/ONNX + index) ->
RunReport. Wiring only."""

from __future__ import annotations

import json

from tfx import v1 as tfx

from components.embedding_eval.component import RetrievalEvaluator
from components.embedding_index.component import IndexBuilder
from pipelines.retrieval import model
from pipelines.retrieval.config import RetrievalConfig
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag

TASK = "retrieval"


def create_pipeline(cfg: RetrievalConfig, runtime: PipelineRuntime) -> tfx.dsl.Pipeline:
  data = dag.data_half(cfg.data, cfg.image, runtime)
  trainer = dag.trainer(model.RUN_FN, data, "retrieval", cfg, ("image", "model"),
                        runtime.code_version)
  indexer = IndexBuilder(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      metric=cfg.index.metric, n_trees=cfg.index.n_trees, search_k=cfg.index.search_k,
      code_version=runtime.code_version)
  evaluator = RetrievalEvaluator(
      model=indexer.outputs["indexed_model"], examples=data.ingest.outputs["examples"],
      k=cfg.evaluation.k,
      lower_bounds=json.dumps(cfg.evaluation.lower_bounds()),
      max_queries=cfg.evaluation.max_queries, code_version=runtime.code_version)
  delivery = dag.delivery_half(
      indexer.outputs["indexed_model"], evaluator.outputs["blessing"],
      evaluator.outputs["evaluation"], data, cfg.export, runtime, cfg.model_name,
      kind="embedding", k=cfg.evaluation.k)
  return dag.pipeline(runtime, [*data.components, trainer, indexer, evaluator, *delivery])
