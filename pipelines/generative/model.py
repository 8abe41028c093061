"""Generative models: the book's DCGAN and conditional GAN in tf-keras with a custom
`train_step`, the judge classifier whose features FID/KID are measured in, the serving module
and the Trainer's `run_fn` (Transform: the shared image `preprocessing_fn`).

  generator      latent [N, Z] (+ one-hot class [N, K] for cgan) -> image [N, H, W, C] in [0, 1]
                 (the transformed images' range): dense to a 1/4-size map, two stride-2
                 transposed convolutions with batch norm, tanh rescaled to [0, 1]
  discriminator  image (+ class for cgan: one more input channel, or a projection of the
                 features) -> real/fake logit: two stride-2 convolutions with leaky ReLU, dropout
  judge          image -> (class probabilities, features [N, F]): a small CNN trained on the
                 real training images; never sees generated ones

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(label: string[N], seed: int64[N]) -> image [N, H, W, C] float in [0, 1],
                          png [N] (encoded image), class_id [N] (-1: unconditional), label [N]
                          (the latent is a stateless normal of the seed: same seed, same image)
      serving_latent(latent: float[N, Z], label: string[N]) -> the same, from a given latent
                          (interpolations)
      judge(images: float[N, H, W, C]) -> probabilities [N, K], features [N, F]
      transform_features(examples: string[N]) -> transformed features (image_xf, label_xf)
  {uri}/Format-Keras/     model.keras (the bundle: its layers `generator` and `judge` are what
                          the edge export takes), labels.txt, preprocessing.json
"""

from __future__ import annotations

import dataclasses
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from pipelines import config_loader
from pipelines.generative.config import GanConfig
from pipelines.generative.config import GenerativeConfig
from pipelines.generative.config import JudgeConfig
from pipelines.vision import distribute
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform
from pipelines.vision.config import ImageConfig

GENERATOR, DISCRIMINATOR, JUDGE = "generator", "discriminator", "judge"
IMAGE_XF, LABEL_XF = transform.xf(transform.IMAGE_KEY), transform.xf(transform.LABEL_KEY)

# ---------------------------------------------------------------------------------------------
# Keras


def build_generator(num_classes: int, image: ImageConfig, train: GanConfig) -> keras.Model:
  """latent (+ one-hot class) -> image in [0, 1]; `num_classes` 0: unconditional."""
  latent = keras.Input((train.latent_dim,), name="latent")
  inputs, x = [latent], latent
  if num_classes:
    label = keras.Input((num_classes,), name="label")
    inputs.append(label)
    embedded = layers.Dense(train.class_embedding, use_bias=False, name="class_embedding")(label)
    x = layers.Concatenate(name="conditioned")([latent, embedded])
  h, w, width = image.height // 4, image.width // 4, train.width
  x = layers.Dense(h * w * width * 4, use_bias=False, name="project")(x)
  x = layers.BatchNormalization(momentum=0.9, name="project_bn")(x)
  x = layers.ReLU(name="project_relu")(x)
  x = layers.Reshape((h, w, width * 4), name="map")(x)
  for i, filters in enumerate((width * 2, width)):
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                               name=f"up{i}")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"up{i}_bn")(x)
    x = layers.ReLU(name=f"up{i}_relu")(x)
  x = layers.Conv2D(image.channels, 3, padding="same", activation="tanh", name="to_image")(x)
  out = layers.Rescaling(0.5, offset=0.5, name="image")(x)
  return keras.Model(inputs, out, name=GENERATOR)


