import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from pipelines.classification import model
from pipelines.vision import transform
from pipelines.classification.config import ImageConfig, TrainConfig
from pipelines.vision import backbones, preprocessing, training
from pipelines.vision.config import AugmentConfig
from tests.conftest import digit_images


def _encoded(images, ext):
  return [cv2.imencode(ext, im)[1].tobytes() for im in images]


def test_decode_and_resize_reads_png_and_jpeg_of_any_size():
  gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))  # 20x25
  rgb = np.dstack([gray] * 3)
  batch = tf.constant(_encoded([gray], ".png") + _encoded([rgb], ".jpg"))
  out = preprocessing.decode_and_resize(batch, 16, 12, 1)
  assert out.shape == (2, 16, 12, 1)
  assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
  # Same content through PNG and JPEG decodes to nearly the same image.
  assert float(tf.reduce_mean(tf.abs(out[0] - out[1]))) < 0.05
  assert preprocessing.decode_and_resize(batch, 8, 8, 3).shape == (2, 8, 8, 3)


@pytest.mark.parametrize("shape", [(16, 12, 1), (8, 8, 3), (4, 8, 8, 1), (224, 224, 3)])
def test_stored_images_are_the_raw_pixels_and_decode_back(shape):
  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (3, *shape)).astype(np.uint8)
  stored = preprocessing.store(tf.constant(pixels / 255.0, tf.float32)).numpy()
  size = int(np.prod(shape))
  # One byte per value after a small fixed header: 224x224x3 costs 1.0001x the raw pixels.
  assert all(size < len(s) <= size + 32 and s.endswith(p.tobytes())
             for s, p in zip(stored, pixels))
  decoded = preprocessing.images(tf.constant(stored), shape)
  assert decoded.dtype == tf.float32 and decoded.shape == (3, *shape)
  np.testing.assert_array_equal(np.round(decoded.numpy() * 255).astype(np.uint8), pixels)
  decoded_2d = preprocessing.images(tf.constant(stored[:, None]), shape)  # [N, 1] as TFXIO
  np.testing.assert_array_equal(decoded_2d.numpy(), decoded.numpy())
  from components.common import images  # pylint: disable=g-import-not-at-top
  np.testing.assert_array_equal(images.pixels_from_stored(stored), decoded.numpy())


def test_stored_images_round_to_whole_pixels_and_clip():
  x = tf.constant([[[[0.5 / 255 + 1e-4], [-0.2]], [[1.7], [0.4]]]], tf.float32)  # 2x2x1
  decoded = preprocessing.images(preprocessing.store(x), (2, 2, 1)).numpy().reshape(-1)
  np.testing.assert_allclose(decoded * 255, [1, 0, 255, 102], atol=1e-4)


def test_stored_images_of_another_shape_are_an_error_naming_it():
  stored = preprocessing.store(tf.zeros([2, 16, 16, 1]))
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"not a uint8 image of shape "
                                                           r"\[8, 32, 1\]"):
    preprocessing.images(stored, (8, 32, 1))  # the same number of pixels, another shape
  from components.common import images  # pylint: disable=g-import-not-at-top
  assert images.pixels_from_stored(np.array([b"not pixels", b""], object)) is None
  assert images.pixels_from_stored(np.array([1.0, 2.0])) is None


def test_transform_writes_images_as_uint8_bytes_within_1_1x_of_raw_pixels():
  """Issue 12: a transformed 224x224x3 example costs the raw uint8 pixels, not float32's 4x."""
  rng = np.random.default_rng(1)
  photos = [rng.integers(0, 256, (300, 260, 3)).astype(np.uint8) for _ in range(2)]
  out = transform.preprocessing_fn(
      {transform.IMAGE_KEY: tf.constant(_encoded(photos, ".png"))},
      {"image": {"height": 224, "width": 224, "channels": 3}})
  stored = out[transform.xf(transform.IMAGE_KEY)]
  assert stored.dtype == tf.string
  example = tf.train.Example(features=tf.train.Features(feature={
      "image_xf": tf.train.Feature(bytes_list=tf.train.BytesList(value=[stored.numpy()[0]]))}))
  assert len(example.SerializeToString()) <= 1.1 * 224 * 224 * 3
  direct = preprocessing.decode_and_resize(tf.constant(_encoded(photos, ".png")), 224, 224, 3)
  np.testing.assert_allclose(preprocessing.images(stored, (224, 224, 3)), direct, atol=0.5 / 255)


