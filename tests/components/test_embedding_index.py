"""Annoy index: build, memory-mapped load, query against exact search, bad inputs; `cvpipe query`
errors."""

import json
import os

import numpy as np
import pytest

from components.embedding_index import index as index_lib
from components.embedding_index import query
from pipelines import cli
from components.common import metrics


def _clusters(n_per=50, dim=16, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  centers = rng.normal(0, 1, (classes, dim))
  x = np.concatenate([c + 0.3 * rng.normal(0, 1, (n_per, dim)) for c in centers])
  y = np.repeat(np.arange(classes), n_per)
  return x.astype(np.float32), y


def test_build_load_and_query_match_exact_search(tmp_path):
  x, y = _clusters()
  items = [{"source": f"img/{i}.png", "label": str(c)} for i, c in enumerate(y)]
  meta = index_lib.build(x, items, str(tmp_path), metric="angular", n_trees=16)
  assert meta["items"] == 200 and meta["dim"] == 16 and meta["index_bytes"] > 0
  assert json.load(open(tmp_path / index_lib.META_FILE)) == meta
  index = index_lib.EmbeddingIndex.load(str(tmp_path))
  assert index.items[7] == {"id": 7, "source": "img/7.png", "label": str(y[7])}
  queries = x[::10] + 0.01
  ids, dists = index.query(queries, 10)
  exact_ids, exact_d = metrics.exact_knn(x, queries, 10, "angular")
  assert ids.shape == dists.shape == (20, 10)
  assert metrics.recall_at_k(ids, exact_ids) >= 0.95
  # Annoy's angular distance is sqrt(2 - 2 cos), as exact_knn computes it.
  np.testing.assert_allclose(dists[:, 0], exact_d[:, 0], atol=1e-3)
  np.testing.assert_allclose(index.vectors(), x, atol=1e-6)
  assert (y[ids] == y[::10][:, None]).mean() > 0.95


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_other_metrics_agree_with_exact_search(tmp_path, metric):
  x, _ = _clusters(seed=1)
  index_lib.build(x, [{"source": "", "label": ""}] * len(x), str(tmp_path), metric=metric,
                  n_trees=32)
  index = index_lib.EmbeddingIndex.load(str(tmp_path))
  ids, _ = index.query(x[:20], 5, search_k=10000)
  exact, _ = metrics.exact_knn(index.vectors(), x[:20], 5, metric)
  assert metrics.recall_at_k(ids, exact) >= 0.95


def test_bad_inputs_are_clear_errors(tmp_path):
  x, _ = _clusters(n_per=2)
  items = [{"source": "", "label": ""}] * len(x)
  with pytest.raises(ValueError, match="7 items for 8 embeddings"):
    index_lib.build(x, items[:7], str(tmp_path))
  bad = x.copy()
  bad[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    index_lib.build(bad, items, str(tmp_path))
  with pytest.raises(ValueError, match="unknown Annoy metric 'cosine'"):
    index_lib.build(x, items, str(tmp_path), metric="cosine")
  with pytest.raises(FileNotFoundError, match="missing index.ann"):
    index_lib.EmbeddingIndex.load(str(tmp_path / "nothing"))


def test_cvpipe_query_names_the_bad_file_or_directory(tmp_path, capsys):
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"not an image")
  model = tmp_path / "serving" / "retrieval" / "1"
  model.mkdir(parents=True)
  (model / "saved_model.pb").write_bytes(b"")
  assert cli.main(["query", "--index", str(model.parent), str(bad)]) == 2
  assert f"{bad}: not an image TensorFlow or OpenCV can decode" in capsys.readouterr().err
  assert cli.main(["query", "--index", str(tmp_path / "missing"), str(bad)]) == 2
  assert "no such model directory" in capsys.readouterr().err
  with pytest.raises(query.QueryError, match="not a retrieval model with an index"):
    import cv2
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((8, 8), np.uint8))
    query.search(str(model.parent), [str(good)])
  assert os.path.exists(model)


def test_a_tiny_search_k_still_returns_k_results(tmp_path):
  x, _ = _clusters(n_per=10)
  index_lib.build(x, [{"source": "", "label": ""}] * len(x), str(tmp_path), n_trees=1)
  ids, dists = index_lib.EmbeddingIndex.load(str(tmp_path)).query(x[:5], 10, search_k=1)
  assert ids.shape == dists.shape == (5, 10) and (ids >= 0).all()


def test_search_k_is_stored_with_the_index_and_used_by_default(tmp_path):
  assert index_lib.resolve_search_k(0, 32, 10) == 3200
  assert index_lib.resolve_search_k(-1, 32, 10) == -1 and index_lib.resolve_search_k(7, 32, 10) == 7
  x, _ = _clusters(n_per=10)
  meta = index_lib.build(x, [{"source": "", "label": ""}] * len(x), str(tmp_path), n_trees=2,
                         search_k=5)
  assert meta["search_k"] == 5
  index = index_lib.EmbeddingIndex.load(str(tmp_path))
  from unittest import mock
  index.annoy = mock.Mock(wraps=index.annoy)  # the C extension's methods cannot be patched
  index.query(x[:1], 3)
  assert index.annoy.get_nns_by_vector.call_args.kwargs["search_k"] == 5