def build_discriminator(num_classes: int, image: ImageConfig, train: GanConfig) -> keras.Model:
  """image in [0, 1] (+ one-hot class: `train.conditioning` `concat`, a learned class map as one
  more channel; `projection`, the logit plus a learned class embedding . the flattened features)
  -> the logit of "real" (and, with `class_loss_weight`, class logits: AC-GAN's auxiliary
  classifier)."""
  images = keras.Input((image.height, image.width, image.channels), name="image")
  inputs, x = [images], layers.Rescaling(2.0, offset=-1.0, name="centre")(images)
  projection = bool(num_classes) and train.conditioning == "projection"
  if num_classes:
    label = keras.Input((num_classes,), name="label")
    inputs.append(label)
  if num_classes and not projection:
    plane = layers.Reshape((image.height, image.width, 1), name="class_plane")(
        layers.Dense(image.height * image.width, name="class_map")(label))
    x = layers.Concatenate(name="conditioned")([x, plane])
  for i, filters in enumerate((train.width, train.width * 2)):
    x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{i}")(x)
    x = layers.LeakyReLU(0.2, name=f"down{i}_relu")(x)
    x = layers.Dropout(train.dropout, name=f"down{i}_dropout")(x)
  x = layers.Flatten(name="flat")(x)
  out = layers.Dense(1, name="logit")(x)
  if projection:
    embedded = layers.Dense(x.shape[-1], use_bias=False, name="class_projection")(label)
    out = layers.Add(name="projected_logit")([out, layers.Dot(axes=1, name="class_match")(
        [embedded, x])])
  if num_classes and train.class_loss_weight:
    # AC-GAN's auxiliary head: which class the image shows (trained on real images).
    return keras.Model(inputs, [out, layers.Dense(num_classes, name="class_logits")(x)],
                       name=DISCRIMINATOR)
  return keras.Model(inputs, out, name=DISCRIMINATOR)


def build_judge(num_classes: int, image: ImageConfig, judge: JudgeConfig) -> keras.Model:
  """image in [0, 1] -> (class probabilities, penultimate features)."""
  images = keras.Input((image.height, image.width, image.channels), name="image")
  x = images
  for i, filters in enumerate((judge.width, judge.width * 2)):
    for j in range(2):
      x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"j{i}{j}_conv")(x)
      x = layers.BatchNormalization(name=f"j{i}{j}_bn")(x)
      x = layers.ReLU(name=f"j{i}{j}_relu")(x)
    x = layers.MaxPooling2D(2, name=f"j{i}_pool")(x)
  x = layers.GlobalAveragePooling2D(name="j_gap")(x)
  features = layers.Dense(judge.features, activation="relu", name="features")(x)
  x = layers.Dropout(judge.dropout, name="j_dropout")(features)
  probs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(images, [probs, features], name=JUDGE)


def build_bundle(generator: keras.Model, judge: keras.Model) -> keras.Model:
  """One Keras model holding the generator and the judge (what the bundle saves and the edge
  export takes apart): (generator inputs, image) -> (generated image, judge outputs)."""
  g_inputs = [keras.Input(x.shape[1:], name=f"g_{x.name.split(':')[0]}")
              for x in generator.inputs]
  image = keras.Input(judge.input_shape[1:], name="real_image")
  generated = generator(g_inputs if len(g_inputs) > 1 else g_inputs[0])
  probs, features = judge(image)
  return keras.Model([*g_inputs, image], [generated, probs, features], name="generative")


class AdversarialModel(keras.Model):
  """A generator and a discriminator trained against each other by a subclass's `train_step`
  (two Adam optimizers, `compile(d_optimizer, g_optimizer)`); the epoch means of the step's
  `METRICS` are logged (the report's loss curves of both networks)."""

  METRICS: tuple[str, ...] = ()

  def __init__(self, generator: keras.Model, discriminator: keras.Model, real_label: float,
               ema_decay: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.generator, self.discriminator, self.real_label = generator, discriminator, real_label
    self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
    self.trackers = {k: keras.metrics.Mean(name=k) for k in self.METRICS}
    # `ema_decay` > 0: an exponential moving average of the generator's weights (and batch-norm
    # statistics) after every generator update, with the usual warm-up min(decay, (1+t)/(10+t)).
    self.ema_decay, self.averaged = ema_decay, None
    if ema_decay:
      self.averaged = keras.models.clone_model(generator)
      self.averaged.set_weights(generator.get_weights())
      self.ema_steps = tf.Variable(0.0, trainable=False, name="ema_steps")

  @property
  def trained_generator(self) -> keras.Model:
    """The generator to export: the weight average when there is one."""
    return self.averaged if self.averaged is not None else self.generator

  def compile(self, d_optimizer, g_optimizer, **kwargs):  # pylint: disable=arguments-differ
    super().compile(**kwargs)
    self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

  @property
  def metrics(self):
    return list(self.trackers.values())

  def optimizer_variables(self) -> list:
    """What each optimizer updates (`training.BuildOptimizers` builds their slots up front)."""
    return [(self.d_optimizer, self.discriminator.trainable_variables),
            (self.g_optimizer, self.generator.trainable_variables)]

  def discriminator_loss(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """BCE on logits: real towards `real_label` (one-sided smoothing), generated towards 0."""
    return (self.bce(tf.fill(tf.shape(real_logits), self.real_label), real_logits) +
            self.bce(tf.zeros_like(fake_logits), fake_logits))

  def apply(self, optimizer, tape: tf.GradientTape, loss: tf.Tensor, net: keras.Model) -> None:
    variables = net.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    if net is self.generator and self.averaged is not None:
      self.ema_steps.assign_add(1.0)
      decay = tf.minimum(self.ema_decay, (1.0 + self.ema_steps) / (10.0 + self.ema_steps))
      for average, value in zip(self.averaged.variables, self.generator.variables):
        average.assign(decay * average + (1.0 - decay) * value)

  def logged(self, **values: tf.Tensor) -> dict:
    for name, value in values.items():
      self.trackers[name].update_state(value)
    return {k: m.result() for k, m in self.trackers.items()}


def fit_adversarial(model: AdversarialModel, dataset: tf.data.Dataset, epochs: int,
                    learning_rate: float, beta_1: float, log_dir: str | None = None,
                    steps_per_epoch: int | None = None) -> dict:
  """Trains both networks for `epochs` (no early stopping: adversarial losses do not say when
  samples are good; the evaluator does); TensorBoard logs and history.json in `log_dir`. The
  generator to export is `model.trained_generator`. With `steps_per_epoch` (the batches in one
  pass over `dataset`) the whole fit reads one iterator (`training.one_iterator`)."""
  model.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1))
  callbacks = [training.BuildOptimizers()] + (
      [keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"),
       training.HistoryFile(log_dir)] if log_dir else [])
  return model.fit(**training.one_iterator(dataset, steps_per_epoch), epochs=epochs,
                   callbacks=callbacks, verbose=2).history


