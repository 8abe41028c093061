"""Batch and pair sampling for metric learning and verification, shared by every embedding task."""

from __future__ import annotations

from typing import Iterator

import numpy as np

# Up to this many pairs, verification pairs are drawn from the full list of pairs.
_ALL_PAIRS_LIMIT = 2_000_000


def pk_batches(labels: np.ndarray, p: int, k: int, rng: np.random.Generator
               ) -> Iterator[np.ndarray]:
  """Index batches of `p` classes x `k` examples each, one pass over the data per epoch.

  Classes are drawn in proportion to their remaining examples; a class with fewer than `k` left
  is topped up by sampling its examples again, so every batch has k-1 positives per anchor.

  Yields:
    int64 arrays of p*k indices into `labels` (fewer classes in the last batch if fewer remain).
  """
  labels = np.asarray(labels).reshape(-1)
  classes = np.unique(labels)
  if len(classes) < 2:
    raise ValueError(f"metric learning needs at least 2 classes, got {len(classes)}")
  pools = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
  by_class = {c: np.flatnonzero(labels == c) for c in classes}
  while True:
    alive = [c for c in classes if pools[c]]
    if not alive:
      return
    weights = np.array([len(pools[c]) for c in alive], np.float64)
    chosen = list(rng.choice(alive, size=min(p, len(alive)), replace=False,
                             p=weights / weights.sum()))
    if len(chosen) == 1:  # the last class left: pair it with a resampled other class
      chosen.append(rng.choice([c for c in classes if c != chosen[0]]))
    batch = []
    for c in chosen:
      take = [pools[c].pop() for _ in range(min(k, len(pools[c])))]
      if len(take) < k:
        take += list(rng.choice(by_class[c], size=k - len(take)))
      batch += take
    yield np.asarray(batch, np.int64)


def verification_pairs(labels: np.ndarray, rng: np.random.Generator, max_positive: int = 3000,
                       max_negative: int = 30000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Held-out verification pairs: every positive pair (up to `max_positive`, sampled) and
  distinct negative pairs sampled up to `max_negative`.

  Returns:
    (first indices, second indices, same) with i < j for every pair.
  """
  labels = np.asarray(labels).reshape(-1)
  n = len(labels)
  if n * (n - 1) // 2 <= _ALL_PAIRS_LIMIT:
    i, j = np.triu_indices(n, k=1)
    same = labels[i] == labels[j]
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    if len(pos) > max_positive:
      pos = rng.choice(pos, max_positive, replace=False)
    if len(neg) > max_negative:
      neg = rng.choice(neg, max_negative, replace=False)
    keep = np.sort(np.concatenate([pos, neg]))
    return i[keep], j[keep], same[keep]
  # Too many pairs to list: sample partners directly.
  by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
  anchors = rng.integers(n, size=2 * max_positive)
  partners = np.array([rng.choice(by_class[labels[a]]) for a in anchors])
  first = rng.integers(n, size=2 * max_negative)
  second = rng.integers(n, size=2 * max_negative)
  i = np.concatenate([anchors, first])
  j = np.concatenate([partners, second])
  i, j = np.minimum(i, j), np.maximum(i, j)
  pairs = np.unique(np.stack([i, j], 1)[i != j], axis=0)
  same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
  pos = rng.permutation(np.flatnonzero(same))[:max_positive]
  neg = rng.permutation(np.flatnonzero(~same))[:max_negative]
  keep = np.sort(np.concatenate([pos, neg]))
  return pairs[keep, 0], pairs[keep, 1], same[keep]
