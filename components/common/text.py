"""The caption tokenizer, one definition for Python (readers, metrics) and TensorFlow (the
Transform graph, so training and serving share it): lower-case, every run of characters other
than a-z, 0-9 and the apostrophe becomes a space, split on spaces. Special tokens of the
captioning vocabulary live here too.
"""

from __future__ import annotations

import re

# The captioning vocabulary's reserved ids: the tf.Transform vocabulary's words follow them.
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = range(4)

_SEPARATORS = r"[^a-z0-9']+"
_SEPARATORS_RE = re.compile(_SEPARATORS)


def tokenize(text: str) -> list[str]:
  """"A Seven, left of a 3!" -> ["a", "seven", "left", "of", "a", "3"]."""
  return _SEPARATORS_RE.sub(" ", text.lower()).split()


def normalize(text: str) -> str:
  """The tokens joined by single spaces (what metrics compare)."""
  return " ".join(tokenize(text))


def tf_tokenize(texts):
  """The same tokenizer on a string tensor of any shape: a RaggedTensor of tokens with one more
  (ragged) dimension. Non-ASCII letters are separators in both versions (TensorFlow's lower()
  leaves them as they are; the pattern then drops them, as Python's does after lower())."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  cleaned = tf.strings.regex_replace(tf.strings.lower(texts), _SEPARATORS, " ")
  return tf.strings.split(tf.strings.strip(cleaned))