class GAN(AdversarialModel):
  """Adversarial training in one `train_step`: the discriminator on a real and a generated
  batch, then the generator through the (fixed) discriminator, with the non-saturating loss.
  With a discriminator that also has class logits (AC-GAN), both add `class_loss_weight` x the
  cross-entropy of the class: D on real images, G on its generated ones (their requested class).
  Logged: d_loss, g_loss, the discriminator's mean belief that real (d_real) and generated
  (d_fake) images are real, and class_loss (D's + G's; 0 without the head)."""

  METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "class_loss")

  def __init__(self, generator: keras.Model, discriminator: keras.Model, num_classes: int,
               latent_dim: int, real_label: float = 0.9, class_loss_weight: float = 0.0,
               ema_decay: float = 0.0, **kwargs):
    super().__init__(generator, discriminator, real_label, ema_decay, **kwargs)
    self.num_classes, self.latent_dim = num_classes, latent_dim
    self.class_loss_weight = class_loss_weight

  def _inputs(self, x, onehot):
    return [x, onehot] if self.num_classes else x

  def _discriminate(self, images, onehot):
    """(real/fake logits, class logits or None)."""
    out = self.discriminator(self._inputs(images, onehot), training=True)
    return (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)

  def _class_loss(self, class_logits, ids) -> tf.Tensor:
    if class_logits is None:
      return tf.constant(0.0)
    return self.class_loss_weight * tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(ids, class_logits, from_logits=True))

  def train_step(self, data):
    images, labels = data
    n = tf.shape(images)[0]
    ids = tf.reshape(tf.cast(labels, tf.int32), [-1])
    onehot = tf.one_hot(ids, self.num_classes) if self.num_classes else None
    latent = tf.random.normal([n, self.latent_dim])
    with tf.GradientTape() as tape:
      fake = self.generator(self._inputs(latent, onehot), training=True)
      real_logits, real_classes = self._discriminate(images, onehot)
      fake_logits, _ = self._discriminate(fake, onehot)
      d_class = self._class_loss(real_classes, ids)
      d_loss = self.discriminator_loss(real_logits, fake_logits) + d_class
    self.apply(self.d_optimizer, tape, d_loss, self.discriminator)
    latent = tf.random.normal([n, self.latent_dim])
    with tf.GradientTape() as tape:
      fake = self.generator(self._inputs(latent, onehot), training=True)
      logits, classes = self._discriminate(fake, onehot)
      g_class = self._class_loss(classes, ids)
      g_loss = self.bce(tf.ones_like(logits), logits) + g_class
    self.apply(self.g_optimizer, tape, g_loss, self.generator)
    return self.logged(d_loss=d_loss, g_loss=g_loss,
                       d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                       d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)),
                       class_loss=d_class + g_class)