@pytest.mark.parametrize("name, channels", [("small_cnn", 1), ("small_cnn", 3),
                                            ("mobilenet_v2", 1), ("mobilenet_v2", 3)])
def test_builders_output_class_probabilities(name, channels):
  m = model.build_classifier(4, ImageConfig(16, 16, channels), TrainConfig(model=name))
  probs = m(np.random.default_rng(0).random((2, 16, 16, channels), dtype=np.float32))
  assert probs.shape == (2, 4)
  np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-5)


def _digits_dataset():
  images = digit_images(classes=(0, 1, 7), per_class=16)
  x = np.stack([im for c in images.values() for im in c])[..., None].astype(np.float32) / 255
  y = np.repeat(np.arange(3), 16)
  return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=0).batch(8), x, y


def test_training_reduces_loss_small_cnn():
  ds, _, _ = _digits_dataset()
  m = model.build_classifier(3, ImageConfig(16, 16, 1), TrainConfig())
  history = model.train_classifier(m, ds, ds, TrainConfig(epochs=6, early_stopping_patience=0), 48)
  assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_mobilenet_fine_tuning_unfreezes_top_layers_only():
  ds, _, _ = _digits_dataset()
  cfg = TrainConfig(model="mobilenet_v2", epochs=1, fine_tune_epochs=1, fine_tune_layers=5,
                    early_stopping_patience=0)
  m = model.build_classifier(3, ImageConfig(16, 16, 1), cfg)
  history = model.train_classifier(m, ds, ds, cfg, 48)
  assert len(history["loss"]) == 2
  base = model._backbone(m)  # pylint: disable=protected-access
  trainable = [layer.name for layer in base.layers if layer.trainable_weights]
  assert trainable and all(layer.name in trainable
                           for layer in base.layers[-5:] if layer.trainable_weights)
  assert not base.layers[1].trainable_weights


@pytest.mark.parametrize("configured, expect_learns", [(0.9, False), (0.0, True)])
def test_small_data_evaluates_with_fresh_batch_norm_statistics(configured, expect_learns):
  # 48 images in batches of 16: 3 steps per epoch. With momentum 0.9 the moving statistics are
  # still near their initial values after 4 epochs (12 steps), so inference-mode predictions
  # are at chance although training learned; the automatic momentum makes them fresh.
  _, x, y = _digits_dataset()
  ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=0).batch(16)
  cfg = TrainConfig(epochs=4, early_stopping_patience=0, lr_schedule="constant",
                    batch_norm_momentum=configured,
                    augment=AugmentConfig(rotation=0, zoom=0, contrast=0))
  m = model.build_classifier(3, ImageConfig(16, 16, 1), cfg)
  model.train_classifier(m, ds, ds, cfg, len(x))
  accuracy = float(np.mean(np.argmax(m.predict(x, verbose=0), -1) == y))
  assert (accuracy > 0.8) == expect_learns, accuracy


def test_batch_norm_momentum_follows_steps_per_epoch():
  assert training.batch_norm_momentum(3) == 0.5
  assert training.batch_norm_momentum(30) == pytest.approx(0.05 ** (1 / 30))
  assert training.batch_norm_momentum(1875) == 0.99
  assert training.batch_norm_momentum(3, configured=0.9) == 0.9
  m = model.build_classifier(3, ImageConfig(16, 16, 1), TrainConfig(model="mobilenet_v2"))
  assert training.set_batch_norm_momentum(m, 0.7) > 10  # the nested MobileNetV2's too
  assert {l.momentum for l in m.submodules
          if isinstance(l, keras.layers.BatchNormalization)} == {0.7}


