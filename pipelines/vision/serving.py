"""SavedModel export shared by every image task: one module holds the Keras model and the
tf.Transform layer, so serving applies exactly the training preprocessing.

Signatures of every exported model:
    serving_default(image_bytes: string[N])  -> the task's outputs (TF Serving's default)
    serving_examples(examples: string[N])    -> the same outputs, from serialized tf.Examples
    transform_features(examples: string[N])  -> transformed features (evaluators' label source),
                                                images as float [N, H, W, C] in [0, 1]
Tasks subclass `ImageServingModule`, define `outputs` and may add signatures (`extra_signatures`).
Tasks whose requests are not one image-bytes tensor (a generator takes a class and a seed; a video
model takes frames) subclass `ServingModule` and declare their own `signatures`.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components.common import contract
from components.common.weights_only import WeightsOnly
from pipelines.vision import autograph
from pipelines.vision import preprocessing
from pipelines.vision.transform import IMAGE_KEY
from pipelines.vision.transform import SERVING_INPUT
from pipelines.vision.transform import xf

autograph.skip_library_code()


class ServingModule(tf.Module):
  """Base of every served model: its signatures, saved with the task it serves. Modules that
  hold the tf.Transform layer (`tft_layer`) set `image_shapes` (stored image feature -> one
  image's shape) and transform with `transformed`."""

  tft_layer = None
  image_shapes: dict = {}

  def transformed(self, raw_features: dict) -> dict:
    """The tf.Transform layer's features of raw features, stored images as float images."""
    return preprocessing.decoded(self.tft_layer(raw_features), self.image_shapes)

  def signatures(self) -> dict:
    """Signature name -> concrete function; `serving_default` is what TF Serving answers."""
    raise NotImplementedError

  def save(self, export_dir: str, task: str) -> None:
    """Saves the SavedModel and records `task` in `assets.extra/` (read by `cvpipe predict`)."""
    tf.saved_model.save(self, export_dir, signatures=self.signatures())
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, contract.TASK_FILE), "w") as f:
      json.dump({"task": task}, f)


class ImageServingModule(ServingModule):
  """Serving module of image-in tasks; subclasses map the Keras model's output to named
  outputs."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               image_shape: tuple[int, ...] | None = None):
    super().__init__()
    self.model = WeightsOnly(model)
    self.tft_layer = tft_output.transform_features_layer()
    # One transformed image's shape (default: the model's only input's).
    self.image_shapes = {xf(IMAGE_KEY): tuple(image_shape or model.input_shape[1:])}
    raw_spec = tft_output.raw_feature_spec()
    self._raw_spec = raw_spec
    self._serving_spec = {k: v for k, v in raw_spec.items() if k == IMAGE_KEY}

  def outputs(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Named outputs for transformed images [N, H, W, C]."""
    raise NotImplementedError

  def images_from_bytes(self, image_bytes: tf.Tensor) -> tf.Tensor:
    """Transformed images for a [N] batch of encoded images."""
    # The inferred schema may give the image feature shape [1]; match it.
    shape = self._raw_spec[IMAGE_KEY].shape
    return self.transformed({IMAGE_KEY: tf.reshape(image_bytes, [-1, *shape])})[xf(IMAGE_KEY)]

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])
  def serve_image_bytes(self, image_bytes):
    return self.outputs(self.images_from_bytes(image_bytes))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, examples):
    features = self.transformed(tf.io.parse_example(examples, self._serving_spec))
    return self.outputs(features[xf(IMAGE_KEY)])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def transform_features(self, examples):
    return self.transformed(tf.io.parse_example(examples, self._raw_spec))

  def extra_signatures(self) -> dict:
    return {}

  def signatures(self) -> dict:
    return {
        "serving_default": self.serve_image_bytes.get_concrete_function(),
        "serving_examples": self.serve_examples.get_concrete_function(),
        "transform_features": self.transform_features.get_concrete_function(),
        **self.extra_signatures(),
    }


class ClassifierServingModule(ImageServingModule):
  """Outputs classes, scores, predicted_class, predicted_score (TF Serving classify style)."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: list[str]):
    super().__init__(model, tft_output)
    self.class_names = tf.constant(class_names)

  def outputs(self, images):
    return class_outputs(self.model(images, training=False), self.class_names)


def class_outputs(scores: tf.Tensor, class_names: tf.Tensor) -> dict[str, tf.Tensor]:
  """A classifier's served outputs for class probabilities `scores` [N, K]."""
  top = tf.argmax(scores, axis=-1)
  n = tf.shape(scores)[0]
  return {
      "classes": tf.tile(class_names[tf.newaxis, :], [n, 1]),
      "scores": scores,
      "predicted_class": tf.gather(class_names, top),
      "predicted_score": tf.reduce_max(scores, axis=-1),
  }


class EmbeddingServingModule(ImageServingModule):
  """Outputs `embedding` [N, D] (L2-normalised by the model) for retrieval and verification.

  With `threshold`, also `verify(image_a, image_b)` -> distance, same (distance <= threshold),
  threshold: face/pair verification with the operating point chosen on eval. With `decoder`
  (autoencoders), also `reconstruct(image_bytes)` -> reconstruction [N, H, W, C] in [0, 1].
  """

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               threshold: float | None = None, autoencoder: keras.Model | None = None):
    super().__init__(model, tft_output)
    self.threshold = None if threshold is None else tf.constant(threshold, tf.float32)
    self.autoencoder = None if autoencoder is None else WeightsOnly(autoencoder)
    # Optional signatures exist as functions only when their parts do (saving traces every
    # tf.function attribute of the module).
    if threshold is not None:
      self.verify = tf.function(self._verify, input_signature=[
          tf.TensorSpec([None], tf.string, name="image_a"),
          tf.TensorSpec([None], tf.string, name="image_b")])
    if autoencoder is not None:
      self.reconstruct = tf.function(self._reconstruct, input_signature=[
          tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])

  def outputs(self, images):
    return {"embedding": self.model(images, training=False)}

  def _verify(self, image_a, image_b):
    a = self.model(self.images_from_bytes(image_a), training=False)
    b = self.model(self.images_from_bytes(image_b), training=False)
    distance = tf.norm(a - b, axis=-1)
    n = tf.shape(distance)[0]
    return {"distance": distance, "same": distance <= self.threshold,
            "threshold": tf.fill([n], self.threshold)}

  def _reconstruct(self, image_bytes):
    return {"reconstruction": self.autoencoder(self.images_from_bytes(image_bytes),
                                               training=False)}

  def extra_signatures(self) -> dict:
    out = {}
    if self.threshold is not None:
      out["verify"] = self.verify.get_concrete_function()
    if self.autoencoder is not None:
      out["reconstruct"] = self.reconstruct.get_concrete_function()
    return out