def train_gan(generator: keras.Model, discriminator: keras.Model, dataset: tf.data.Dataset,
              num_classes: int, train: GanConfig, log_dir: str | None = None,
              steps_per_epoch: int | None = None) -> tuple[dict, keras.Model]:
  """Trains both networks for `train.epochs` on (images, class ids) batches (`steps_per_epoch`
  of them per pass, if known); returns the history and the generator to export (the weight
  average with `train.ema_decay`)."""
  gan = GAN(generator, discriminator, num_classes, train.latent_dim, train.real_label,
            train.class_loss_weight, train.ema_decay)
  history = fit_adversarial(gan, dataset, train.epochs, train.learning_rate, train.beta_1,
                            log_dir, steps_per_epoch)
  return history, gan.trained_generator


def train_judge(judge: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
                cfg: JudgeConfig, num_examples: int, batch_size: int,
                steps_per_epoch: int | None = None) -> float:
  """Trains the judge's classifier head on the real images (its features come along), keeping
  the weights of its best eval-loss epoch (the Fashion-MNIST bench's last epoch once scored 0.75
  against 0.89 the epoch before) and halving the learning rate on plateaus; returns its eval
  accuracy."""
  classifier = keras.Model(judge.input, judge.outputs[0], name="judge_classifier")
  training.adapt_batch_norm(classifier, num_examples, batch_size)
  classifier.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                     loss=keras.losses.SparseCategoricalCrossentropy(),
                     metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
  callbacks = training.callbacks(cfg.epochs, cfg.learning_rate, "plateau",
                                 early_stopping_patience=cfg.epochs, reduce_lr_patience=2)
  classifier.fit(**training.one_iterator(train_ds, steps_per_epoch), validation_data=eval_ds,
                 epochs=cfg.epochs, callbacks=callbacks, verbose=2)
  return float(classifier.evaluate(eval_ds, verbose=0, return_dict=True)["accuracy"])


# ---------------------------------------------------------------------------------------------
# Serving


def seed_latents(seeds: tf.Tensor, latent_dim: int) -> tf.Tensor:
  """One latent vector per seed: a stateless normal, the same for the same seed everywhere."""
  return tf.map_fn(lambda s: tf.random.stateless_normal([latent_dim], seed=tf.stack([s, 0])),
                   tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)


def encode_pngs(images: tf.Tensor) -> tf.Tensor:
  """Images [N, H, W, C] in [0, 1] -> PNG bytes [N]."""
  pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
  return tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)


class GenerativeServingModule(serving.ServingModule):
  """(class name, seed) -> generated image; the judge and the Transform layer for evaluators."""

  def __init__(self, generator: keras.Model, judge: keras.Model,
               tft_output: tft.TFTransformOutput, class_names: list[str], conditional: bool):
    super().__init__()
    self.generator, self.judge_model = serving.WeightsOnly(generator), serving.WeightsOnly(judge)
    self.conditional = conditional
    self.latent_dim = int(generator.inputs[0].shape[-1])
    self.num_classes = len(class_names)
    self.tft_layer = tft_output.transform_features_layer()
    self.image_shapes = {IMAGE_XF: tuple(judge.input_shape[1:])}
    self._raw_spec = tft_output.raw_feature_spec()
    self.class_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(class_names),
                                            tf.range(len(class_names), dtype=tf.int64)), -1)
    self.known = ", ".join(class_names)
    shape = judge.input_shape[1:]
    self.serve_seed = tf.function(self._serve_seed, input_signature=[
        tf.TensorSpec([None], tf.string, name="label"),
        tf.TensorSpec([None], tf.int64, name="seed")])
    self.serve_latent = tf.function(self._generate, input_signature=[
        tf.TensorSpec([None, self.latent_dim], tf.float32, name="latent"),
        tf.TensorSpec([None], tf.string, name="label")])
    self.judge = tf.function(self._judge, input_signature=[
        tf.TensorSpec([None, *shape], tf.float32, name="images")])

  def _generate(self, latent, label):
    n = tf.shape(latent)[0]
    if self.conditional:
      ids = self.class_table.lookup(label)
      check = tf.debugging.assert_non_negative(
          ids, message=f"unknown class label; the model knows: {self.known}")
      with tf.control_dependencies([check]):
        images = self.generator([latent, tf.one_hot(ids, self.num_classes)], training=False)
    else:
      ids, label = tf.fill([n], tf.constant(-1, tf.int64)), tf.fill([n], "")
      images = self.generator(latent, training=False)
    return {"image": images, "png": encode_pngs(images), "class_id": ids, "label": label}

  def _serve_seed(self, label, seed):
    return self._generate(seed_latents(seed, self.latent_dim), label)

  def _judge(self, images):
    probs, features = self.judge_model(images, training=False)
    return {"probabilities": probs, "features": features}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def transform_features(self, examples):
    return self.transformed(tf.io.parse_example(examples, self._raw_spec))

  def signatures(self) -> dict:
    return {"serving_default": self.serve_seed.get_concrete_function(),
            "serving_latent": self.serve_latent.get_concrete_function(),
            "judge": self.judge.get_concrete_function(),
            "transform_features": self.transform_features.get_concrete_function()}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@dataclasses.dataclass
