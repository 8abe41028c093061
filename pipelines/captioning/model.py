"""Image captioning: the book's CNN encoder + LSTM decoder with Bahdanau attention over the
encoder's spatial feature grid; decoding (greedy and beam search) inside the serving graph; the
Trainer's `run_fn` (Transform: `transform.preprocessing_fn`).

The network is two Keras models that share nothing but tensors:
  encoder       image [N, H, W, C] in [0, 1] -> features [N, P, D] (the grid, P = gh * gw, with
                learned position vectors), h0, c0 [N, U] (the decoder's first state)
  decoder_step  (token [N, V] one-hot, h, c [N, U], features [N, P, D]) -> (next-word
                probabilities [N, V], h, c, attention [N, P]): one step, state in, state out
Training encodes each image once and unrolls decoder_step over every one of its captions
(teacher forcing) in one functional model; the serving graph and the edge decoding loop
(`edge.py`) call the same two models step by step.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel; signatures:
      serving_default(image_bytes: string[N])  -> caption [N], tokens [N, T], attention
                          [N, T, gh, gw], log_prob [N], length [N]  (beam search, decode.beam_width)
      serving_greedy(image_bytes: string[N])   -> the same, greedy
      serving_examples(examples: string[N])    -> serving_default's outputs from tf.Examples
      transform_features(examples: string[N])  -> transformed features
  {uri}/Format-Keras/   model.keras (the training model; its layers `encoder` and
                        `decoder_step` are the edge parts), labels.txt (the vocabulary in id
                        order), preprocessing.json (image preprocessing, special ids, steps)
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras import layers

from components.common import keras_bundle
from components.common import text
from pipelines import config_loader
from pipelines.captioning.config import CaptioningConfig
from pipelines.captioning.config import TrainConfig
from pipelines.captioning.layers import FoldRows
from pipelines.captioning.layers import GridPositions
from pipelines.captioning.layers import RepeatRows
from pipelines.captioning.transform import CAPTIONS_XF
from pipelines.captioning.transform import IMAGE_XF
from pipelines.captioning.transform import vocabulary
from pipelines.vision import distribute
from pipelines.vision import preprocessing
from pipelines.vision import serving
from pipelines.vision import training
from pipelines.vision import transform as image_transform
from pipelines.vision.config import ImageConfig

ENCODER, DECODER = "encoder", "decoder_step"

# ---------------------------------------------------------------------------------------------
# Keras


def grid_shape(image: ImageConfig, train: TrainConfig) -> tuple[int, int]:
  return image.height // 2 ** train.poolings, image.width // 2 ** train.poolings


def feature_dim(train: TrainConfig) -> int:
  return train.width * 2 ** min(train.poolings, 2)


def build_encoder(image: ImageConfig, train: TrainConfig) -> keras.Model:
  """Two conv-BN-ReLU per block, 2x2 max pooling between blocks (`poolings` of them); the last
  block's grid, with learned position vectors, is what the decoder attends over."""
  inputs = keras.Input((image.height, image.width, image.channels), name="image")
  x = inputs
  for i in range(train.poolings + 1):
    filters = train.width * 2 ** min(i, 2)
    for j in range(2):
      x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"enc{i}{j}_conv")(x)
      x = layers.BatchNormalization(name=f"enc{i}{j}_bn")(x)
      x = layers.ReLU(name=f"enc{i}{j}_relu")(x)
    if i < train.poolings:
      x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
  gh, gw = grid_shape(image, train)
  features = layers.Reshape((gh * gw, feature_dim(train)), name="grid")(x)
  features = GridPositions(name="grid_positions")(features)
  mean = layers.GlobalAveragePooling1D(name="mean_feature")(features)
  h0 = layers.Dense(train.units, activation="tanh", name="init_h")(mean)
  c0 = layers.Dense(train.units, name="init_c")(mean)
  return keras.Model(inputs, [features, h0, c0], name=ENCODER)


