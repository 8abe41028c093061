"""An Annoy index over image embeddings, with its id -> source table (TFX-free).

Files of an index folder:
  index.ann    Annoy index (memory-mapped on load: many server processes share one copy)
  ids.jsonl    one {"id", "source", "label"} per line; line i describes Annoy item i
  index.json   metric, dimension, trees, search_k, item count, build time, size
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Sequence

import numpy as np

from components.common import metrics

INDEX_FILE = "index.ann"
IDS_FILE = "ids.jsonl"
META_FILE = "index.json"
FILES = (INDEX_FILE, IDS_FILE, META_FILE)
# Where a served model carries its index: TF Serving ignores assets.extra/ (it is for extras such
# as warm-up requests), so one version directory holds the model and the index built with it.
SERVING_SUBDIR = os.path.join("assets.extra", "index")


def build(embeddings: np.ndarray, items: Sequence[dict], out_dir: str, metric: str = "angular",
          n_trees: int = 32, seed: int = 42, n_jobs: int = -1, search_k: int = 0) -> dict:
  """Builds and saves the index of `embeddings` [N, D]; `items[i]` describes row i.

  Args:
    search_k: the query-time search_k stored with the index (see `resolve_search_k`).

  Returns:
    The metadata written to index.json.
  """
  from annoy import AnnoyIndex  # pylint: disable=g-import-not-at-top
  if metric not in metrics.METRICS:
    raise ValueError(f"unknown Annoy metric {metric!r}; use one of {metrics.METRICS}")
  embeddings = np.asarray(embeddings, np.float32)
  if embeddings.ndim != 2 or not len(embeddings):
    raise ValueError(f"embeddings must be a non-empty [N, D] array, got {embeddings.shape}")
  if len(items) != len(embeddings):
    raise ValueError(f"{len(items)} items for {len(embeddings)} embeddings")
  if not np.isfinite(embeddings).all():
    raise ValueError("embeddings contain NaN or inf")
  os.makedirs(out_dir, exist_ok=True)
  start = time.monotonic()
  index = AnnoyIndex(embeddings.shape[1], metric)
  index.set_seed(seed)
  for i, v in enumerate(embeddings):
    index.add_item(i, v)
  index.build(n_trees, n_jobs=n_jobs)
  path = os.path.join(out_dir, INDEX_FILE)
  index.save(path)
  seconds = time.monotonic() - start
  with open(os.path.join(out_dir, IDS_FILE), "w") as f:
    for i, item in enumerate(items):
      f.write(json.dumps({"id": i, **item}) + "\n")
  meta = {"metric": metric, "dim": int(embeddings.shape[1]), "n_trees": n_trees,
          "search_k": search_k,
          "items": int(len(embeddings)), "build_seconds": seconds,
          "index_bytes": os.path.getsize(path)}
  with open(os.path.join(out_dir, META_FILE), "w") as f:
    json.dump(meta, f, indent=1)
  return meta


def resolve_search_k(search_k: int, n_trees: int, k: int) -> int:
  """Annoy's search_k: 0 = 10 * n_trees * k (recall@10 ~0.997 on Fashion-MNIST embeddings, see
  bench/retrieval.py), -1 = Annoy's own default (n_trees * k), otherwise the value."""
  return 10 * n_trees * k if search_k == 0 else search_k


@dataclasses.dataclass
class EmbeddingIndex:
  """A loaded (memory-mapped) index folder."""
  annoy: object
  items: list[dict]
  meta: dict

  @classmethod
  def load(cls, folder: str) -> "EmbeddingIndex":
    from annoy import AnnoyIndex  # pylint: disable=g-import-not-at-top
    missing = [f for f in FILES if not os.path.exists(os.path.join(folder, f))]
    if missing:
      raise FileNotFoundError(f"{folder}: not an index folder, missing {', '.join(missing)}")
    with open(os.path.join(folder, META_FILE)) as f:
      meta = json.load(f)
    with open(os.path.join(folder, IDS_FILE)) as f:
      items = [json.loads(line) for line in f if line.strip()]
    annoy = AnnoyIndex(meta["dim"], meta["metric"])
    annoy.load(os.path.join(folder, INDEX_FILE))  # mmap
    if annoy.get_n_items() != len(items):
      raise ValueError(f"{folder}: {annoy.get_n_items()} indexed items but {len(items)} ids")
    return cls(annoy, items, meta)

  def query(self, vectors: np.ndarray, k: int, search_k: int | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(ids [Q, k], distances [Q, k]) of the approximate k nearest items, nearest first.

    Args:
      search_k: None: the value stored with the index; see `resolve_search_k`.
    """
    k = min(k, len(self.items))
    search_k = resolve_search_k(self.meta.get("search_k", 0) if search_k is None else search_k,
                                self.meta["n_trees"], k)
    ids, dists = [], []
    exhaustive = len(self.items) * max(1, self.annoy.get_n_trees())
    for v in np.asarray(vectors, np.float32):
      i, d = self.annoy.get_nns_by_vector(v, k, search_k=search_k, include_distances=True)
      if len(i) < k:  # a small search_k can visit fewer than k leaves: search them all
        i, d = self.annoy.get_nns_by_vector(v, k, search_k=exhaustive, include_distances=True)
      ids.append(i)
      dists.append(d)
    return np.asarray(ids, np.int64).reshape(-1, k), np.asarray(dists, np.float32).reshape(-1, k)

  def vectors(self) -> np.ndarray:
    """Every indexed vector [N, D] (for exact search, the recall baseline)."""
    return np.asarray([self.annoy.get_item_vector(i) for i in range(len(self.items))],
                      np.float32)
