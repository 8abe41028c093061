"""Retrieval and similarity benchmark on Fashion-MNIST (Debian `dataset-fashion-mnist`).

  python bench/retrieval.py [--output DIR] [--kind classifier|metric|...] [--epochs N]
                            [--similarity-epochs N] [--skip-similarity]

1. The retrieval DAG: the 60k training images are the indexed corpus, the 10k test images the
   held-out queries. Prints wall time per component, recall@10 of Annoy against exact search,
   precision@10 and mAP@10 overall and by class, index build time and size, and the edge models'
   retrieval quality (int8's recall cost).
2. Query latency, Annoy vs numpy brute force, one query at a time, at 10k and 100k vectors: the
   served model's embeddings of the 70k images plus 30k horizontally flipped training images
   (all real model outputs), for several tree counts, with recall@10 vs exact.
3. The similarity DAG (Siamese contrastive by default): ROC AUC, accuracy at the exported
   threshold, TAR at FAR=1e-3 on held-out pairs of the 10k test images.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import fashion  # noqa: E402

INFRA = {"local": {"direct_running_mode": "multi_processing", "num_workers": 2}}


def _emit_and_time(times: dict):
  def emit(line: str) -> None:
    print(line, flush=True)
    m = re.match(r"\[\d+/\d+\] (\S+) (done in [\d.]+s|cached)", line)
    if m:
      times[m.group(1)] = m.group(2).replace("done in ", "")
  return emit


def _print_times(name: str, result, times: dict) -> None:
  print(f"\n=== {name}: whole DAG {result.wall_seconds:.0f}s ===")
  for node, t in times.items():
    print(f"  {node:28s} {t}")


def latency_study(version_dir: str, k: int = 10, queries: int = 1000) -> None:
  from annoy import AnnoyIndex  # pylint: disable=g-import-not-at-top
  from components.embedding_index import embed  # pylint: disable=g-import-not-at-top
  from components.embedding_index import index as index_lib  # pylint: disable=g-import-not-at-top
  from components.common import metrics  # pylint: disable=g-import-not-at-top
  model = embed.load(version_dir)
  corpus = index_lib.EmbeddingIndex.load(os.path.join(version_dir, index_lib.SERVING_SUBDIR))
  train_vectors = corpus.vectors()
  test_images = fashion.images("t10k")
  train_images = fashion.images("train")

  def embed_arrays(images):
    return embed.embed_images(model, [cv2.imencode(".png", im)[1].tobytes() for im in images])

  t = time.monotonic()
  test_vectors = embed_arrays(test_images)
  flipped = embed_arrays(train_images[:30000, :, ::-1])
  print(f"embedded 40k extra images through serving_default in {time.monotonic() - t:.0f}s")
  pool = np.concatenate([train_vectors, test_vectors, flipped])
  rng = np.random.default_rng(0)
  q = test_vectors[rng.choice(len(test_vectors), queries, replace=False)]
  print(f"\n{'vectors':>8s} {'trees':>6s} {'search_k':>9s} {'build s':>8s} {'MiB':>7s} "
        f"{'annoy ms':>9s} {'numpy ms':>9s} {'speed-up':>9s} {'recall@10':>10s}")
  # 60k: exactly the pipeline's corpus (the train split). The queries are test images; at 10k
  # and 60k they are not in the pool, at 100k they are (their own vector is then the exact
  # nearest neighbour: fine for timing and recall).
  for n in (10_000, 60_000, 100_000):
    vectors = pool[:n]
    exact_ids, _ = metrics.exact_knn(vectors, q, k, "angular")
    start = time.perf_counter()
    for v in q:
      metrics.exact_knn(vectors, v[None], k, "angular")
    numpy_ms = (time.perf_counter() - start) * 1000 / len(q)
    for trees in (16, 32, 64):
      index = AnnoyIndex(vectors.shape[1], "angular")
      index.set_seed(42)
      t = time.monotonic()
      for i, v in enumerate(vectors):
        index.add_item(i, v)
      index.build(trees, n_jobs=-1)
      build = time.monotonic() - t
      path = "/tmp/bench_index.ann"
      index.save(path)
      size = os.path.getsize(path) / 2**20
      # -1: Annoy's default, n_trees * k nodes; larger values trade time for recall.
      for search_k in (-1, 10 * trees * k):
        start = time.perf_counter()
        ids = [index.get_nns_by_vector(v, k, search_k=search_k) for v in q]
        annoy_ms = (time.perf_counter() - start) * 1000 / len(q)
        recall = metrics.recall_at_k(np.array(ids), exact_ids)
        print(f"{n:8d} {trees:6d} {search_k:9d} {build:8.1f} {size:7.1f} {annoy_ms:9.3f} "
              f"{numpy_ms:9.3f} {numpy_ms / annoy_ms:8.1f}x {recall:10.4f}")
      index.unload()


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--kind", default="classifier",
                      choices=["classifier", "metric", "autoencoder", "denoising_autoencoder"])
  parser.add_argument("--epochs", type=int, default=8)
  parser.add_argument("--similarity-epochs", type=int, default=6)
  parser.add_argument("--skip-similarity", action="store_true")
  parser.add_argument("--trees", type=int, default=32, help="Annoy trees of the pipeline's index")
  parser.add_argument("--latency-only", metavar="MODEL_DIR",
                      help="only the latency study, with this served retrieval model")
  parser.add_argument("--search-k", type=int, default=0,
                      help="Annoy search_k of the pipeline's index (0: 10 * n_trees * k)")
  args = parser.parse_args()
  if args.latency_only:
    latency_study(args.latency_only)
    return 0
  from components.common import outcome  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  t = time.monotonic()
  data_root = os.path.join(os.path.abspath(args.output), "fashion-mnist-data")
  data = fashion.write_fashion_mnist(data_root)
  print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)

  times: dict[str, str] = {}
  overrides = {"retrieval": {
      "model_name": "fashion-retrieval", "image": {"height": 28, "width": 28, "channels": 1},
      "model": {"kind": args.kind, "epochs": args.epochs, "batch_size": 128,
                "learning_rate": 2e-3, "early_stopping_patience": 0, "lr_schedule": "cosine",
                "augment": {"flip": True, "rotation": 0.0, "zoom": 0.0, "contrast": 0.0},
                "metric_learning": {"epochs": args.epochs, "classes_per_batch": 10,
                                    "examples_per_class": 8, "lr_schedule": "cosine",
                                    "early_stopping_patience": 0}},
      "index": {"n_trees": args.trees, "search_k": args.search_k},
      "evaluation": {"k": 10, "min_map_at_k": 0.5, "min_recall_at_k": 0.9}},
      "infra": INFRA}
  out = os.path.abspath(os.path.join(args.output, f"retrieval-{args.kind}"))
  result = runners.run_task("retrieval", out, data=data, overrides=overrides,
                            emit=_emit_and_time(times))
  _print_times(f"retrieval ({args.kind})", result, times)
  ev = outcome.read(result.output_uri("RetrievalEvaluator", "evaluation"))
  m = ev["metrics"]
  print(f"blessed: {ev['blessed']} {ev['failures']}")
  print(f"recall@10 Annoy vs exact: {m['recall_at_10_vs_exact']:.4f}; precision@10 "
        f"{m['precision_at_10']:.4f}; mAP@10 {m['map_at_10']:.4f} ({m['queries']} queries, "
        f"{m['corpus_items']} indexed, dim {m['embedding_dim']})")
  print(f"index: {ev['index']['build_seconds']:.1f}s to build, "
        f"{ev['index']['index_bytes'] / 2**20:.1f} MiB, {ev['index']['n_trees']} trees")
  print(f"{'class':12s} {'P@10':>7s} {'mAP@10':>7s}")
  for c, pc in sorted(ev["slices"].items()):
    print(f"{c:12s} {pc['precision_at_k']:7.4f} {pc['map_at_k']:7.4f}")
  edge_dir = result.output_uri("EdgeExport", "edge_model")
  with open(os.path.join(edge_dir, "metrics.json")) as f:
    edge = json.load(f)
  q = edge["quality_metric"]
  print(f"\nedge models (leave-one-out on the 10k test images; Keras {q} "
        f"{edge['keras'][q]:.4f}):")
  for name, em in edge["models"].items():
    print(f"  {name:22s} {q} {em[q]:.4f}  recall@10 vs Keras "
          f"{em.get('recall_at_10_vs_keras', float('nan')):.4f}  size "
          f"{em['bytes'] / 1024:.0f} KiB")
  pushed = result.output_properties("Pusher", "pushed_model")
  version_dir = pushed.get("pushed_destination") or os.path.join(
      result.output_uri("IndexBuilder", "indexed_model"), "Format-Serving")
  latency_study(version_dir)

  if not args.skip_similarity:
    times = {}
    overrides = {"similarity": {
        "model_name": "fashion-similarity", "image": {"height": 28, "width": 28, "channels": 1},
        "train": {"epochs": args.similarity_epochs, "classes_per_batch": 10,
                  "examples_per_class": 8, "learning_rate": 2e-3, "lr_schedule": "cosine",
                  "early_stopping_patience": 0,
                  "augment": {"flip": True, "rotation": 0.0, "zoom": 0.0, "contrast": 0.0}},
        "evaluation": {"min_roc_auc": 0.8, "min_accuracy": 0.7}},
        "infra": INFRA}
    out = os.path.abspath(os.path.join(args.output, "similarity"))
    result = runners.run_task("similarity", out, data=data, overrides=overrides,
                              emit=_emit_and_time(times))
    _print_times("similarity", result, times)
    ev = outcome.read(result.output_uri("VerificationEvaluator", "evaluation"))
    m = ev["metrics"]
    print(f"blessed: {ev['blessed']} {ev['failures']}")
    print(f"held-out pairs: {m['positive_pairs']} positive, {m['negative_pairs']} negative")
    print(f"ROC AUC {m['roc_auc']:.4f}; accuracy at exported threshold {m['threshold']:.3f}: "
          f"{m['accuracy']:.4f} (best {m['best_accuracy']:.4f}); TAR {m['tar']:.4f} / FAR "
          f"{m['far']:.4f}; TAR at FAR=1e-3: {m['tar_at_far_0.001']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