class RealImages:
  """What a generative Trainer starts from: the real training images and the judge trained on
  them (the FID feature space)."""
  tft_output: tft.TFTransformOutput
  class_names: list[str]
  count: int  # training images
  train: tf.data.Dataset  # (image, class id) batches, reshuffled every pass
  batches: int  # in one pass of `train`
  judge: keras.Model
  judge_accuracy: float  # on the eval images


def real_images(fn_args, task: str, image: ImageConfig, judge_cfg: JudgeConfig,
                batch_size: int, seed: int) -> RealImages:
  """Seeds Keras, reads the transformed training images (in memory, reshuffled per epoch) and
  trains the judge classifier on them (eval accuracy on the eval images)."""
  keras.utils.set_random_seed(seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = transform.class_names(tft_output)
  if len(class_names) < 2:
    raise ValueError(f"the {task} task needs labelled images of at least 2 classes (its judge "
                     f"classifier is the FID feature space); the data has {class_names}")
  count = transform.count_examples(fn_args.train_files)
  real = transform.reshuffled_in_memory(
      transform.dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size,
                        False, seed, transform.image_shape(image)).unbatch(), count, seed)
  drop = count >= batch_size
  train_ds = real.batch(batch_size, drop_remainder=drop)
  batches = training.num_batches(count, batch_size, drop)
  eval_ds = transform.dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size,
                              False, seed, transform.image_shape(image)).cache()
  judge = build_judge(len(class_names), image, judge_cfg)
  accuracy = train_judge(judge, train_ds, eval_ds, judge_cfg, count, batch_size, batches)
  logging.info("judge classifier: eval accuracy %.4f", accuracy)
  return RealImages(tft_output, class_names, count, train_ds, batches, judge, accuracy)


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the judge classifier and the GAN on the real training
  images; exports the serving model and the Keras bundle (generator + judge)."""
  cfg = config_loader.from_dict(GenerativeConfig, fn_args.custom_config["generative"])
  real = real_images(fn_args, "generative", cfg.image, cfg.judge, cfg.train.batch_size,
                     cfg.train.seed)
  class_names, train_ds = real.class_names, real.train
  num_classes = len(class_names) if cfg.train.conditional else 0
  logging.info("training a %s on %d images of %d classes: %s", cfg.train.mode, real.count,
               len(class_names), class_names)
  generator = build_generator(num_classes, cfg.image, cfg.train)
  discriminator = build_discriminator(num_classes, cfg.image, cfg.train)
  _, generator = train_gan(generator, discriminator, train_ds, num_classes, cfg.train,
                           log_dir=fn_args.model_run_dir, steps_per_epoch=real.batches)
  GenerativeServingModule(generator, real.judge, real.tft_output, class_names,
                          cfg.train.conditional).save(fn_args.serving_model_dir,
                                                      task="generative")
  keras_bundle.write(build_bundle(generator, real.judge), class_names, {
      **transform.preprocessing_metadata(cfg.image), "mode": cfg.train.mode,
      "conditional": cfg.train.conditional, "latent_dim": cfg.train.latent_dim,
      "num_classes": len(class_names), "judge_eval_accuracy": real.judge_accuracy,
      "generator_inputs": "latent [N, Z] standard normal" + (
          ", label [N, K] one-hot" if cfg.train.conditional else ""),
      "generator_output": "image [N, H, W, C] in [0, 1] (pixel = value * 255)"},
      os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR))

