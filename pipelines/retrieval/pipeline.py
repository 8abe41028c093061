"""The content-based image retrieval DAG: ingest -> stats/schema/validation -> Transform ->
Trainer (embedding model) -> IndexBuilder (Annoy index of the corpus, bundled with the model) ->
RetrievalEvaluator (blessing gate) + ServingCheck -> Pusher, EdgeExport (TFLite/ONNX + index) ->
RunReport. Wiring only."""

from __future__ import annotations

from tfx.orchestration.pipeline import Pipeline

from components.embedding_eval.component import RetrievalEvaluator
from components.embedding_index.component import IndexBuilder
from pipelines.retrieval.config import RetrievalConfig
from pipelines.retrieval.task import TASK
from pipelines.runtime import PipelineRuntime
from pipelines.vision import dag


def create_pipeline(cfg: RetrievalConfig, runtime: PipelineRuntime) -> Pipeline:
  data = dag.data_half(TASK, cfg.data, cfg.image, runtime)
  trainer = dag.trainer(TASK, data, cfg, runtime)
  indexer = IndexBuilder(
      model=trainer.outputs["model"], examples=data.ingest.outputs["examples"],
      metric=cfg.index.metric, n_trees=cfg.index.n_trees, search_k=cfg.index.search_k,
      code_version=dag.code_version(IndexBuilder))
  evaluator = RetrievalEvaluator(
      model=indexer.outputs["indexed_model"], examples=data.ingest.outputs["examples"],
      k=cfg.evaluation.k, lower_bounds=cfg.evaluation.lower_bounds(),
      max_queries=cfg.evaluation.max_queries, code_version=dag.code_version(RetrievalEvaluator))
  delivery = dag.delivery_half(
      TASK, cfg, indexer.outputs["indexed_model"], trainer.outputs["model_run"],
      evaluator.outputs["blessing"], evaluator.outputs["evaluation"], data, cfg.export, runtime)
  return dag.pipeline(runtime, [*data.components, trainer, indexer, evaluator, *delivery])
