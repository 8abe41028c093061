"""The captioning task's report section: eval images with the served caption, the reference
captions, and where the decoder looked for every word (its attention over the feature grid)."""

from __future__ import annotations

import cv2
import numpy as np

from components.run_report import report


def _attention_tile(image: np.ndarray, attention: np.ndarray, word: str, tile: int) -> np.ndarray:
  """The image with one word's attention map (bilinear up-sampled) as a heat overlay, the word
  under it."""
  heat = cv2.resize(attention / max(float(attention.max()), 1e-9), (tile, tile),
                    interpolation=cv2.INTER_LINEAR)
  coloured = cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET)
  blended = cv2.addWeighted(image, 0.45, coloured, 0.55, 0)
  label = np.full((16, tile, 3), 255, np.uint8)
  cv2.putText(label, word[:12], (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
              cv2.LINE_AA)
  return np.concatenate([blended, label], axis=0)


def caption_attention(inputs: report.SectionInputs, count: int = 6,
                      tile: int = 72) -> report.Section | None:
  """Eval images through the serving signature (image bytes in): each row is the image, then
  one attention heat map per generated word; the table gives the caption and the references."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  examples = [e for e in inputs.eval_examples if e.get("captions")][:count]
  if not examples or not inputs.serving_model_dir:
    return None
  serve = tf.saved_model.load(inputs.serving_model_dir).signatures["serving_default"]
  out = serve(tf.constant([e["image"] for e in examples]))
  captions = [c.decode() for c in out["caption"].numpy()]
  tokens = out["tokens"].numpy()
  attention = out["attention"].numpy()
  rows, table = [], []
  width = 1 + tokens.shape[1]
  for i, e in enumerate(examples):
    image = cv2.imdecode(np.frombuffer(e["image"], np.uint8), cv2.IMREAD_COLOR)
    image = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_NEAREST)
    words = [w.decode() for w in tokens[i] if w]
    panels = [np.concatenate([image, np.full((16, tile, 3), 255, np.uint8)], axis=0)]
    panels += [_attention_tile(image, attention[i, t], w, tile) for t, w in enumerate(words)]
    panels += [np.full_like(panels[0], 255)] * (width - len(panels))
    rows.append(np.concatenate(panels, axis=1))
    refs = [r.decode() if isinstance(r, bytes) else r for r in e["captions"]]
    table.append((e.get("source", "").rsplit("/", 1)[-1], captions[i], " | ".join(refs)))
  return report.Section(
      "Captions and attention",
      text=("Eval images (unseen combinations) captioned through the serving signature (image "
            "bytes in, beam search); each heat map shows where the decoder looked for the word "
            "under it."),
      image=report.png_data_uri(np.concatenate(rows, axis=0)),
      header=("image", "generated caption", "reference captions"), rows=table)
