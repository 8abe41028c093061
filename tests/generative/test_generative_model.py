"""The GAN builders, the custom train_step, the serving module ((label, seed) -> image, PNG; the
judge; unconditional models) and the edge scoring on tiny inputs."""

import dataclasses
import json
import os
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
import tf_keras as keras
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components.edge_export import export
from components.gen_eval import evaluate
from pipelines import config_loader
from pipelines.generative import edge
from pipelines.generative import model
from pipelines.generative import task
from pipelines.generative.config import GanConfig
from pipelines.generative.config import JudgeConfig
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig
from pipelines.infra import local_pipeline

IMAGE = ImageConfig(height=16, width=16, channels=1)
GAN = GanConfig(width=8, latent_dim=8, class_embedding=4, epochs=2, batch_size=8,
                class_loss_weight=1.0)
JUDGE = JudgeConfig(width=4, features=8, epochs=1)
CLASSES = ["a", "b", "c"]


def _data():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(24, 16, 16, 1)).astype(np.float32)
  labels = np.arange(24) % 3
  return images, labels


def test_builders_have_the_documented_shapes():
  generator = model.build_generator(3, IMAGE, GAN)
  assert generator.input_names == ["latent", "label"]
  out = generator([np.zeros((2, 8), np.float32), np.eye(3, dtype=np.float32)[:2]]).numpy()
  assert out.shape == (2, 16, 16, 1) and 0 <= out.min() and out.max() <= 1
  assert model.build_generator(0, IMAGE, GAN).input_names == ["latent"]
  logits, classes = model.build_discriminator(3, IMAGE, GAN)([out, np.eye(3, dtype=np.float32)[:2]])
  assert logits.shape == (2, 1) and classes.shape == (2, 3)
  plain = model.build_discriminator(3, IMAGE, dataclasses.replace(GAN, class_loss_weight=0.0))
  assert plain([out, np.eye(3, dtype=np.float32)[:2]]).shape == (2, 1)
  assert model.build_discriminator(0, IMAGE, GAN)(out).shape == (2, 1)
  probs, features = model.build_judge(3, IMAGE, JUDGE)(out)
  assert probs.shape == (2, 3) and features.shape == (2, 8)


def test_train_step_moves_both_networks_and_logs_epoch_means():
  images, labels = _data()
  generator = model.build_generator(3, IMAGE, GAN)
  discriminator = model.build_discriminator(3, IMAGE, GAN)
  g0 = [w.copy() for w in generator.get_weights()]
  d0 = [w.copy() for w in discriminator.get_weights()]
  history, exported = model.train_gan(
      generator, discriminator, tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), 3,
      GAN)
  assert exported is not generator and exported.name == generator.name  # the EMA generator
  _, last = model.train_gan(generator, discriminator,
                            tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), 3,
                            dataclasses.replace(GAN, ema_decay=0.0, epochs=1))
  assert last is generator  # no average: the trained generator itself
  gan = model.GAN(generator, discriminator, 3, GAN.latent_dim, GAN.real_label)
  model.fit_adversarial(gan, tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), 1,
                        1e-3, 0.5)
  assert gan.train_function.experimental_get_tracing_count() == 1  # both optimizers built first
  assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake", "class_loss"}
  assert all(v > 0 for v in history["class_loss"])  # the AC-GAN head (class_loss_weight 1)
  assert all(len(v) == GAN.epochs and np.isfinite(v).all() for v in history.values())
  assert any(not np.allclose(a, b) for a, b in zip(g0, generator.get_weights()))
  assert any(not np.allclose(a, b) for a, b in zip(d0, discriminator.get_weights()))


