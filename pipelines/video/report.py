"""The video task's report sections: the single-frame baseline beside the model, and eval clips
(their frames) with the served prediction."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np

from components.common import keras_bundle
from components.run_report import report
from components.run_report import sections
from pipelines.video.model import BASELINE_FILE


def single_frame_baseline(inputs: report.SectionInputs) -> report.Section | None:
  """The model's eval accuracy beside the same frame CNN's on the middle frame alone."""
  path = os.path.join(os.path.dirname(inputs.serving_model_dir), keras_bundle.KERAS_DIR,
                      BASELINE_FILE)
  if not inputs.serving_model_dir or not os.path.exists(path):
    return None
  with open(path) as f:
    b = json.load(f)
  return report.Section(
      "Single-frame baseline",
      text=("The same frame CNN trained on the middle frame of each clip alone. Near chance, it "
            "says one frame does not tell the class: the temporal model is needed."),
      header=("model", "eval accuracy"),
      rows=(("video model (all frames)", f"{b['model_accuracy']:.3f}"),
            (f"single frame ({b['frame']}, {b['epochs']} epochs)", f"{b['accuracy']:.3f}"),
            ("chance", f"{b['chance']:.3f}")))


def clip_predictions(inputs: report.SectionInputs, count: int = 8,
                     tile: int = 64) -> report.Section | None:
  """Eval clips through the serving signature (encoded frames in), one row of frames each,
  captioned with the prediction; mistakes first."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  clips = [e for e in inputs.eval_examples if e.get("frames")]
  if not clips:
    return None
  serve = tf.saved_model.load(inputs.serving_model_dir).signatures["serving_default"]
  preds, scores = [], []
  for i in range(0, len(clips), 64):
    out = serve(frames=tf.constant([c["frames"] for c in clips[i:i + 64]]))
    preds += [p.decode() for p in out["predicted_class"].numpy()]
    scores += [float(s) for s in out["predicted_score"].numpy()]
  truths = [c["label"] for c in clips]
  rows = []
  for i in sections.mistakes_first(truths, preds, count):
    frames = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR)
              for f in clips[i]["frames"]]
    strip = np.concatenate([cv2.resize(f, (tile, tile), interpolation=cv2.INTER_NEAREST)
                            for f in frames], axis=1)
    caption = np.full((18, strip.shape[1], 3), 255, np.uint8)
    color = (0, 140, 0) if preds[i] == truths[i] else (0, 0, 210)
    cv2.putText(caption, f"{preds[i]} {scores[i]:.2f} (true {truths[i]})", (4, 13),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    rows.append(np.concatenate([caption, strip], axis=0))
  return report.Section("Sample eval clips",
                        text="Through the serving signature (encoded frames in); mistakes first.",
                        image=report.png_data_uri(np.concatenate(rows, axis=0)))
