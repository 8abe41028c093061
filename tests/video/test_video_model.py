"""Video models at tiny sizes: shapes, learning motion that no single frame shows, and TFLite
(float, int8) and ONNX exports that agree with Keras."""

import numpy as np
import pytest
import tf_keras as keras

from components.edge_export import export
from pipelines.video import model as video_model
from pipelines.video.config import TrainConfig
from pipelines.vision.config import ImageConfig

IMAGE = ImageConfig(height=16, width=16, channels=1)
FRAMES = 4


def moving_squares(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Clips of a bright square moving left (class 0) or right (class 1) from a random start:
  every single frame of one class also occurs in the other."""
  rng = np.random.default_rng(seed)
  clips = np.zeros((n, FRAMES, 16, 16, 1), np.float32)
  labels = rng.integers(0, 2, n)
  for i, label in enumerate(labels):
    y, x = rng.integers(2, 10), rng.integers(3, 9)
    step = 1 if label else -1
    for t in range(FRAMES):
      clips[i, t, y:y + 4, x + step * t:x + step * t + 4] = 1.0
  return clips, labels


@pytest.mark.parametrize("name", sorted(video_model.BUILDERS))
def test_models_learn_the_direction_of_motion(name):
  keras.utils.set_random_seed(0)
  train = TrainConfig(model=name, width=4, lstm_units=8, dropout=0.0, learning_rate=1e-2)
  model = video_model.build(2, FRAMES, IMAGE, train)
  x, y = moving_squares(64)
  probs = model(x[:3]).numpy()  # eagerly: tracing predict() costs seconds
  assert probs.shape == (3, 2)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
  model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                metrics=["accuracy"])
  history = model.fit(x, y, epochs=12, batch_size=16, verbose=0).history
  assert history["loss"][-1] < 0.5 * history["loss"][0]
  assert history["accuracy"][-1] > 0.9


def test_the_single_frame_baseline_sees_one_frame():
  model = video_model.build_single_frame(3, IMAGE, TrainConfig(width=4, lstm_units=8))
  assert model.input_shape == (None, 16, 16, 1) and model.output_shape == (None, 3)
  x, y = moving_squares(4)
  frame, label = video_model.middle_frame(x, y)
  np.testing.assert_array_equal(frame, x[:, FRAMES // 2])
  np.testing.assert_array_equal(label, y)


def test_the_lstm_model_converts_with_builtin_ops_and_agrees_with_keras(tmp_path):
  """(The default (2+1)D model's edge models are scored in the video e2e.)"""
  keras.utils.set_random_seed(1)
  model = video_model.build(2, FRAMES, IMAGE, TrainConfig(model="cnn_lstm", width=4,
                                                          lstm_units=8))
  x, _ = moving_squares(16, seed=1)
  reference = model.predict(x, verbose=0)
  for variant in ("float32", "int8"):
    content = export.to_tflite(model, variant, x)
    got = export.tflite_predict(content, x, input_names=model.input_names,
                                output_names=model.output_names)
    assert got.shape == reference.shape
    np.testing.assert_allclose(got, reference, atol=1e-4 if variant == "float32" else 0.1)
  path = str(tmp_path / "model.onnx")
  export.to_onnx(model, path)
  np.testing.assert_allclose(export.onnx_predict(path, x), reference, atol=1e-4)