def build_decoder_step(vocab_size: int, positions: int, features_dim: int,
                       train: TrainConfig) -> keras.Model:
  """One decoding step with Bahdanau (additive) attention: score_p = v . tanh(W f_p + U h)."""
  token = keras.Input((vocab_size,), name="token")
  h = keras.Input((train.units,), name="h")
  c = keras.Input((train.units,), name="c")
  features = keras.Input((positions, features_dim), name="features")
  keys = layers.Dense(train.attention_units, use_bias=False, name="att_keys")(features)
  query = layers.RepeatVector(positions, name="att_repeat")(
      layers.Dense(train.attention_units, name="att_query")(h))
  energy = layers.Activation("tanh", name="att_tanh")(layers.Add(name="att_add")([keys, query]))
  scores = layers.Reshape((positions,), name="att_flat")(
      layers.Dense(1, use_bias=False, name="att_score")(energy))
  attention = layers.Softmax(name="attention")(scores)
  context = layers.Dot(axes=(1, 1), name="context")([attention, features])
  embedded = layers.Dense(train.embedding, use_bias=False, name="word_embedding")(token)
  x = layers.Concatenate(name="step_input")([embedded, context])
  out, (h2, c2) = layers.LSTMCell(train.units, name="lstm")(x, [h, c])
  y = layers.Concatenate(name="step_output")([out, context, embedded])
  y = layers.Dropout(train.dropout, name="dropout")(y)
  probs = layers.Dense(vocab_size, activation="softmax", name="next_word")(y)
  return keras.Model([token, h, c, features], [probs, h2, c2, attention], name=DECODER)


def build(vocab_size: int, steps: int, image: ImageConfig, train: TrainConfig,
          captions: int) -> keras.Model:
  """The training model: (image, one-hot input words [N, captions, steps, V]) -> next-word
  probabilities [N, captions, steps, V]: the encoder runs once per image and every caption of
  the image reads its encoding; decoder_step unrolled `steps` times (teacher forcing)."""
  encoder = build_encoder(image, train)
  gh, gw = grid_shape(image, train)
  step = build_decoder_step(vocab_size, gh * gw, feature_dim(train), train)
  images = keras.Input((image.height, image.width, image.channels), name="image")
  caption_words = keras.Input((captions, steps, vocab_size), name="words")
  words = FoldRows(captions, name="fold_captions")(caption_words)
  features, h, c = (RepeatRows(captions, name=f"per_caption_{name}")(x)
                    for name, x in zip(("features", "h", "c"), encoder(images)))
  outputs = []
  for t in range(steps):
    token = layers.Reshape((vocab_size,), name=f"word{t}")(
        layers.Cropping1D((t, steps - t - 1), name=f"take{t}")(words))
    probs, h, c, _ = step([token, h, c, features])
    outputs.append(layers.Reshape((1, vocab_size), name=f"out{t}")(probs))
  probs = (layers.Concatenate(axis=1, name="next_words")(outputs) if steps > 1 else outputs[0])
  probs = FoldRows(captions, unfold=True, name="unfold_captions")(probs)
  return keras.Model([images, caption_words], probs, name="captioner")


# ---------------------------------------------------------------------------------------------
# Data


def teacher_forcing(vocab_size: int):
  """(image, ids [..., L]) -> ((image, one-hot ids[..., :-1]), ids[..., 1:], weight: 1 where not
  <pad>; an image's all-<pad> rows past its captions weigh nothing)."""
  def fn(image, ids):
    ids = tf.cast(ids, tf.int32)
    target = ids[..., 1:]
    return ((image, tf.one_hot(ids[..., :-1], vocab_size)), target,
            tf.cast(target != text.PAD_ID, tf.float32))
  return fn


def caption_dataset(files, data_accessor, tft_output,
                    shape: tuple[int, ...]) -> tf.data.Dataset:
  """(image, caption ids [K, L]) of every transformed example in `files` (`shape`: one stored
  image's; rows past the real captions are all <pad>)."""
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  ds = data_accessor.tf_dataset_factory(
      files, tfxio.TensorFlowDatasetOptions(batch_size=256, num_epochs=1, shuffle=False),
      tft_output.transformed_metadata.schema)
  ds = ds.map(lambda f: preprocessing.decoded(f, {IMAGE_XF: shape}))
  return ds.map(lambda f: (f[IMAGE_XF], f[CAPTIONS_XF])).unbatch()


