"""The captioning task's tf.Transform step: the image like every image task's, and the captions
tokenized (`components.common.text`, the one tokenizer) into ids through a tf.Transform
vocabulary of the training captions' words, so training and serving share one tokenizer.

Ids: 0 <pad>, 1 <start>, 2 <end>, 3 <unk>, then the vocabulary's words (most frequent first).
Every image's captions become [K, L] ids (K = text.max_captions, L = text.max_tokens + 2):
<start> w1 .. wn <end> <pad>...; missing captions are all <pad> and `num_captions_xf` says how
many are real.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.common import text
from pipelines import config_loader
from pipelines.captioning.config import TextConfig
from pipelines.vision import preprocessing
from pipelines.vision import transform as image_transform
from pipelines.vision.config import ImageConfig

CAPTIONS_KEY = "captions"
CAPTIONS_XF = image_transform.xf(CAPTIONS_KEY)
NUM_CAPTIONS_XF = image_transform.xf("num_captions")
IMAGE_XF = image_transform.xf(image_transform.IMAGE_KEY)
WORDS_VOCABULARY = "caption_words"


def caption_ids(captions: tf.Tensor, max_captions: int, max_tokens: int,
                vocabulary) -> tuple[tf.Tensor, tf.Tensor]:
  """Captions [N, k] (dense, "" where missing) -> (ids [N, K, L] int64, count [N] int64)."""
  captions = captions[:, :max_captions]
  captions = tf.pad(captions, [[0, 0], [0, max_captions - tf.shape(captions)[1]]],
                    constant_values="")
  captions = tf.reshape(captions, [-1, max_captions])
  tokens = text.tf_tokenize(captions)[:, :, :max_tokens]  # ragged [N, K, None]
  ids = tft.apply_vocabulary(tokens, vocabulary, default_value=-1)
  ids = ids + len(text.SPECIAL_TOKENS)  # -1 (not in the vocabulary) becomes <unk>
  lengths = tokens.row_lengths(axis=2)
  if isinstance(lengths, tf.RaggedTensor):
    lengths = lengths.to_tensor()
  real = tf.reshape(lengths, [-1, max_captions]) > 0  # [N, K]
  n_k = tf.shape(captions)
  starts = tf.RaggedTensor.from_tensor(tf.fill([n_k[0], n_k[1], 1], tf.constant(
      text.START_ID, tf.int64)), ragged_rank=2)
  ends = tf.RaggedTensor.from_tensor(tf.fill([n_k[0], n_k[1], 1], tf.constant(
      text.END_ID, tf.int64)), ragged_rank=2)
  sequences = tf.concat([starts, ids, ends], axis=2)
  dense = sequences.to_tensor(default_value=text.PAD_ID,
                              shape=[None, max_captions, max_tokens + 2])
  dense = tf.where(real[:, :, None], dense, tf.zeros_like(dense))
  return dense, tf.reduce_sum(tf.cast(real, tf.int64), axis=1)


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict:
  """image -> image_xf [N] (stored uint8 pixels of [H, W, C]); captions -> captions_xf
  [N, K, L] ids and num_captions_xf [N]."""
  image = config_loader.from_dict(ImageConfig, custom_config["image"], "image")
  text_cfg = config_loader.from_dict(TextConfig, custom_config["text"], "text")
  out = {IMAGE_XF: preprocessing.stored_images(
      inputs[image_transform.IMAGE_KEY], image.height, image.width, image.channels)}
  if CAPTIONS_KEY in inputs:
    captions = inputs[CAPTIONS_KEY]
    if isinstance(captions, tf.SparseTensor):
      captions = tf.sparse.to_dense(captions, default_value="")
    tokens = text.tf_tokenize(captions)
    vocabulary = tft.vocabulary(tokens, vocab_filename=WORDS_VOCABULARY,
                                frequency_threshold=(text_cfg.min_word_count
                                                     if text_cfg.min_word_count > 1 else None),
                                top_k=text_cfg.max_vocabulary)
    out[CAPTIONS_XF], out[NUM_CAPTIONS_XF] = caption_ids(
        captions, text_cfg.max_captions, text_cfg.max_tokens, vocabulary)
  return out


def vocabulary(tft_output: tft.TFTransformOutput) -> list[str]:
  """Words in id order: the special tokens, then the tf.Transform vocabulary."""
  words = [w.decode() if isinstance(w, bytes) else w
           for w in tft_output.vocabulary_by_name(WORDS_VOCABULARY)]
  return [*text.SPECIAL_TOKENS, *words]
