"""Retrieval evaluation of an indexed model bundle on held-out queries (TFX-free).

Queries are the eval split, embedded through the served signature; results come from the bundle's
Annoy index (the train split). Measured: recall@k of Annoy against exact search, precision@k and
mAP@k overall and by class, query latency; for autoencoders also reconstruction PSNR/SSIM (noisy vs
clean and reconstructed vs clean for denoising models) and the compression ratio.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import tensorflow as tf

from components.common import artifact_io
from components.embedding_eval import figures
from components.common import outcome
from components.embedding_index import bundle
from components.embedding_index import embed
from components.embedding_index import index as index_lib
from components.common import metrics

AUTOENCODER_FILE = "autoencoder.keras"
AUTOENCODER_INFO = "autoencoder.json"


def evaluate(serving_dir: str, keras_dir: str, rows: list[tuple[bytes, dict]], out_dir: str,
             k: int = 10, search_k: int | None = None, lower_bounds: dict[str, float] | None = None,
             figure_queries: int = 8, seed: int = 0) -> dict:
  """Evaluates and writes figures to `out_dir`; returns the result (see `outcome`).

  `search_k` None: the value stored with the index, as served queries use it.
  """
  if not rows:
    raise ValueError("no eval examples to use as queries")
  model = embed.load(serving_dir)
  index = index_lib.EmbeddingIndex.load(bundle.index_dir(serving_dir))
  serialized = [r[0] for r in rows]
  query_labels = np.array([r[1]["label"] for r in rows])
  queries = embed.embed_examples(model, serialized)
  start = time.perf_counter()
  ids, dists = index.query(queries, k, search_k)
  annoy_ms = (time.perf_counter() - start) * 1000 / len(queries)
  corpus = index.vectors()  # outside the timing: brute force holds its vectors in memory
  start = time.perf_counter()
  exact_ids, _ = metrics.exact_knn(corpus, queries, k, index.meta["metric"])
  exact_ms = (time.perf_counter() - start) * 1000 / len(queries)
  corpus_labels = np.array([item["label"] for item in index.items])
  scores = metrics.retrieval_scores(corpus_labels[ids], query_labels, corpus_labels)
  result_metrics = {
      f"recall_at_{k}_vs_exact": metrics.recall_at_k(ids, exact_ids),
      f"precision_at_{k}": scores["precision_at_k"], f"map_at_{k}": scores["map_at_k"],
      "annoy_ms_per_query": annoy_ms, "exact_ms_per_query": exact_ms,
      "queries": int(len(queries)), "corpus_items": int(len(corpus)),
      "embedding_dim": int(corpus.shape[1]), "index_bytes": index.meta["index_bytes"],
  }
  figs = []
  order = _one_query_per_class(query_labels, figure_queries)
  grid = figures.query_grid(
      [rows[i][1]["image"] for i in order], query_labels[order].tolist(),
      [[artifact_io.read_bytes(index.items[j]["source"]) for j in ids[i]] for i in order],
      [corpus_labels[ids[i]].tolist() for i in order], [dists[i].tolist() for i in order])
  figures.write_png(os.path.join(out_dir, "queries.png"), grid)
  figs.append({"file": "queries.png", "title": f"Sample queries and their top {k}",
               "caption": "First column: held-out query; then Annoy's results, nearest first "
                          "(green: same class; number: distance)."})
  ae_path = os.path.join(keras_dir, AUTOENCODER_FILE)
  if tf.io.gfile.exists(ae_path):
    result_metrics.update(_reconstruction(model, keras_dir, serialized, out_dir, figs, seed))
  lower_bounds = dict(lower_bounds or {})
  thresholds, failures = outcome.gate(result_metrics, lower_bounds)
  result = outcome.new("Retrieval", result_metrics, thresholds, failures,
                       slices={f"label={c}": m for c, m in scores["per_class"].items()},
                       figures=figs)
  return {**result, "k": k, "index": index.meta}


def _one_query_per_class(labels: np.ndarray, count: int) -> list[int]:
  chosen, seen = [], set()
  for i, label in enumerate(labels.tolist()):
    if label not in seen:
      chosen.append(i)
      seen.add(label)
  taken = set(chosen)
  rest = [i for i in range(len(labels)) if i not in taken]
  return (chosen + rest)[:count]


def _reconstruction(model, keras_dir: str, serialized: list[bytes], out_dir: str, figs: list,
                    seed: int, limit: int = 1000) -> dict:
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(os.path.join(keras_dir, AUTOENCODER_INFO)) as f:
    info = json.load(f)
  autoencoder = keras.models.load_model(os.path.join(keras_dir, AUTOENCODER_FILE), compile=False)
  clean = embed.transformed_images(model, serialized[:limit])
  noise = float(info.get("noise_stddev", 0.0))
  rng = np.random.default_rng(seed)
  noisy = np.clip(clean + rng.normal(0, noise, clean.shape), 0, 1).astype(np.float32) \
      if noise > 0 else clean
  recon = autoencoder.predict(noisy, batch_size=256, verbose=0)
  out = {"compression_ratio": float(info["input_size"]) / float(info["code_size"])}
  r = metrics.reconstruction_scores(clean, recon)
  out.update({"reconstruction_psnr": r["psnr"], "reconstruction_ssim": r["ssim"]})
  if noise > 0:
    n = metrics.reconstruction_scores(clean, noisy)
    out.update({"noisy_psnr": n["psnr"], "noisy_ssim": n["ssim"], "noise_stddev": noise})
    titles, columns = ["noisy", "denoised", "clean"], [noisy[:8], recon[:8], clean[:8]]
    caption = (f"Gaussian noise sigma={noise}: PSNR {n['psnr']:.1f} dB -> {r['psnr']:.1f} dB, "
               f"SSIM {n['ssim']:.3f} -> {r['ssim']:.3f} (mean over {len(clean)} eval images).")
  else:
    titles, columns = ["input", "reconstruction"], [clean[:8], recon[:8]]
    caption = f"PSNR {r['psnr']:.1f} dB, SSIM {r['ssim']:.3f} on {len(clean)} eval images."
  figures.write_png(os.path.join(out_dir, "reconstructions.png"),
                    figures.triptychs(columns, titles))
  figs.append({"file": "reconstructions.png", "title": " | ".join(titles), "caption": caption})
  return out
