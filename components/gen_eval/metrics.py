"""Distances between sets of image features (TFX-free, numpy/scipy): the Fréchet distance (FID
when the features are a network's) and the kernel distance (KID).

FID (Heusel et al. 2017): ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of the two sets'
Gaussian fits. KID (Binkowski et al. 2018): the unbiased squared MMD with the cubic polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Both are usually computed in
ImageNet Inception-v3 features; here they are computed in whatever feature space the caller gives
(the generative pipeline: a classifier it trains on the same data), so the values are comparable
only with each other, never with papers'.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray,
                     cov_b: np.ndarray) -> float:
  """The Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b)."""
  mu_a, mu_b = np.atleast_1d(mu_a), np.atleast_1d(mu_b)
  cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
  covmean, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
  if not np.isfinite(covmean).all():
    # A singular product: offset both covariances slightly (as the reference implementation).
    offset = np.eye(len(cov_a)) * 1e-6
    covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
  covmean = np.real(covmean)
  diff = mu_a - mu_b
  return float(max(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean), 0.0))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """The Fréchet distance of two feature sets [N, D] (N >= 2 each)."""
  a, b = _as_2d(features_a), _as_2d(features_b)
  if len(a) < 2 or len(b) < 2:
    raise ValueError(f"FID needs at least 2 feature vectors per set, got {len(a)} and {len(b)}")
  return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def polynomial_mmd2(a: np.ndarray, b: np.ndarray) -> float:
  """The unbiased squared MMD of two sets with k(x, y) = (x.y / d + 1)^3."""
  a, b = _as_2d(a), _as_2d(b)
  d = a.shape[1]
  m, n = len(a), len(b)
  kaa = (a @ a.T / d + 1) ** 3
  kbb = (b @ b.T / d + 1) ** 3
  kab = (a @ b.T / d + 1) ** 3
  return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) +
               (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean())


def kid(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 20,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID of two feature sets: the mean and standard deviation of `polynomial_mmd2` over
  `subsets` random subsets of min(`subset_size`, both sizes) vectors each (one subset, the
  whole sets, when both are that small)."""
  a, b = _as_2d(features_a), _as_2d(features_b)
  size = min(subset_size, len(a), len(b))
  if size < 2:
    raise ValueError(f"KID needs at least 2 feature vectors per set, got {len(a)} and {len(b)}")
  if size == len(a) == len(b):
    return polynomial_mmd2(a, b), 0.0
  rng = np.random.default_rng(seed)
  values = [polynomial_mmd2(a[rng.choice(len(a), size, replace=False)],
                            b[rng.choice(len(b), size, replace=False)]) for _ in range(subsets)]
  return float(np.mean(values)), float(np.std(values))


def psnr(a: np.ndarray, b: np.ndarray, max_value: float = 1.0) -> float:
  """The mean over image pairs of the PSNR in dB (10 log10(max^2 / MSE)); a pair's MSE is
  floored at 1e-10 (100 dB for identical images in [0, 1])."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  mse = np.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
  return float(np.mean(10 * np.log10(max_value ** 2 / np.maximum(mse, 1e-10))))


def _as_2d(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  return x.reshape(len(x), -1)