def test_projection_discriminator_adds_the_class_embedding_dot_the_features():
  cfg = dataclasses.replace(GAN, class_loss_weight=0.0, conditioning="projection")
  d = model.build_discriminator(3, IMAGE, cfg)
  assert "class_map" not in [layer.name for layer in d.layers]  # no class channel
  images = np.random.default_rng(1).uniform(size=(3, 16, 16, 1)).astype(np.float32)
  onehot = np.eye(3, dtype=np.float32)
  features = keras.Model(d.inputs, d.get_layer("flat").output)([images, onehot]).numpy()
  unconditional = keras.Model(d.inputs, d.get_layer("logit").output)([images, onehot]).numpy()
  embedding = d.get_layer("class_projection").get_weights()[0]  # [classes, features]
  expected = unconditional[:, 0] + (features * embedding).sum(axis=1)
  np.testing.assert_allclose(d([images, onehot], training=False).numpy()[:, 0], expected,
                             rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="conditioning"):
    config_loader.from_dict(GanConfig, {"conditioning": "film"}, "train")


def test_ema_generator_is_the_warmed_up_average_of_the_trained_weights():
  images, labels = _data()
  cfg = dataclasses.replace(GAN, class_loss_weight=0.0, ema_decay=0.5, epochs=1)
  generator = model.build_generator(3, IMAGE, cfg)
  discriminator = model.build_discriminator(3, IMAGE, cfg)
  gan = model.GAN(generator, discriminator, 3, cfg.latent_dim, ema_decay=cfg.ema_decay)
  start = [w.copy() for w in generator.get_weights()]
  seen = []

  class Record(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
      seen.append([w.copy() for w in generator.get_weights()])

  gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
  gan.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), epochs=1, verbose=0,
          callbacks=[Record()])
  # Step t (1, 2, 3) averages with decay min(0.5, (1 + t) / (10 + t)) = 2/11, 3/12, 4/13.
  expected = start
  for t, weights in enumerate(seen, start=1):
    decay = min(0.5, (1 + t) / (10 + t))
    expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights)]
  assert gan.trained_generator is gan.averaged is not generator
  for got, want in zip(gan.averaged.get_weights(), expected):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  assert gan.averaged.name == generator.name  # the bundle's layer name stays "generator"
  with pytest.raises(ValueError, match="ema_decay"):
    config_loader.from_dict(GanConfig, {"ema_decay": 1.0}, "train")


