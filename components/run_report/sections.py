"""Report sections a task may list (`Task.report_sections`, by dotted path). Each takes the
`report.SectionInputs` and returns a `report.Section`, or None when it has nothing to show."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from components.run_report import report


def confusion_matrix(inputs: report.SectionInputs) -> report.Section | None:
  """The evaluator's confusion matrix (outcome plot `confusion_matrix`), classes by name."""
  plot = inputs.evaluation.get("plots", {}).get("confusion_matrix")
  if not plot:
    return None
  image = report.confusion_image(np.array(plot["matrix"]), inputs.class_names)
  return report.Section("Confusion matrix", text="Rows: true class; columns: predicted.",
                        image=report.png_data_uri(image))


def class_predictions(inputs: report.SectionInputs, count: int = 24) -> report.Section | None:
  """Eval images through the serving signature (encoded bytes in), captioned with the predicted
  class: mistakes first, then the rest round-robin over true classes."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  examples = inputs.eval_examples
  if not examples:
    return None
  images = [e["image"] for e in examples]
  truths = [e["label"] for e in examples]
  serve = tf.saved_model.load(inputs.serving_model_dir).signatures["serving_default"]
  preds, scores = [], []
  for i in range(0, len(images), 128):
    out = serve(tf.constant(images[i:i + 128]))
    preds += [p.decode() for p in out["predicted_class"].numpy()]
    scores += [float(s) for s in out["predicted_score"].numpy()]
  chosen = mistakes_first(truths, preds, count)
  grid = report.sample_grid([images[i] for i in chosen], [truths[i] for i in chosen],
                            [preds[i] for i in chosen], [scores[i] for i in chosen])
  return report.Section("Sample eval predictions",
                        text="Through the serving signature (encoded image bytes in); "
                             "mistakes first.", image=report.png_data_uri(grid))


def mistakes_first(truths: Sequence[str], preds: Sequence[str], count: int) -> list[int]:
  """Up to `count` indices to show: mistakes (at most half), then right answers round-robin
  over the true classes."""
  wrong = [i for i in range(len(truths)) if preds[i] != truths[i]]
  by_class: dict[str, list[int]] = {}
  for i in range(len(truths)):
    if preds[i] == truths[i]:
      by_class.setdefault(truths[i], []).append(i)
  chosen = wrong[:count // 2]
  queues = [by_class[c] for c in sorted(by_class)]
  while len(chosen) < count and any(queues):
    for q in queues:
      if q and len(chosen) < count:
        chosen.append(q.pop(0))
  return chosen
