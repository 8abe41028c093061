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
import tempfile

from components import artifact_io
from components.embedding_index import embed
from components.embedding_index import index as index_lib

SERVING_DIR = "Format-Serving"
KERAS_DIR = "Format-Keras"


def index_dir(serving_model_dir: str) -> str:
  """The index folder inside a served (or bundled) SavedModel directory."""
  return os.path.join(serving_model_dir, index_lib.SERVING_SUBDIR)


def build_bundle(model_uri: str, serving_model_dir: str, rows: list[tuple[bytes, dict]],
                 out_uri: str, metric: str, n_trees: int, seed: int = 42,
                 search_k: int = 0) -> dict:
  """Embeds `rows` (serialized raw examples + {"label", "source"}) with the trained model, indexes
  them and writes the bundle to `out_uri` (any filesystem).

  Returns:
    The index metadata.
  """
  if not rows:
    raise ValueError("no corpus examples to index")
  model = embed.load(serving_model_dir)
  vectors = embed.embed_examples(model, [r[0] for r in rows])
  items = [{"source": r[1]["source"], "label": r[1]["label"]} for r in rows]
  with artifact_io.local_output_dir(out_uri) as out:
    artifact_io.copy_tree(serving_model_dir, os.path.join(out, SERVING_DIR))
    keras_src = os.path.join(model_uri, KERAS_DIR)
    if artifact_io.exists(keras_src):
      artifact_io.copy_tree(keras_src, os.path.join(out, KERAS_DIR))
    with tempfile.TemporaryDirectory() as tmp:
      meta = index_lib.build(vectors, items, tmp, metric=metric, n_trees=n_trees, seed=seed,
                             search_k=search_k)
      artifact_io.copy_tree(tmp, index_dir(os.path.join(out, SERVING_DIR)))
  return meta
