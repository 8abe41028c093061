"""The indexed model bundle: a trained embedding model plus the Annoy index built with it
(TFX-free).

Layout of the bundle (a standard `Model` artifact, so Pusher, ServingCheck and EdgeExport take it
like any trained model):
  {uri}/Format-Serving/                        the trained SavedModel, unchanged
  {uri}/Format-Serving/assets.extra/index/     index.ann, ids.jsonl, index.json (see index.py)
  {uri}/Format-Keras/                          the trained Keras bundle (edge export input)
Pushed as one TF Serving version directory, the model and its index cannot drift apart.
"""

from __future__ import annotations

import os

from components.common import artifact_io
from components.embedding_index import embed
from components.embedding_index import index as index_lib

def index_dir(serving_model_dir: str) -> str:
  """The index folder inside a served (or bundled) SavedModel directory."""
  return os.path.join(serving_model_dir, index_lib.SERVING_SUBDIR)


def build_bundle(serving_model_dir: str, keras_dir: str, rows: list[tuple[bytes, dict]],
                 out_serving_dir: str, out_keras_dir: str, metric: str, n_trees: int,
                 seed: int = 42, search_k: int = 0) -> dict:
  """Embeds `rows` (serialized raw examples + {"label", "source"}) with the trained SavedModel,
  indexes them, and writes the bundle: the SavedModel with the index to `out_serving_dir`, the
  Keras bundle (when `keras_dir` exists) to `out_keras_dir` (any filesystem).

  Returns:
    The index metadata.
  """
  if not rows:
    raise ValueError("no corpus examples to index")
  model = embed.load(serving_model_dir)
  vectors = embed.embed_examples(model, [r[0] for r in rows])
  items = [{"source": r[1]["source"], "label": r[1]["label"]} for r in rows]
  if artifact_io.exists(keras_dir):
    artifact_io.copy_tree(keras_dir, out_keras_dir)
  with artifact_io.local_output_dir(out_serving_dir) as out:
    artifact_io.copy_tree(serving_model_dir, out)
    meta = index_lib.build(vectors, items, index_dir(out), metric=metric, n_trees=n_trees,
                           seed=seed, search_k=search_k)
  return meta
