"""The translation task on tiny inputs: conditions by construction, the U-Net and PatchGAN
shapes, the pix2pix train_step, PSNR by hand."""

import numpy as np
import pytest
import tensorflow as tf

from components.gen_eval import metrics
from pipelines.translation import model
from pipelines.translation.config import TranslationTrainConfig
from pipelines.vision.config import ImageConfig

IMAGE = ImageConfig(height=16, width=16, channels=1)
TRAIN = TranslationTrainConfig(width=4, depth=2, epochs=2, batch_size=8)


def test_edges_mark_the_boundary_of_a_square_and_are_scaled_per_image():
  image = np.zeros((1, 16, 16, 1), np.float32)
  image[0, 4:12, 4:12] = 0.5
  e = model.edges(tf.constant(image)).numpy()[0, :, :, 0]
  assert e.max() == pytest.approx(1.0, abs=1e-4)
  assert e[8, 8] == pytest.approx(0.0, abs=1e-4) and e[0, 0] == pytest.approx(0.0, abs=1e-4)
  assert e[4, 8] > 0.5 and e[8, 3] > 0.5  # on the square's border


def test_noise_is_fresh_in_training_and_seeded_at_serving():
  images = tf.fill([2, 16, 16, 1], 0.5)
  seeded = model.conditions(images, "denoise", 0.3, tf.constant([7, 7], tf.int64)).numpy()
  assert np.array_equal(seeded[0], seeded[1]) and seeded.std() > 0.1
  assert 0 <= seeded.min() and seeded.max() <= 1
  fresh = model.conditions(images, "denoise", 0.3).numpy()
  assert not np.array_equal(fresh[0], fresh[1])
  seeds = model.byte_seeds(tf.constant([b"a", b"a", b"b"])).numpy()
  assert seeds[0] == seeds[1] != seeds[2]


def test_unet_and_patchgan_shapes_and_the_train_step():
  generator = model.build_generator(IMAGE, TRAIN)
  discriminator = model.build_discriminator(IMAGE, TRAIN)
  x = np.random.default_rng(0).uniform(size=(16, 16, 16, 1)).astype(np.float32)
  assert generator(x).shape == (16, 16, 16, 1)
  assert discriminator([x, x]).shape == (16, 4, 4, 1)
  before = [w.copy() for w in generator.get_weights()]
  history = model.train_translator(generator, discriminator,
                                   tf.data.Dataset.from_tensor_slices(x).batch(8), TRAIN)
  assert set(history) == {"d_loss", "g_loss", "g_adv", "l1"}
  assert all(np.isfinite(v).all() and len(v) == TRAIN.epochs for v in history.values())
  assert any(not np.allclose(a, b) for a, b in zip(before, generator.get_weights()))
  # g_loss is the adversarial loss plus l1_weight x L1.
  assert history["g_loss"][-1] == pytest.approx(history["g_adv"][-1] + 100 * history["l1"][-1],
                                                rel=1e-4)


def test_psnr_by_hand():
  a = np.zeros((2, 4, 4, 1))
  b = np.full((2, 4, 4, 1), 0.1)  # MSE 0.01 -> 20 dB
  assert metrics.psnr(a, b) == pytest.approx(20.0)
  assert metrics.psnr(a, a) == pytest.approx(100.0)
