"""The captioning evaluation (TFX-free): captions the eval images with the served model
(`serving_default`, image bytes in, the configured beam search), scores them against every
image's reference captions (`metrics.caption_scores`: BLEU-1..4, CIDEr-D, object-mention F1),
compares with the latest blessed model and gates on BLEU-4 and CIDEr-D. Every eval image's
generated caption and references go to `captions.jsonl` beside the outcome."""

from __future__ import annotations

import json
import os
from typing import Sequence

from components.caption_eval import metrics
from components.common import outcome

CAPTIONS_FILE = "captions.jsonl"


def generate(serving_model_dir: str, images: Sequence[bytes], batch_size: int = 64,
             signature: str = "serving_default") -> list[str]:
  """The served model's caption of every encoded image."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(serving_model_dir).signatures[signature]
  out: list[str] = []
  for i in range(0, len(images), batch_size):
    out += [c.decode() for c in serve(tf.constant(list(images[i:i + batch_size])))[
        "caption"].numpy()]
  return out


def evaluate(serving_model_dir: str, baseline_model_dir: str | None, rows: Sequence[dict],
             out_dir: str, bleu4_lower_bound: float, cider_d_lower_bound: float,
             max_bleu4_drop: float = 0.0, max_cider_d_drop: float = 0.0,
             object_words: Sequence[str] = ()) -> dict:
  """The outcome of the eval rows (`ingest.example_row`s with "image" and "captions")."""
  if not rows:
    raise ValueError("no eval images to caption")
  images = [r["image"] for r in rows]
  references = [[c.decode() if isinstance(c, bytes) else c for c in r["captions"]]
                for r in rows]
  hypotheses = generate(serving_model_dir, images)
  scores = metrics.caption_scores(hypotheses, references, object_words)
  _, per_image = metrics.cider_d(hypotheses, references)
  result_metrics = {**scores, "examples": float(len(rows)),
                    "mean_caption_words": sum(len(h.split()) for h in hypotheses) / len(rows)}
  baseline = {}
  if baseline_model_dir:
    b = metrics.caption_scores(generate(baseline_model_dir, images), references, object_words)
    baseline = {k: b[k] for k in ("bleu4", "cider_d")}
  thresholds, failures = outcome.gate(result_metrics, {"bleu4": bleu4_lower_bound,
                                                       "cider_d": cider_d_lower_bound})
  outcome.gate_against_baseline(thresholds, failures, "bleu4", scores["bleu4"], baseline,
                                max_bleu4_drop)
  outcome.gate_against_baseline(thresholds, failures, "cider_d", scores["cider_d"], baseline,
                                max_cider_d_drop)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, CAPTIONS_FILE), "w") as f:
    for row, hyp, refs, cider in zip(rows, hypotheses, references, per_image):
      f.write(json.dumps({"source": row.get("source", ""), "caption": hyp, "references": refs,
                          "cider_d": round(float(cider), 4)}) + "\n")
  return outcome.new("Captioning", result_metrics, thresholds, failures, baseline=baseline)