def test_one_iterator_gives_whole_reshuffled_passes_as_epochs():
  # 10 examples in batches of 4: 3 batches per pass (the last one short), every pass all 10
  # examples once, in a new order, all read through one iterator with autotuning off.
  ds = tf.data.Dataset.range(10).shuffle(10, seed=0, reshuffle_each_iteration=True).batch(4)
  steps = training.num_batches(10, 4)
  assert steps == 3 and training.num_batches(10, 4, drop_remainder=True) == 2
  assert training.num_batches(0, 4) == 1
  inputs = training.one_iterator(ds, steps)
  assert inputs["steps_per_epoch"] == 3
  assert inputs["x"].options().autotune.enabled is False
  it = iter(inputs["x"])
  passes = [np.concatenate([next(it).numpy() for _ in range(steps)]) for _ in range(3)]
  for p in passes:
    assert sorted(p.tolist()) == list(range(10))
  assert len({tuple(p) for p in passes}) > 1  # reshuffled

  seen = []

  class Count(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      seen.append(epoch)

  xy = tf.data.Dataset.from_tensor_slices((np.zeros((10, 2), np.float32),
                                           np.zeros(10, np.float32))).batch(4)
  net = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
  net.compile("sgd", "mse")
  history = net.fit(**training.one_iterator(xy, steps), epochs=3, verbose=0,
                    callbacks=[Count()])
  assert seen == [0, 1, 2] and len(history.history["loss"]) == 3


def test_augmentation_is_random_in_training_and_identity_in_inference():
  aug = backbones.augmentation(flip=True, rotation=0.1, zoom=0.1, contrast=0.1, seed=1)
  x = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
  np.testing.assert_array_equal(aug(x, training=False), x)
  assert not np.allclose(aug(x, training=True), x)


def test_dotted_paths_import():
  import importlib
  for dotted in (transform.PREPROCESSING_FN, model.RUN_FN):
    module, name = dotted.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_learning_rate_schedules(schedule):
  ds, _, _ = _digits_dataset()
  cfg = TrainConfig(epochs=3, lr_schedule=schedule, early_stopping_patience=0)
  m = model.build_classifier(3, ImageConfig(16, 16, 1), cfg)
  history = model.train_classifier(m, ds, ds, cfg, 48)
  final_lr = float(keras.backend.get_value(m.optimizer.learning_rate))
  if schedule == "cosine":
    lrs = [float(v) for v in history["lr"]]
    assert lrs[0] == pytest.approx(1e-3) and lrs[0] > lrs[1] > lrs[2] > 0
  else:
    assert final_lr == pytest.approx(1e-3)


def test_mobilenet_backbone_loads_weights_from_a_local_file(tmp_path):
  """The offline path for pretrained weights: a no-top MobileNetV2 weights file on disk."""
  _, donor = backbones.mobilenet_v2_backbone(32, 32, 3, alpha=0.35)
  path = str(tmp_path / "mobilenet_v2_no_top.h5")
  donor.save_weights(path)
  _, loaded = backbones.mobilenet_v2_backbone(32, 32, 3, alpha=0.35, weights=path)
  for a, b in zip(donor.get_weights(), loaded.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_history_file_records_metrics_and_epoch_seconds(tmp_path):
  ds, _, _ = _digits_dataset()
  cfg = TrainConfig(epochs=2, early_stopping_patience=0)
  m = model.build_classifier(3, ImageConfig(16, 16, 1), cfg)
  model.train_classifier(m, ds, ds, cfg, 48, log_dir=str(tmp_path))
  written = json.loads((tmp_path / "history.json").read_text())
  assert len(written["loss"]) == len(written["val_accuracy"]) == 2
  assert len(written["seconds"]) == 2 and all(0 < s < 120 for s in written["seconds"])


def test_the_training_step_is_traced_once_with_the_shared_callbacks():
  """Adam's slots created in the first trace make tf.function trace the step twice;
  `training.callbacks` (BuildOptimizers) creates them before it."""
  def traces(callbacks) -> int:
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    net.compile(optimizer=keras.optimizers.Adam(0.01),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    x, y = np.random.default_rng(0).uniform(size=(16, 4)), np.arange(16) % 3
    net.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    return net.train_function.experimental_get_tracing_count()

  assert traces([]) == 2
  assert traces(training.callbacks(2, 0.01, "constant", 0, 0)) == 1
