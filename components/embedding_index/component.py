"""IndexBuilder: embeds the whole training corpus with the trained model and builds an Annoy index.

Output `indexed_model` (standard `Model`): the trained model with its index, laid out as in
`bundle.py` (`{uri}/Format-Serving/assets.extra/index/index.ann`, `ids.jsonl`, `index.json`).
Custom properties `index_items`, `index_bytes`.
"""

import os

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import keras_bundle
from components.embedding_index import bundle
from components.image_ingest import ingest


@component
def IndexBuilder(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    indexed_model: OutputArtifact[standard_artifacts.Model],
    metric: Parameter[str] = "angular",
    n_trees: Parameter[int] = 32,
    search_k: Parameter[int] = 0,
    corpus_split: Parameter[str] = "train",
    code_version: Parameter[str] = "",
) -> None:
  """Indexes every example of `corpus_split`; the eval split stays held out as queries.

  `search_k` is stored with the index and used by every query (0: 10 * n_trees * k).
  """
  del code_version  # keys TFX's cache to the code that runs here
  rows = ingest.read_examples(examples.uri, corpus_split)
  meta = bundle.build_bundle(
      path_utils.serving_model_path(model.uri), os.path.join(model.uri, keras_bundle.KERAS_DIR), rows,
      path_utils.serving_model_dir(indexed_model.uri),
      os.path.join(indexed_model.uri, keras_bundle.KERAS_DIR),
      metric=metric, n_trees=n_trees, search_k=search_k)
  logging.info("indexed %d %s images (%s, %d trees, %d bytes) in %.1fs", meta["items"],
               corpus_split, metric, n_trees, meta["index_bytes"], meta["build_seconds"])
  indexed_model.set_int_custom_property("index_items", meta["items"])
  indexed_model.set_int_custom_property("index_bytes", meta["index_bytes"])