@pytest.fixture(scope="module")
def transform_output():
  png = tf.io.encode_png(tf.zeros([8, 8, 1], tf.uint8)).numpy()
  raw = [{"image": [png], "label": [c.encode()]} for c in CLASSES]
  spec = {"image": tf.io.FixedLenFeature([1], tf.string),
          "label": tf.io.FixedLenFeature([1], tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  out = tempfile.mkdtemp()
  config = {"image": {"height": 16, "width": 16, "channels": 1}}
  with local_pipeline() as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp()):
    transform_fn = (pipeline | beam.Create(raw), metadata) | tft_beam.AnalyzeDataset(
        lambda inputs: transform.preprocessing_fn(inputs, config))
    _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The raw metadata: the serving module's raw feature spec (Transform writes it in the DAG).
    _ = metadata | tft_beam.WriteMetadata(
        os.path.join(out, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline=pipeline)
  return tft.TFTransformOutput(out)


def _example(i: int) -> tuple[bytes, dict]:
  """A serialized example of class CLASSES[i] with a random 8x8 image."""
  pixels = np.random.default_rng(i).integers(0, 255, (8, 8, 1), dtype=np.uint8)
  png = tf.io.encode_png(pixels).numpy()
  example = tf.train.Example(features=tf.train.Features(feature={
      "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
      "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[CLASSES[i].encode()]))}))
  return example.SerializeToString(), {"label": CLASSES[i]}


@pytest.mark.parametrize("conditional", [True, False])
def test_serving_generates_the_same_image_for_the_same_seed(transform_output, conditional,
                                                            tmp_path):
  generator = model.build_generator(3 if conditional else 0, IMAGE, GAN)
  judge = model.build_judge(3, IMAGE, JUDGE)
  names = transform.class_names(transform_output)
  model.GenerativeServingModule(generator, judge, transform_output, names, conditional).save(
      str(tmp_path), task="generative")
  loaded = tf.saved_model.load(str(tmp_path))
  assert set(loaded.signatures) == {"serving_default", "serving_latent", "judge",
                                    "transform_features"}
  out = loaded.signatures["serving_default"](label=tf.constant(["a", "a", "b"]),
                                             seed=tf.constant([5, 5, 6], tf.int64))
  images = out["image"].numpy()
  assert np.array_equal(images[0], images[1]) and not np.array_equal(images[0], images[2])
  decoded = tf.io.decode_png(out["png"][2]).numpy() / 255.0
  assert np.abs(decoded - images[2]).max() <= 1 / 255 + 1e-6
  latent = model.seed_latents(tf.constant([5], tf.int64), GAN.latent_dim)
  again = loaded.signatures["serving_latent"](latent=latent, label=tf.constant(["a"]))
  np.testing.assert_allclose(again["image"].numpy()[0], images[0], atol=1e-6)
  judged = loaded.signatures["judge"](images=tf.constant(images))
  assert judged["probabilities"].shape == (3, 3) and judged["features"].shape == (3, 8)
  # The evaluator on this model: FID against the floor, conditional accuracy only when
  # conditioned, the gate's upper bound on FID / floor.
  rows = [_example(i % 3) for i in range(12)]
  result = evaluate.evaluate(str(tmp_path), None, rows[:6], rows[6:], str(tmp_path / "ev"),
                             max_fid_to_floor=1e9, conditional_accuracy_lower_bound=0.0)
  assert result["metrics"]["fid_floor"] >= 0 and result["metrics"]["examples"] == 6
  assert ("conditional_accuracy" in result["metrics"]) == conditional
  assert set(result["thresholds"]) == ({"fid_to_floor", "conditional_accuracy"} if conditional
                                       else {"fid_to_floor"})
  assert result["thresholds"]["fid_to_floor"]["upper_bound"] == 1e9
  if conditional:
    assert out["class_id"].numpy().tolist() == [names.index("a")] * 2 + [names.index("b")]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="unknown class label; the model knows: "):
      loaded.signatures["serving_default"](label=tf.constant(["zebra"]),
                                           seed=tf.constant([0], tf.int64))
  else:
    assert out["class_id"].numpy().tolist() == [-1, -1, -1]
    assert out["label"].numpy().tolist() == [b"", b"", b""]


def test_edge_scoring_runs_the_generator_and_judges_with_keras():
  images, labels = _data()
  generator = model.build_generator(3, IMAGE, GAN)
  judge = model.build_judge(3, IMAGE, JUDGE)
  bundle = model.build_bundle(generator, judge)
  parts = edge.parts(bundle, {})
  preprocessing = {"latent_dim": 8, "conditional": True, "num_classes": 3}
  predictors = {p: export.keras_predictor(m) for p, m in parts.items()}
  outputs = edge.generate(predictors, [labels, images], preprocessing)
  scores = edge.fid_scores(outputs, {"label_xf": labels}, outputs)
  assert scores["fid_vs_keras"] == pytest.approx(1.0) and scores["pixel_mae_vs_keras"] == 0
  assert 0 <= scores["conditional_accuracy"] <= 1 and scores["fid"] >= 0
  unconditional = edge.generate(
      {"generator": export.keras_predictor(model.build_generator(0, IMAGE, GAN)),
       "judge": predictors["judge"]}, [labels, images], {**preprocessing, "conditional": False})
  assert "conditional_accuracy" not in edge.fid_scores(unconditional, {"label_xf": labels},
                                                       unconditional)


def test_predict_request_files():
  ok = task.request_from_file("r.json", json.dumps({"label": "3", "seed": 7}).encode())
  assert ok == {"label": "3", "seed": 7, "source": "r.json"}
  assert task.seed_instances([ok, {"label": "4"}]) == [{"label": "3", "seed": 7},
                                                       {"label": "4", "seed": 1}]
  assert "JSON" in task.request_from_file("x.png", b"\x89PNG\r\n")
  assert "seed" in task.request_from_file("r.json", b'{"label": "3"}')
  prediction = {"image": np.zeros((16, 16, 1)).tolist(), "png": "x" * 40, "class_id": 3,
                "label": "3"}
  assert task.describe(prediction) == "class 3: 16x16x1 image, PNG of 40 bytes"
