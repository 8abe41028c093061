"""The captioner on edge runtimes: the encoder and the one-step decoder exported as separate
models (TFLite float/fp16/dynamic-range/int8 and ONNX; state in, state out) and the small greedy
decoding loop that turns them into captions, in numpy; each variant is scored by BLEU-4 of its
captions (the `EdgeContract` of the captioning task)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from components.caption_eval import metrics
from components.common import text

ENCODER, DECODER = "encoder", "decoder_step"


def parts(model, preprocessing: Mapping[str, Any]) -> dict:
  """The bundle's training model -> {"encoder", "decoder_step"}: what edge runtimes run."""
  del preprocessing
  return {ENCODER: model.get_layer(ENCODER), DECODER: model.get_layer(DECODER)}


def greedy_ids(predictors: Mapping[str, Callable[[list], list]], inputs: Sequence[np.ndarray],
               preprocessing: Mapping[str, Any]) -> np.ndarray:
  """Greedy captions [N, steps] (word ids; <pad> after <end>) of images `inputs[0]` [N, H, W, C]
  in [0, 1]: encode once, then one decoder step per word, feeding back the argmax word."""
  features, h, c = predictors[ENCODER]([inputs[0]])
  n, steps = len(inputs[0]), int(preprocessing["steps"])
  vocab_size = int(preprocessing["vocab_size"])
  token = np.full(n, int(preprocessing["start_id"]))
  done = np.zeros(n, bool)
  ids = np.full((n, steps), int(preprocessing["pad_id"]), np.int64)
  for t in range(steps):
    one_hot = np.eye(vocab_size, dtype=np.float32)[token]
    probs, h, c, _ = predictors[DECODER]([one_hot, h, c, features])
    word = np.where(done, int(preprocessing["pad_id"]), probs.argmax(axis=1))
    ids[:, t] = word
    done |= (word == int(preprocessing["end_id"])) | (word == int(preprocessing["pad_id"]))
    token = word
  return ids


def id_text(ids: Sequence[int]) -> str:
  """Word ids up to <end> (from after <start>) as text: "12 5 7"."""
  out = []
  for i in ids:
    if i in (text.END_ID, text.PAD_ID):
      break
    if i != text.START_ID:
      out.append(str(int(i)))
  return " ".join(out)


def bleu_of_ids(outputs: np.ndarray, features: Mapping[str, np.ndarray], reference: np.ndarray,
                captions: str = "captions_xf", counts: str = "num_captions_xf") -> dict:
  """Corpus BLEU-4 of greedy captions (word ids) against the eval references (as Transform
  tokenized them: words outside the vocabulary are <unk> on both sides), and the share of
  captions identical to the Keras model's."""
  hyps = [id_text(row) for row in outputs]
  refs = [[id_text(r) for r in caps[:int(k)]]
          for caps, k in zip(features[captions], np.reshape(features[counts], [-1]))]
  same = np.mean([a == b for a, b in zip(hyps, (id_text(r) for r in reference))])
  return {"bleu4": metrics.bleu(hyps, refs)["bleu4"],
          "caption_agreement_with_keras": float(same)}
