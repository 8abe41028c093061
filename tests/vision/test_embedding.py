"""Embedding models: unit-length outputs, autoencoder shapes, training reduces loss, and the
metric-learning trainer separates real digit classes."""

import numpy as np
import pytest

from pipelines.classification import model as classification_model
from pipelines.classification.config import TrainConfig
from pipelines.vision import embedding
from components.common import metrics
from pipelines.vision.config import AugmentConfig, ImageConfig, MetricLearningConfig
from tests.conftest import digit_images


def _digits(per_class=12):
  images = digit_images(classes=(0, 1, 4, 7), per_class=per_class)
  x = np.stack([im for c in images.values() for im in c])[..., None].astype(np.float32) / 255
  return x, np.repeat(np.arange(4), per_class)


def test_embedding_network_and_classifier_bottleneck_are_unit_length():
  x, _ = _digits(2)
  net = embedding.embedding_network(ImageConfig(16, 16, 1), 12)
  out = net.predict(x, verbose=0)
  assert out.shape == (8, 12)
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
  clf = classification_model.build_classifier(4, ImageConfig(16, 16, 1),
                                              TrainConfig(widths=(8, 16, 40)))
  bottleneck = embedding.from_classifier(clf).predict(x, verbose=0)
  assert bottleneck.shape == (8, 40)  # the last stage's width
  np.testing.assert_allclose(np.linalg.norm(bottleneck, axis=1), 1, atol=1e-5)


def test_denoising_autoencoder_learns_and_its_code_is_the_embedding():
  x, _ = _digits()
  ae, encoder = embedding.autoencoder(ImageConfig(16, 16, 1), code_size=8)
  assert ae.output_shape == (None, 16, 16, 1) and encoder.output_shape == (None, 8)
  history = embedding.fit_autoencoder(ae, x, x[:8], noise_stddev=0.2, epochs=8, batch_size=8,
                                      learning_rate=3e-3, lr_schedule="constant",
                                      early_stopping_patience=0, reduce_lr_patience=1, seed=0)
  assert history["loss"][-1] < history["loss"][0]
  recon = ae.predict(x, verbose=0)
  assert recon.min() >= 0 and recon.max() <= 1


@pytest.mark.parametrize("loss,margin", [("contrastive", 1.0), ("triplet", 0.5)])
def test_metric_learning_separates_digit_classes(loss, margin):
  x, y = _digits()
  cfg = MetricLearningConfig(loss=loss, margin=margin, embedding_dim=16, classes_per_batch=4,
                             examples_per_class=4, epochs=12, learning_rate=3e-3,
                             early_stopping_patience=0, lr_schedule="constant",
                             augment=AugmentConfig(rotation=0, zoom=0, contrast=0), seed=0)
  net = embedding.embedding_network(ImageConfig(16, 16, 1), 16)
  history = embedding.fit_metric(net, x, y, x, y, cfg)
  assert history["loss"][-1] < history["loss"][0]
  emb = net.predict(x, verbose=0)
  ids, _ = metrics.exact_knn(emb, emb, 4, "euclidean")
  assert (y[ids[:, 1:]] == y[:, None]).mean() > 0.8
