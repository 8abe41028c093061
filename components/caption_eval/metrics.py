"""Caption metrics on tokenized text (`components.common.text`): corpus BLEU-1..4 (sacrebleu,
the implementation TFMA's `Bleu` wraps), CIDEr-D (written here after Vedantam et al. 2015 and
pycocoevalcap's `CiderD`, which needs Java and downloads) and an object-mention F1.

Conventions, stated once: captions are compared as our tokenizer's tokens joined by spaces
(sacrebleu `tokenize="none"`, so its own 13a tokenizer does not split them again); BLEU uses
sacrebleu's default `exp` smoothing, the brevity penalty against the closest reference length,
and is reported in [0, 1]; images may have different numbers of references. CIDEr-D uses
n = 1..4, sigma = 6, clipped tf-idf n-gram vectors with document frequencies over the evaluated
set's references, x10, averaged over images (comparable in scale with the COCO server's, not in
value: tokenizer and references differ).
"""

from __future__ import annotations

import collections
import math
from typing import Iterable, Sequence

import numpy as np

from components.common import text


def _streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
  """Per-image reference lists -> sacrebleu's reference streams (None where an image has fewer
  references than the most any image has)."""
  width = max((len(r) for r in references), default=0)
  return [[r[k] if k < len(r) else None for r in references] for k in range(width)]


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
         max_order: int = 4) -> dict[str, float]:
  """Corpus BLEU-1..`max_order` in [0, 1]: {"bleu1": ..., "bleu4": ...}."""
  from sacrebleu.metrics import BLEU  # pylint: disable=g-import-not-at-top
  if len(hypotheses) != len(references):
    raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
  if not hypotheses:
    return {f"bleu{n}": 0.0 for n in range(1, max_order + 1)}
  hyps = [text.normalize(h) for h in hypotheses]
  refs = [[text.normalize(r) for r in rs] for rs in references]
  streams = _streams(refs)
  out = {}
  for n in range(1, max_order + 1):
    scorer = BLEU(tokenize="none", max_ngram_order=n, smooth_method="exp",
                  effective_order=False)
    out[f"bleu{n}"] = scorer.corpus_score(hyps, streams).score / 100.0
  return out


def _ngrams(tokens: Sequence[str], n_max: int) -> collections.Counter:
  return collections.Counter(tuple(tokens[i:i + n]) for n in range(1, n_max + 1)
                             for i in range(len(tokens) - n + 1))


def cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]], n_max: int = 4,
            sigma: float = 6.0) -> tuple[float, np.ndarray]:
  """(CIDEr-D of the corpus, the score of every image)."""
  if len(hypotheses) != len(references):
    raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
  if not hypotheses:
    return 0.0, np.zeros(0)
  hyp_counts = [_ngrams(text.tokenize(h), n_max) for h in hypotheses]
  ref_counts = [[_ngrams(text.tokenize(r), n_max) for r in rs] for rs in references]
  df: collections.Counter = collections.Counter()
  for refs in ref_counts:
    df.update({g for r in refs for g in r})
  log_images = math.log(float(len(ref_counts)))

  def vector(counts: collections.Counter):
    vec = [dict() for _ in range(n_max)]
    norm = np.zeros(n_max)
    length = 0
    for gram, tf in counts.items():
      n = len(gram) - 1
      vec[n][gram] = tf * (log_images - math.log(max(1.0, df[gram])))
      norm[n] += vec[n][gram] ** 2
      if n == 1:  # pycocoevalcap's length: the number of bigrams
        length += tf
    return vec, np.sqrt(norm), length

  def similarity(hyp, ref) -> np.ndarray:
    (vh, nh, lh), (vr, nr, lr) = hyp, ref
    val = np.zeros(n_max)
    for n in range(n_max):
      for gram, w in vh[n].items():
        val[n] += min(w, vr[n].get(gram, 0.0)) * vr[n].get(gram, 0.0)
      if nh[n] != 0 and nr[n] != 0:
        val[n] /= nh[n] * nr[n]
      val[n] *= math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2))
    return val

  scores = []
  for hyp, refs in zip(hyp_counts, ref_counts):
    h = vector(hyp)
    total = sum((similarity(h, vector(r)) for r in refs), np.zeros(n_max))
    scores.append(float(np.mean(total)) / max(len(refs), 1) * 10.0)
  scores_arr = np.asarray(scores)
  return float(scores_arr.mean()), scores_arr


def mentions(caption: str, object_words: Iterable[str]) -> set[str]:
  """The object words a caption mentions (a plural "sevens" / "sixes" mentions the word)."""
  tokens = set(text.tokenize(caption))
  return {w for w in object_words if tokens & {w, w + "s", w + "es"}}


def mention_f1(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
               object_words: Sequence[str]) -> dict[str, float]:
  """Micro precision, recall and F1 of the objects a caption mentions against the objects its
  references mention (the ground truth: references are written from it)."""
  tp = fp = fn = 0
  for hyp, refs in zip(hypotheses, references):
    said = mentions(hyp, object_words)
    truth = set().union(*(mentions(r, object_words) for r in refs)) if refs else set()
    tp += len(said & truth)
    fp += len(said - truth)
    fn += len(truth - said)
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return {"mention_precision": precision, "mention_recall": recall, "mention_f1": f1}


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                   object_words: Sequence[str] = ()) -> dict[str, float]:
  """BLEU-1..4, CIDEr-D and (with `object_words`) the mention precision/recall/F1."""
  scores = {**bleu(hypotheses, references), "cider_d": cider_d(hypotheses, references)[0]}
  if object_words:
    scores.update(mention_f1(hypotheses, references, object_words))
  return scores
