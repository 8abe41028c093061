"""Queries a pushed retrieval model: embed images with its serving signature, search its index.

`cvpipe query --index <serving>/<model>[/<version>] IMAGE...` calls `search` and, with `--html`,
`write_html`. A model directory without a version picks the latest version, as TF Serving does.
"""

from __future__ import annotations

import html

import tensorflow as tf

from components.common import artifact_io
from components.common.errors import QueryError
from components.embedding_eval import figures
from components.embedding_index import bundle
from components.embedding_index import embed
from components.embedding_index import index as index_lib
from components.image_ingest import ingest
from components.run_report import report as report_lib
from components.serving_check import rest


def _read(path: str) -> bytes:
  try:
    with tf.io.gfile.GFile(path, "rb") as f:
      data = f.read()
  except (tf.errors.OpError, OSError) as e:
    raise QueryError(f"{path}: cannot read: {e}") from None
  problem = ingest.validate_image(data, max_file_bytes=64 << 20, max_pixels=100_000_000)
  if isinstance(problem, str):
    raise QueryError(f"{path}: {problem}")
  return data


def search(model_path: str, image_paths: list[str], k: int = 10,
           search_k: int | None = None) -> list[dict]:
  """The k nearest indexed images of each query image.

  Returns:
    [{"query": path, "version_dir": ..., "results": [{"id", "source", "label", "distance"}]}].
  """
  if not tf.io.gfile.isdir(model_path):
    raise QueryError(f"{model_path}: no such model directory")
  version_dir = rest.latest_version_dir(model_path)
  images = [_read(p) for p in image_paths]
  with artifact_io.local_input_dir(bundle.index_dir(version_dir)) as local:
    try:
      index = index_lib.EmbeddingIndex.load(local)
    except FileNotFoundError as e:
      raise QueryError(f"{version_dir} is not a retrieval model with an index: {e}") from None
    vectors = embed.embed_images(embed.load(version_dir), images)
    ids, dists = index.query(vectors, k, search_k)
    out = []
    for path, row, drow in zip(image_paths, ids, dists):
      out.append({"query": path, "version_dir": version_dir,
                  "results": [{**index.items[i], "distance": float(d)}
                              for i, d in zip(row.tolist(), drow.tolist())]})
  return out


def write_html(results: list[dict], out_path: str) -> str:
  """An HTML page with one row per query: the query image, then its results (nearest first)."""
  load = artifact_io.read_bytes  # None for an indexed file that moved: an empty tile
  grid = figures.query_grid(
      [load(r["query"]) for r in results], [None] * len(results),
      [[load(x["source"]) for x in r["results"]] for r in results],
      [[x["label"] for x in r["results"]] for r in results],
      [[x["distance"] for x in r["results"]] for r in results], size=96)
  rows = "".join(
      f"<li><code>{html.escape(r['query'])}</code>: " + ", ".join(
          f"<code>{html.escape(x['source'])}</code> ({html.escape(str(x['label']))}, "
          f"{x['distance']:.4f})" for x in r["results"]) + "</li>" for r in results)
  text = ("<!doctype html><html><head><meta charset='utf-8'><title>cvpipe query</title></head>"
          f"<body><h1>Nearest images</h1><p>Model: <code>"
          f"{html.escape(results[0]['version_dir'] if results else '')}</code>. One row per "
          "query: the query, then its nearest indexed images (label, distance).</p>"
          f"<img alt='results' src='{report_lib.png_data_uri(grid)}'>"
          f"<ol>{rows}</ol></body></html>")
  with tf.io.gfile.GFile(out_path, "w") as f:
    f.write(text)
  return out_path
