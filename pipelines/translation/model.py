"""Image-to-image translation, pix2pix style: a U-Net generator from a condition image to the
image, a PatchGAN discriminator on (condition, image) pairs, adversarial + L1 loss in a custom
`train_step`; the judge classifier of the generative task measures FID. Conditions are made from
every real image by construction (`conditions`), so every translation has its true target.

  generator      condition [N, H, W, C] in [0, 1] -> image [N, H, W, C] in [0, 1]
  discriminator  (condition, image) -> real/fake logits per patch [N, H / 4, W / 4, 1]

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N])  -> image [N, H, W, C] (the translation of the
                          sent condition image: an edge map, a noisy image), png [N]
      condition(image_bytes: string[N])        -> condition, png: the condition of real images
                          (edges; noise seeded by the image bytes, the same every call)
      serving_examples(examples: string[N])    -> image, png, condition: translations of the
                          examples' own conditions (what the evaluator scores)
      judge(images), transform_features(examples)
  {uri}/Format-Keras/     model.keras (the bundle: layers `generator` and `judge`), labels.txt,
                          preprocessing.json
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.generative import model as generative
from pipelines.translation.config import TranslationConfig
from pipelines.translation.config import TranslationTrainConfig
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig

GENERATOR, DISCRIMINATOR = "generator", "discriminator"

# ---------------------------------------------------------------------------------------------
# Conditions


def edges(images: tf.Tensor) -> tf.Tensor:
  """Sobel edge magnitude of the grey image, scaled to [0, 1] per image, in every channel."""
  grey = tf.reduce_mean(images, axis=-1, keepdims=True)
  sobel = tf.image.sobel_edges(grey)  # [N, H, W, 1, 2]
  magnitude = tf.sqrt(tf.reduce_sum(tf.square(sobel), axis=-1) + 1e-12)
  magnitude /= tf.reduce_max(magnitude, axis=[1, 2, 3], keepdims=True) + 1e-6
  return tf.repeat(magnitude, tf.shape(images)[-1], axis=-1)


def conditions(images: tf.Tensor, mode: str, noise_stddev: float,
               seeds: tf.Tensor | None = None) -> tf.Tensor:
  """The condition of every image: its edges, or the image with Gaussian noise (fresh random
  noise without `seeds`, else a stateless normal of each image's seed), clipped to [0, 1]."""
  if mode == "edges":
    return edges(images)
  if seeds is None:
    noise = tf.random.normal(tf.shape(images))
  else:
    shape = tf.shape(images)[1:]
    noise = tf.map_fn(lambda s: tf.random.stateless_normal(shape, seed=tf.stack([s, 1])),
                      tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)
  return tf.clip_by_value(images + noise_stddev * noise, 0.0, 1.0)


def byte_seeds(image_bytes: tf.Tensor) -> tf.Tensor:
  """A seed per encoded image, from its bytes: the same image gets the same noise anywhere."""
  return tf.strings.to_hash_bucket_fast(image_bytes, 2 ** 31 - 1)


# ---------------------------------------------------------------------------------------------
# Keras


def build_generator(image: ImageConfig, train: TranslationTrainConfig) -> keras.Model:
  """U-Net: stride-2 convolutions down `depth` levels, transposed convolutions up, each level
  concatenated with the encoder's map of the same size."""
  # The input is the condition image; named "image" like every single-input edge model's.
  condition = keras.Input((image.height, image.width, image.channels), name="image")
  x = layers.Rescaling(2.0, offset=-1.0, name="centre")(condition)
  x = layers.Conv2D(train.width, 3, padding="same", name="stem")(x)
  x = layers.LeakyReLU(0.2, name="stem_relu")(x)
  skips = [x]
  for i in range(train.depth):
    x = layers.Conv2D(train.width * 2 ** (i + 1), 4, strides=2, padding="same", use_bias=False,
                      name=f"down{i}")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"down{i}_bn")(x)
    x = layers.LeakyReLU(0.2, name=f"down{i}_relu")(x)
    skips.append(x)
  skips.pop()
  for i in reversed(range(train.depth)):
    x = layers.Conv2DTranspose(train.width * 2 ** i, 4, strides=2, padding="same",
                               use_bias=False, name=f"up{i}")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"up{i}_bn")(x)
    x = layers.ReLU(name=f"up{i}_relu")(x)
    x = layers.Concatenate(name=f"skip{i}")([x, skips.pop()])
  x = layers.Conv2D(image.channels, 3, padding="same", activation="tanh", name="to_image")(x)
  out = layers.Rescaling(0.5, offset=0.5, name="translated")(x)
  return keras.Model(condition, out, name=GENERATOR)


def build_discriminator(image: ImageConfig, train: TranslationTrainConfig) -> keras.Model:
  """PatchGAN: (condition, image) -> one real/fake logit per patch of the 1/4-size map."""
  shape = (image.height, image.width, image.channels)
  condition, target = keras.Input(shape, name="condition"), keras.Input(shape, name="image")
  x = layers.Concatenate(name="pair")([condition, target])
  x = layers.Rescaling(2.0, offset=-1.0, name="centre")(x)
  for i in range(2):
    x = layers.Conv2D(train.width * 2 ** i, 4, strides=2, padding="same", name=f"down{i}")(x)
    x = layers.LeakyReLU(0.2, name=f"down{i}_relu")(x)
  out = layers.Conv2D(1, 3, padding="same", name="patch_logits")(x)
  return keras.Model([condition, target], out, name=DISCRIMINATOR)