def fit(model: keras.Model, train_ds, eval_ds, train: TrainConfig, num_images: int,
        log_dir: str | None = None) -> dict:
  """Adam + masked cross-entropy of the next word, early stopping and the LR schedule
  (`num_images` in `train_ds`, batches of `train.batch_size` images with all their captions)."""
  training.adapt_batch_norm(model, num_images, train.batch_size, train.batch_norm_momentum)
  model.compile(optimizer=keras.optimizers.Adam(train.learning_rate, clipnorm=5.0),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
  callbacks = training.callbacks(train.epochs, train.learning_rate, train.lr_schedule,
                                 train.early_stopping_patience, train.reduce_lr_patience, log_dir,
                                 monitor=f"val_{train.monitor}")
  steps = training.num_batches(num_images, train.batch_size)
  return model.fit(**training.one_iterator(train_ds, steps), validation_data=eval_ds,
                   epochs=train.epochs, callbacks=callbacks, verbose=2).history


# ---------------------------------------------------------------------------------------------
# Decoding (in the serving graph)


def decode(encoder: keras.Model, step: keras.Model, images: tf.Tensor, steps: int,
           beam_width: int, length_penalty: float = 0.0) -> dict[str, tf.Tensor]:
  """Beam search over `steps` words (greedy when `beam_width` is 1): the best sequence's ids
  [N, steps] (after <end>: <pad>), its attention [N, steps, P] and total log-probability [N].
  Beams are searched by plain sums of log-probabilities (a finished beam continues with <pad> at
  no cost); the final `beam_width` are ranked by sum / ((5 + length) / 6) ** `length_penalty`
  (GNMT; 0: the plain sum). One `tf.while_loop` over the steps: the decoder step is traced once,
  not once per word."""
  features, h, c = encoder(images, training=False)
  vocab_size = step.output_shape[0][-1]
  positions = features.shape[1]
  n, width = tf.shape(features)[0], beam_width
  features = tf.repeat(features, width, axis=0)
  h, c = tf.repeat(h, width, axis=0), tf.repeat(c, width, axis=0)
  scores = tf.tile(tf.constant([[0.0] + [-1e9] * (width - 1)]), [n, 1])
  token = tf.fill([n * width], text.START_ID)
  finished = tf.zeros([n, width], tf.bool)
  # Per beam: its words [n, width, steps] and attention [n, width, steps, P], written column by
  # column (fixed shapes, as a while loop needs).
  history = tf.zeros([n, width, steps], tf.int32)
  attention_history = tf.zeros([n, width, steps, positions])
  only_pad = tf.one_hot(text.PAD_ID, vocab_size, on_value=0.0, off_value=-1e9)
  rows_base = tf.range(n)[:, tf.newaxis] * width

  def body(t, token, h, c, scores, finished, history, attention_history):
    probs, h, c, attention = step([tf.one_hot(token, vocab_size), h, c, features],
                                  training=False)
    logp = tf.reshape(tf.math.log(tf.maximum(probs, 1e-12)), [n, width, vocab_size])
    logp = tf.where(finished[..., tf.newaxis], only_pad, logp)
    scores, best = tf.math.top_k(tf.reshape(scores[..., tf.newaxis] + logp,
                                            [n, width * vocab_size]), k=width)
    parent, word = best // vocab_size, best % vocab_size
    rows = tf.reshape(parent + rows_base, [-1])
    h, c = tf.gather(h, rows), tf.gather(c, rows)
    attention = tf.gather(tf.reshape(attention, [n, width, positions]), parent, batch_dims=1)
    now = tf.one_hot(t, steps, on_value=True, off_value=False)  # [steps]
    history = tf.where(now, word[..., tf.newaxis], tf.gather(history, parent, batch_dims=1))
    attention_history = tf.where(now[:, tf.newaxis], attention[:, :, tf.newaxis],
                                 tf.gather(attention_history, parent, batch_dims=1))
    finished = (tf.gather(finished, parent, batch_dims=1) | (word == text.END_ID) |
                (word == text.PAD_ID))
    return (t + 1, tf.reshape(word, [-1]), h, c, scores, finished, history, attention_history)

  _, _, _, _, scores, _, history, attention_history = tf.while_loop(
      lambda t, *_: t < steps, body,
      (tf.constant(0), token, h, c, scores, finished, history, attention_history))
  lengths = tf.reduce_sum(tf.cast(history != text.PAD_ID, tf.float32), axis=-1)
  pick = tf.argmax(scores / ((5.0 + lengths) / 6.0) ** length_penalty, axis=1,
                   output_type=tf.int32)
  return {"ids": tf.gather(history, pick, batch_dims=1),
          "attention": tf.gather(attention_history, pick, batch_dims=1),
          "log_prob": tf.gather(scores, pick, batch_dims=1)}


def caption_outputs(decoded: dict[str, tf.Tensor], words: tf.Tensor,
                    grid: tuple[int, int]) -> dict[str, tf.Tensor]:
  """Decoded ids -> caption [N] (words up to <end>), tokens [N, T] ("" after it), attention
  [N, T, gh, gw] (zero after it), log_prob [N], length [N]."""
  ids = decoded["ids"]
  said = tf.cast(tf.math.cumprod(tf.cast((ids != text.END_ID) & (ids != text.PAD_ID),
                                         tf.int32), axis=1), tf.bool)
  tokens = tf.where(said, tf.gather(words, ids), "")
  caption = tf.strings.strip(tf.strings.regex_replace(
      tf.strings.reduce_join(tokens, axis=1, separator=" "), " +", " "))
  attention = decoded["attention"] * tf.cast(said, tf.float32)[..., tf.newaxis]
  n, steps = tf.shape(ids)[0], tf.shape(ids)[1]
  return {"caption": caption, "tokens": tokens,
          "attention": tf.reshape(attention, [n, steps, grid[0], grid[1]]),
          "log_prob": decoded["log_prob"],
          "length": tf.reduce_sum(tf.cast(said, tf.int32), axis=1)}


class CaptionServingModule(serving.ImageServingModule):
  """Image bytes -> caption by beam search (serving_default) or greedily (serving_greedy)."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput, words: list[str],
               steps: int, beam_width: int, grid: tuple[int, int], length_penalty: float = 0.0):
    super().__init__(model, tft_output, model.get_layer(ENCODER).input_shape[1:])
    self.encoder = serving.WeightsOnly(model.get_layer(ENCODER))
    self.step = serving.WeightsOnly(model.get_layer(DECODER))
    self.words = tf.constant(words)
    self.steps, self.beam_width, self.grid = steps, beam_width, grid
    self.length_penalty = length_penalty
    self.serve_greedy = tf.function(
        lambda image_bytes: self.captions(self.images_from_bytes(image_bytes), 1),
        input_signature=[tf.TensorSpec([None], tf.string, name=image_transform.SERVING_INPUT)])

  def captions(self, images: tf.Tensor, beam_width: int) -> dict[str, tf.Tensor]:
    return caption_outputs(decode(self.encoder, self.step, images, self.steps, beam_width,
                                  self.length_penalty), self.words, self.grid)

  def outputs(self, images):
    return self.captions(images, self.beam_width)

  def extra_signatures(self) -> dict:
    return {"serving_greedy": self.serve_greedy.get_concrete_function()}


# ---------------------------------------------------------------------------------------------
# TFX Trainer entry point


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the captioner on every (image, caption) pair; exports the
  serving model (decoding inside) and the Keras bundle."""
  cfg = config_loader.from_dict(CaptioningConfig, fn_args.custom_config["captioning"])
  keras.utils.set_random_seed(cfg.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  words = vocabulary(tft_output)
  seq_len = int(tft_output.transformed_feature_spec()[CAPTIONS_XF].shape[-1])
  steps = seq_len - 1
  shape = image_transform.image_shape(cfg.image)
  captions = int(tft_output.transformed_feature_spec()[CAPTIONS_XF].shape[0])
  examples = caption_dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                             shape).cache()
  # A real caption starts with <start>; the rows past an image's captions are all <pad>.
  num_images, num_pairs = (int(n) for n in examples.reduce(
      (np.int64(0), np.int64(0)), lambda acc, e: (
          acc[0] + 1, acc[1] + tf.reduce_sum(tf.cast(e[1][:, 0] != text.PAD_ID, tf.int64)))))
  logging.info("training the captioner on %d images with %d captions, %d words (%d special), "
               "%d steps", num_images, num_pairs, len(words), len(text.SPECIAL_TOKENS), steps)
  batch, seed = cfg.train.batch_size, cfg.train.seed
  train_ds = (examples.shuffle(min(num_images, 50000), seed=seed, reshuffle_each_iteration=True)
              .map(teacher_forcing(len(words))).batch(batch))
  eval_ds = (caption_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, shape)
             .map(teacher_forcing(len(words))).batch(batch).cache())
  model = build(len(words), steps, cfg.image, cfg.train, captions)
  fit(model, train_ds, eval_ds, cfg.train, num_images, log_dir=fn_args.model_run_dir)
  grid = grid_shape(cfg.image, cfg.train)
  CaptionServingModule(model, tft_output, words, steps, cfg.decode.beam_width, grid,
                       cfg.decode.length_penalty).save(
      fn_args.serving_model_dir, task="captioning")
  keras_bundle.write(model, words, {
      **image_transform.preprocessing_metadata(cfg.image), "steps": steps, "grid": list(grid),
      "vocab_size": len(words),
      "start_id": text.START_ID, "end_id": text.END_ID, "pad_id": text.PAD_ID,
      "token_input": "one-hot [N, V] of the previous word"},
      os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR))
