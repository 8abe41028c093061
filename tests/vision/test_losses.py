"""Metric-learning losses: known values on tiny tensors, mining choices, gradients, save/load."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from pipelines.vision import losses


def test_pairwise_distances_match_numpy_and_have_finite_gradients_at_zero():
  x = tf.constant([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
  with tf.GradientTape() as tape:
    tape.watch(x)
    d = losses.pairwise_distances(x)
  np.testing.assert_allclose(d.numpy(), [[0, 5, 0], [5, 0, 5], [0, 5, 0]], atol=1e-6)
  assert np.isfinite(tape.gradient(d, x).numpy()).all()


def test_contrastive_loss_known_value():
  labels = tf.constant([0, 0, 1])
  emb = tf.constant([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
  # Positive pair (0,1): d=1. Negatives: d(0,2)=2, d(1,2)=sqrt(5); margin 2.5.
  expected = 1.0 + ((2.5 - 2) ** 2 + (2.5 - math.sqrt(5)) ** 2) / 2
  assert float(losses.contrastive_loss(labels, emb, margin=2.5)) == pytest.approx(expected, 1e-5)
  # Negatives beyond the margin cost nothing.
  assert float(losses.contrastive_loss(labels, emb, margin=1.5)) == pytest.approx(1.0, 1e-5)


def test_triplet_semihard_loss_known_value_and_fallback():
  labels = tf.constant([0, 0, 1, 1])
  emb = tf.constant([[0.0], [1.0], [1.5], [3.0]])
  # Anchor-positive pairs (a, p, chosen negative distance):
  #  (0,1): d_ap=1, negatives at 1.5 and 3 are farther -> semi-hard 1.5: 1 - 1.5 + 1 = 0.5
  #  (1,0): d_ap=1, only the negative at 2 is farther -> 1 - 2 + 1 = 0
  #  (2,3): d_ap=1.5, no negative farther than 1.5 -> fallback farthest (1.5): 1.0
  #  (3,2): d_ap=1.5, negatives at 3 and 2 -> 2: 0.5
  loss = losses.triplet_semihard_loss(labels, emb, margin=1.0)
  assert float(loss) == pytest.approx((0.5 + 0 + 1 + 0.5) / 4, 1e-5)


def test_losses_are_zero_without_positives_and_accept_column_labels():
  emb = tf.constant([[0.0], [5.0]])
  assert float(losses.triplet_semihard_loss(tf.constant([[0], [1]]), emb)) == 0.0
  assert float(losses.contrastive_loss(tf.constant([[0], [1]]), emb, margin=1.0)) == 0.0


@pytest.mark.parametrize("name", ["contrastive", "triplet"])
def test_training_with_each_loss_separates_classes_and_the_model_round_trips(name, tmp_path):
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.normal(0, 1, (16, 4)), rng.normal(3, 1, (16, 4))]).astype(np.float32)
  y = np.array([0] * 16 + [1] * 16)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                            keras.layers.UnitNormalization()])
  model.compile(keras.optimizers.Adam(0.05), loss=losses.get(name, 0.5))
  history = model.fit(x, y, batch_size=32, epochs=30, verbose=0, shuffle=False).history["loss"]
  assert history[-1] < history[0] * 0.5
  path = str(tmp_path / "m.keras")
  model.save(path)
  again = keras.models.load_model(path)
  assert again.loss.margin == 0.5
  np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_unknown_loss_name():
  with pytest.raises(ValueError, match="unknown metric-learning loss 'arcface'"):
    losses.get("arcface", 1.0)
