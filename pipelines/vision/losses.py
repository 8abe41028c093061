"""Metric-learning losses shared by every task that learns embeddings (retrieval, similarity).

Both take class ids `y_true` [N] (or [N, 1]) and embeddings `y_pred` [N, D] of one batch and form
their pairs / triplets inside the batch, so one shared-weight ("Siamese") network embeds every
image once and every in-batch pair is a training pair. Use P x K batches (`sampling.pk_batches`)
so every batch holds positives.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def pairwise_distances(embeddings: tf.Tensor, squared: bool = False) -> tf.Tensor:
  """Euclidean distances [N, N] between rows, with a gradient that is finite at zero distance."""
  embeddings = tf.cast(embeddings, tf.float32)
  sq = tf.reduce_sum(tf.square(embeddings), axis=1)
  d2 = sq[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True) + sq[None, :]
  d2 = tf.maximum(d2, 0.0)
  if squared:
    return d2
  zero = tf.cast(tf.equal(d2, 0.0), tf.float32)
  return tf.sqrt(d2 + zero * 1e-16) * (1.0 - zero)


def _masks(labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(positive pairs without the diagonal, negative pairs) as float [N, N]."""
  labels = tf.reshape(labels, [-1])
  same = tf.equal(labels[:, None], labels[None, :])
  eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
  positive = tf.cast(tf.logical_and(same, tf.logical_not(eye)), tf.float32)
  negative = tf.cast(tf.logical_not(same), tf.float32)
  return positive, negative


def contrastive_loss(labels: tf.Tensor, embeddings: tf.Tensor, margin: float = 1.0) -> tf.Tensor:
  """Contrastive loss (Hadsell, Chopra, LeCun 2006) over every pair in the batch.

  Positive pairs cost d^2, negative pairs max(0, margin - d)^2. The two terms are averaged
  separately and added, so the loss stays balanced although negatives outnumber positives.
  """
  d = pairwise_distances(embeddings)
  positive, negative = _masks(labels)
  pos = tf.reduce_sum(positive * tf.square(d)) / tf.maximum(tf.reduce_sum(positive), 1.0)
  neg = (tf.reduce_sum(negative * tf.square(tf.nn.relu(margin - d))) /
         tf.maximum(tf.reduce_sum(negative), 1.0))
  return pos + neg


def triplet_semihard_loss(labels: tf.Tensor, embeddings: tf.Tensor,
                          margin: float = 1.0) -> tf.Tensor:
  """Triplet loss with online semi-hard negative mining (Schroff et al., FaceNet, 2015).

  For every anchor-positive pair (a, p) the negative is the closest one farther than the
  positive (d(a, n) > d(a, p)); when no negative is farther, the farthest negative. The loss is
  the mean of max(d(a, p) - d(a, n) + margin, 0) over all anchor-positive pairs (the semantics of
  tensorflow-addons' `TripletSemiHardLoss`, on non-squared distances).
  """
  d = pairwise_distances(embeddings)
  positive, negative = _masks(labels)
  big = tf.reduce_max(d) + 1.0
  # [a, p, n]: is n a negative of a that lies farther than p?
  d_ap = d[:, :, None]
  d_an = d[:, None, :]
  farther = tf.logical_and(tf.cast(negative[:, None, :], tf.bool), d_an > d_ap)
  semi_hard = tf.reduce_min(tf.where(farther, d_an, big), axis=2)
  has_semi_hard = tf.reduce_any(farther, axis=2)
  hardest_fallback = tf.reduce_max(tf.where(tf.cast(negative, tf.bool), d, 0.0), axis=1)
  chosen = tf.where(has_semi_hard, semi_hard, hardest_fallback[:, None])
  losses = tf.nn.relu(d - chosen + margin) * positive
  return tf.reduce_sum(losses) / tf.maximum(tf.reduce_sum(positive), 1.0)


class _MarginLoss(keras.losses.Loss):
  """A Keras loss over (class ids, embeddings) with a margin; subclasses set the function."""
  loss_fn = None
  default_name = ""

  def __init__(self, margin: float = 1.0, name: str | None = None, **kwargs):
    super().__init__(name=name or self.default_name, **kwargs)
    self.margin = margin

  def call(self, y_true, y_pred):
    return self.loss_fn(y_true, y_pred, self.margin)

  def get_config(self):
    return {**super().get_config(), "margin": self.margin}


@keras.utils.register_keras_serializable(package="cvpipe")
class ContrastiveLoss(_MarginLoss):
  """Keras wrapper of `contrastive_loss` (y_true: class ids, y_pred: embeddings)."""
  loss_fn = staticmethod(contrastive_loss)
  default_name = "contrastive_loss"


@keras.utils.register_keras_serializable(package="cvpipe")
class TripletSemiHardLoss(_MarginLoss):
  """Keras wrapper of `triplet_semihard_loss` (y_true: class ids, y_pred: embeddings)."""
  loss_fn = staticmethod(triplet_semihard_loss)
  default_name = "triplet_semihard_loss"


def get(name: str, margin: float) -> keras.losses.Loss:
  """The loss for a config name: "contrastive" (Siamese) or "triplet" (semi-hard mining)."""
  if name == "contrastive":
    return ContrastiveLoss(margin)
  if name == "triplet":
    return TripletSemiHardLoss(margin)
  raise ValueError(f"unknown metric-learning loss {name!r}; use contrastive or triplet")
