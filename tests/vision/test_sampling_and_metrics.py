"""P x K sampling, verification pairs, retrieval and verification metrics on tiny known inputs."""

from unittest import mock

import numpy as np
import pytest

from components.common import metrics
from components.common import sampling


def test_pk_batches_cover_every_example_once_with_k_per_class():
  labels = np.array([0] * 7 + [1] * 5 + [2] * 4)
  batches = list(sampling.pk_batches(labels, p=2, k=2, rng=np.random.default_rng(0)))
  seen = np.concatenate(batches)
  assert set(seen.tolist()) == set(range(len(labels)))
  for b in batches:
    classes, counts = np.unique(labels[b], return_counts=True)
    assert len(classes) == len(b) // 2 and (counts == 2).all()


def test_pk_batches_need_two_classes():
  with pytest.raises(ValueError, match="at least 2 classes"):
    next(sampling.pk_batches(np.zeros(4), 2, 2, np.random.default_rng(0)))


@pytest.mark.parametrize("limit", [10**9, 10])
def test_verification_pairs_are_distinct_ordered_and_labelled(limit):
  labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
  with mock.patch.object(sampling, "_ALL_PAIRS_LIMIT", limit):
    i, j, same = sampling.verification_pairs(labels, np.random.default_rng(0), max_positive=5,
                                             max_negative=12)
  assert (i < j).all()
  assert len(set(zip(i.tolist(), j.tolist()))) == len(i)
  np.testing.assert_array_equal(same, labels[i] == labels[j])
  assert 0 < same.sum() <= 5 and 0 < (~same).sum() <= 12


def test_exact_knn_metrics():
  corpus = np.array([[1, 0], [0, 1], [-1, 0], [0.9, 0.1]], np.float32)
  ids, d = metrics.exact_knn(corpus, np.array([[1, 0.05]], np.float32), 2, "euclidean")
  assert ids.tolist() == [[0, 3]]
  ids, d = metrics.exact_knn(corpus, np.array([[2, 0]], np.float32), 1, "angular")
  assert ids.tolist() == [[0]] and d[0, 0] == pytest.approx(0, abs=1e-6)
  ids, d = metrics.exact_knn(corpus, np.array([[0, 3]], np.float32), 1, "dot")
  assert ids.tolist() == [[1]] and d[0, 0] == pytest.approx(-3)
  with pytest.raises(ValueError, match="unknown metric"):
    metrics.exact_knn(corpus, corpus, 1, "hamming")


def test_recall_precision_and_average_precision():
  assert metrics.recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 4, 1]])) == pytest.approx(2 / 3)
  relevant = np.array([[True, False, True]])
  assert metrics.precision_at_k(relevant)[0] == pytest.approx(2 / 3)
  # AP@3 with R=2 relevant in the corpus: (P@1 + P@3) / 2 = (1 + 2/3) / 2.
  assert metrics.average_precision_at_k(relevant, np.array([2]))[0] == pytest.approx(5 / 6)
  scores = metrics.retrieval_scores(np.array([["a", "b"], ["b", "b"]]), np.array(["a", "b"]),
                                    np.array(["a", "b", "b"]))
  assert scores["per_class"]["a"] == {"precision_at_k": 0.5, "map_at_k": 1.0, "queries": 1}
  assert scores["precision_at_k"] == pytest.approx(0.75)


def test_verification_scores():
  d = np.array([0.1, 0.2, 0.35, 0.3, 0.9, 1.0])
  same = np.array([True, True, True, False, False, False])
  s = metrics.verification_scores(d, same, threshold=0.25)
  # Accept d <= t: the best cut keeps 0.1, 0.2 (0.3 is a negative before 0.35): 5 of 6 right.
  assert s["best_accuracy"] == pytest.approx(5 / 6)
  assert 0.2 <= s["best_threshold"] < 0.3
  assert s["roc_auc"] == pytest.approx(8 / 9)
  assert s["tar_at_far"] is None  # 3 negatives cannot measure FAR = 1e-3
  assert s["at_threshold"] == {"threshold": 0.25, "accuracy": pytest.approx(5 / 6),
                               "tar": pytest.approx(2 / 3), "far": 0.0}
  s = metrics.verification_scores(np.r_[np.zeros(10), np.ones(1000)], np.r_[[True] * 10,
                                                                            [False] * 1000])
  assert s["roc_auc"] == 1.0 and s["best_accuracy"] == 1.0 and s["tar_at_far"] == 1.0
  with pytest.raises(ValueError, match="both positive and negative"):
    metrics.verification_scores(d, np.ones(6, bool))


def test_reconstruction_scores():
  rng = np.random.default_rng(0)
  ref = rng.uniform(0, 1, (2, 16, 16, 1)).astype(np.float32)
  noisy = ref + rng.normal(0, 0.1, ref.shape).astype(np.float32)
  good, bad = metrics.reconstruction_scores(ref, ref * 0.98), metrics.reconstruction_scores(ref, noisy)
  assert good["psnr"] > bad["psnr"] > 15
  assert good["ssim"] > bad["ssim"]