class Pix2Pix(generative.AdversarialModel):
  """One `train_step`: the discriminator on (condition, real) and (condition, generated) pairs,
  then the generator on the adversarial loss plus `l1_weight` x the L1 distance to the true
  image. Logged epoch means: d_loss, g_loss (the sum), g_adv, l1."""

  METRICS = ("d_loss", "g_loss", "g_adv", "l1")

  def __init__(self, generator: keras.Model, discriminator: keras.Model,
               train: TranslationTrainConfig, **kwargs):
    super().__init__(generator, discriminator, train.real_label, **kwargs)
    self.mode, self.noise_stddev, self.l1_weight = train.mode, train.noise_stddev, train.l1_weight

  def train_step(self, data):
    images = data[0] if isinstance(data, tuple) else data
    condition = conditions(images, self.mode, self.noise_stddev)
    with tf.GradientTape() as tape:
      fake = self.generator(condition, training=True)
      d_loss = self.discriminator_loss(self.discriminator([condition, images], training=True),
                                       self.discriminator([condition, fake], training=True))
    self.apply(self.d_optimizer, tape, d_loss, self.discriminator)
    with tf.GradientTape() as tape:
      fake = self.generator(condition, training=True)
      logits = self.discriminator([condition, fake], training=True)
      adversarial = self.bce(tf.ones_like(logits), logits)
      l1 = tf.reduce_mean(tf.abs(images - fake))
      g_loss = adversarial + self.l1_weight * l1
    self.apply(self.g_optimizer, tape, g_loss, self.generator)
    return self.logged(d_loss=d_loss, g_loss=g_loss, g_adv=adversarial, l1=l1)


def train_translator(generator: keras.Model, discriminator: keras.Model,
                     dataset: tf.data.Dataset, train: TranslationTrainConfig,
                     log_dir: str | None = None, steps_per_epoch: int | None = None) -> dict:
  """Trains both networks for `train.epochs` on batches of real images (the conditions are made
  in the step; `steps_per_epoch`: batches per pass, if known)."""
  return generative.fit_adversarial(Pix2Pix(generator, discriminator, train), dataset,
                                    train.epochs, train.learning_rate, train.beta_1, log_dir,
                                    steps_per_epoch)


# ---------------------------------------------------------------------------------------------
# Serving


class TranslationServingModule(serving.ImageServingModule):
  """Condition image bytes -> translated image (serving_default); the conditions of real images;
  the judge for evaluators."""

  def __init__(self, generator: keras.Model, judge: keras.Model,
               tft_output: tft.TFTransformOutput, mode: str, noise_stddev: float):
    super().__init__(generator, tft_output, judge.input_shape[1:])  # the real images' shape
    self.judge_model = serving.WeightsOnly(judge)
    self.mode, self.noise_stddev = mode, noise_stddev
    shape = judge.input_shape[1:]
    self.condition = tf.function(self._condition, input_signature=[
        tf.TensorSpec([None], tf.string, name=transform.SERVING_INPUT)])
    self.judge = tf.function(self._judge, input_signature=[
        tf.TensorSpec([None, *shape], tf.float32, name="images")])

  def outputs(self, images):
    translated = self.model(images, training=False)
    return {"image": translated, "png": generative.encode_pngs(translated)}

  def conditions_of(self, image_bytes: tf.Tensor) -> tf.Tensor:
    return conditions(self.images_from_bytes(image_bytes), self.mode, self.noise_stddev,
                      byte_seeds(image_bytes))

  def _condition(self, image_bytes):
    condition = self.conditions_of(image_bytes)
    return {"condition": condition, "png": generative.encode_pngs(condition)}

  def _judge(self, images):
    probs, features = self.judge_model(images, training=False)
    return {"probabilities": probs, "features": features}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, examples):
    image_bytes = tf.reshape(tf.io.parse_example(examples, self._serving_spec)[
        transform.IMAGE_KEY], [-1])
    condition = self.conditions_of(image_bytes)
    return {**self.outputs(condition), "condition": condition}

  def extra_signatures(self) -> dict:
    return {"condition": self.condition.get_concrete_function(),
            "judge": self.judge.get_concrete_function()}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the judge classifier and the translator on the real
  training images; exports the serving model and the Keras bundle (generator + judge)."""
  cfg = config_loader.from_dict(TranslationConfig, fn_args.custom_config["translation"])
  real = generative.real_images(fn_args, "translation", cfg.image, cfg.judge,
                                cfg.train.batch_size, cfg.train.seed)
  logging.info("training a %s translator on %d images", cfg.train.mode, real.count)
  generator = build_generator(cfg.image, cfg.train)
  train_translator(generator, build_discriminator(cfg.image, cfg.train), real.train, cfg.train,
                   log_dir=fn_args.model_run_dir, steps_per_epoch=real.batches)
  TranslationServingModule(generator, real.judge, real.tft_output, cfg.train.mode,
                           cfg.train.noise_stddev).save(fn_args.serving_model_dir,
                                                        task="translation")
  keras_bundle.write(generative.build_bundle(generator, real.judge), real.class_names, {
      **transform.preprocessing_metadata(cfg.image), "mode": cfg.train.mode,
      "noise_stddev": cfg.train.noise_stddev, "judge_eval_accuracy": real.judge_accuracy,
      "generator_input": "condition [N, H, W, C] in [0, 1] (" + (
          "Sobel edge magnitude, scaled to [0, 1] per image" if cfg.train.mode == "edges" else
          f"image + N(0, {cfg.train.noise_stddev}) noise, clipped") + ")",
      "generator_output": "image [N, H, W, C] in [0, 1] (pixel = value * 255)"},
      os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR))
