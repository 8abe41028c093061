"""FID and KID on hand-checked values, and the upper-bound gate they feed."""

import numpy as np
import pytest

from components.common import outcome
from components.gen_eval import metrics


def test_frechet_distance_of_1d_gaussians_by_hand():
  # N(0, 1) vs N(1, 4): (0 - 1)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 2.
  assert metrics.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.0]),
                                  np.array([[4.0]])) == pytest.approx(2.0)


def test_frechet_distance_of_diagonal_gaussians_by_hand():
  # Per axis: (mu diff)^2 + (sigma_a - sigma_b)^2 -> (1 + 0) + (0 + (1 - 3)^2) = 5.
  value = metrics.frechet_distance(np.array([0.0, 0.0]), np.diag([1.0, 1.0]),
                                   np.array([1.0, 0.0]), np.diag([1.0, 9.0]))
  assert value == pytest.approx(5.0)


def test_fid_of_samples_is_zero_for_the_same_set_and_grows_with_a_shift():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((500, 4))
  assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-6)
  # A mean shift of 2 along one axis adds 4.
  assert metrics.fid(a, a + [2.0, 0, 0, 0]) == pytest.approx(4.0, abs=1e-6)
  with pytest.raises(ValueError, match="at least 2"):
    metrics.fid(a[:1], a)


def test_polynomial_mmd2_by_hand():
  # d = 1, k(x, y) = (xy + 1)^3. Within x = {0, 1}: k(0, 1) = 1 -> 2 * 1 / 2 = 1. Within
  # y = {1, 2}: k(1, 2) = 27 -> 27. Across: k = 1, 1, 8, 27 -> mean 9.25. 1 + 27 - 18.5 = 9.5.
  assert metrics.polynomial_mmd2(np.array([[0.0], [1.0]]),
                                 np.array([[1.0], [2.0]])) == pytest.approx(9.5)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
  same, _ = metrics.kid(a, b, subsets=10, subset_size=200)
  shifted, spread = metrics.kid(a, b + 1.0, subsets=10, subset_size=200)
  assert abs(same) < 0.05 and shifted > 1.0 and spread > 0
  # Small sets: one estimate over the whole sets.
  assert metrics.kid(a[:50], b[:50], subset_size=1000) == (
      pytest.approx(metrics.polynomial_mmd2(a[:50], b[:50])), 0.0)


def test_gate_with_upper_bounds_and_a_lower_is_better_baseline():
  table, failures = outcome.gate({"acc": 0.9, "fid_to_floor": 3.0}, {"acc": 0.8},
                                 {"fid_to_floor": 2.5})
  assert table["acc"]["ok"] and not table["fid_to_floor"]["ok"]
  assert failures == ["fid_to_floor = 3.0 is above the upper bound 2.5"]
  table, failures = outcome.gate({"fid_to_floor": 2.0}, {}, {"fid_to_floor": 2.5})
  outcome.gate_against_baseline(table, failures, "fid_to_floor", 2.0, {"fid_to_floor": 1.4},
                                0.5, higher_is_better=False)
  assert table["fid_to_floor"]["max_increase"] == 0.5 and not table["fid_to_floor"]["ok"]
  assert failures == ["fid_to_floor = 2.0000 is more than 0.5 above the baseline 1.4000"]
  table, failures = outcome.gate({"fid_to_floor": 1.8}, {}, {"fid_to_floor": 2.5})
  outcome.gate_against_baseline(table, failures, "fid_to_floor", 1.8, {"fid_to_floor": 1.4},
                                0.5, higher_is_better=False)
  assert table["fid_to_floor"]["ok"] and not failures
