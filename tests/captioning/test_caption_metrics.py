"""Caption metrics on hand-checked values: corpus BLEU (sacrebleu, several references of
different counts), CIDEr-D (our implementation) and the object-mention F1; the Python and the
TensorFlow tokenizers agree."""

import numpy as np
import pytest
import tensorflow as tf

from components.caption_eval import metrics
from components.common import text


def test_bleu_on_hand_checked_values():
  # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0/1 (exp smoothing: 1/2), no brevity penalty.
  scores = metrics.bleu(["a b c d"], [["a b c e"]])
  assert scores["bleu1"] == pytest.approx(0.75)
  assert scores["bleu2"] == pytest.approx(np.sqrt(0.75 * 2 / 3))
  assert scores["bleu4"] == pytest.approx((0.75 * 2 / 3 * 0.5 * 0.5) ** 0.25)
  # The hypothesis matches one of several references exactly: 1.0, whatever the others say;
  # images may have different numbers of references; text is normalised by our tokenizer.
  perfect = metrics.bleu(["A seven, left of a three!", "two sevens side by side"],
                         [["a seven left of a three", "something else entirely"],
                          ["two sevens side by side"]])
  assert perfect["bleu4"] == pytest.approx(1.0)


def test_cider_d_on_hand_checked_values():
  # Image 1: unigrams and the bigram match (cosine 1), no trigrams: 10 * (1 + 1 + 0 + 0) / 4.
  # Image 2: unigram tf-idf vectors {c, e} vs {c, d}, all weights log 2: cosine 1/2; no bigram
  # match: 10 * 0.5 / 4 = 1.25.
  score, per_image = metrics.cider_d(["a b", "c e"], [["a b"], ["c d"]])
  np.testing.assert_allclose(per_image, [5.0, 1.25])
  assert score == pytest.approx(3.125)
  # A caption equal to every reference (n-grams unique to its image) scores 10.
  score, _ = metrics.cider_d(["w x y z", "p q r s"], [["w x y z"] * 2, ["p q r s"] * 3])
  assert score == pytest.approx(10.0)
  # The length penalty: a longer caption with the same n-grams scores less.
  longer, _ = metrics.cider_d(["w x y z w x y z w x y z", "p q r s"],
                              [["w x y z"], ["p q r s"]])
  assert longer < 10.0


def test_object_mention_f1():
  words = ("seven", "three", "six")
  scores = metrics.mention_f1(
      ["a seven left of a three", "two sixes", "a seven"],
      [["a seven to the left of a three"], ["two sixes side by side"], ["a three"]], words)
  # tp: seven, three, six; fp: seven (image 3); fn: three (image 3).
  assert scores["mention_precision"] == pytest.approx(3 / 4)
  assert scores["mention_recall"] == pytest.approx(3 / 4)
  assert scores["mention_f1"] == pytest.approx(3 / 4)


def test_python_and_tensorflow_tokenizers_agree():
  samples = ["A Seven, left of a 3!", "  two  sevens\tside-by-side ", "Ça va? it's fine", ""]
  ragged = text.tf_tokenize(tf.constant(samples))
  assert [[t.decode() for t in row] for row in ragged.to_list()] == [
      text.tokenize(s) for s in samples]
  assert text.tokenize("A Seven, left of a 3!") == ["a", "seven", "left", "of", "a", "3"]
