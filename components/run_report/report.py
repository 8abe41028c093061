"""The run report: one self-contained HTML file with metrics, confusion matrix, sample predictions,
quarantine counts and artifact paths. Images are inline PNGs (data URIs), so the file stands alone.

TFX-free: the component passes artifact folders; this module reads TFMA's output protos directly.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import os
from typing import Sequence

import cv2
import numpy as np
import tensorflow as tf

REPORT_FILE = "report.html"


# ---------------------------------------------------------------------------------------------
# Reading TFMA output


@dataclasses.dataclass
class Evaluation:
  overall: dict[str, float]  # metric name -> value (candidate model)
  per_slice: dict[str, dict[str, float]]  # "label=cat" -> metrics
  baseline: dict[str, float]  # metric -> baseline value, when a baseline was compared
  confusion: np.ndarray | None  # [actual, predicted] counts, class ids from the label vocabulary
  validation_ok: bool | None
  validation_failures: list[str]


def _slice_name(slice_key) -> str:
  parts = []
  for s in slice_key.single_slice_keys:
    kind = s.WhichOneof("kind")
    value = getattr(s, kind)
    if isinstance(value, bytes):
      value = value.decode("utf-8", "replace")
    parts.append(f"{s.column}={value}")
  return ", ".join(parts) or "Overall"


def read_evaluation(evaluation_dir: str) -> Evaluation:
  """Reads metrics, plots and validation from a TFX Evaluator output folder."""
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.proto import validation_result_pb2  # pylint: disable=g-import-not-at-top

  def records(prefix: str):
    for path in sorted(tf.io.gfile.glob(os.path.join(evaluation_dir, prefix + "*"))):
      yield from tf.data.TFRecordDataset(path).as_numpy_iterator()

  overall: dict[str, float] = {}
  baseline: dict[str, float] = {}
  per_slice: dict[str, dict[str, float]] = {}
  for data in records("metrics"):
    m = metrics_for_slice_pb2.MetricsForSlice.FromString(data)
    name = _slice_name(m.slice_key)
    for kv in m.metric_keys_and_values:
      if kv.key.is_diff or not kv.value.HasField("double_value"):
        continue
      value = kv.value.double_value.value
      if kv.key.model_name == "baseline":
        if name == "Overall":
          baseline[kv.key.name] = value
        continue
      (overall if name == "Overall" else per_slice.setdefault(name, {}))[kv.key.name] = value
  confusion = None
  for data in records("plots"):
    p = metrics_for_slice_pb2.PlotsForSlice.FromString(data)
    if _slice_name(p.slice_key) != "Overall":
      continue
    for kv in p.plot_keys_and_values:
      if kv.key.model_name == "baseline":
        continue
      mats = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
      if mats:
        entries = mats[0].entries
        n = 1 + max([max(e.actual_class_id, e.predicted_class_id) for e in entries] or [0])
        confusion = np.zeros((n, n), np.int64)
        for e in entries:
          if e.actual_class_id >= 0 and e.predicted_class_id >= 0:
            confusion[e.actual_class_id, e.predicted_class_id] += int(e.num_weighted_examples)
  validation_ok, failures = None, []
  for data in records("validations"):
    v = validation_result_pb2.ValidationResult.FromString(data)
    validation_ok = v.validation_ok
    for f in v.metric_validations_per_slice:
      for failure in f.failures:
        failures.append(f"{_slice_name(f.slice_key)}: {failure.metric_key.name} "
                        f"= {failure.metric_value.double_value.value:.4f} "
                        f"({failure.message or 'threshold not met'})")
  return Evaluation(overall, per_slice, baseline, confusion, validation_ok, failures)


# ---------------------------------------------------------------------------------------------
# Images


def png_data_uri(image: np.ndarray) -> str:
  ok, buf = cv2.imencode(".png", image)
  if not ok:
    raise ValueError("cannot encode image as PNG")
  return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def confusion_image(matrix: np.ndarray, class_names: Sequence[str], cell: int = 44) -> np.ndarray:
  """Renders a row-normalised confusion matrix with counts (rows: actual, columns: predicted)."""
  n = matrix.shape[0]
  names = [str(class_names[i]) if i < len(class_names) else str(i) for i in range(n)]
  order = sorted(range(n), key=lambda i: names[i])  # show classes by name, not vocabulary order
  matrix = matrix[np.ix_(order, order)]
  names = [names[i] for i in order]
  margin = 12 + 8 * min(16, max(len(s) for s in names))
  size = (margin + n * cell + 10, margin + n * cell + 10)
  img = np.full((*size, 3), 255, np.uint8)
  rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
  frac = matrix / rows
  font = cv2.FONT_HERSHEY_SIMPLEX
  for i in range(n):
    for j in range(n):
      shade = int(255 - 200 * frac[i, j])
      x0, y0 = margin + j * cell, margin + i * cell
      cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), (255, shade, shade), -1)
      cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), (200, 200, 200), 1)
      color = (255, 255, 255) if frac[i, j] > 0.6 else (0, 0, 0)
      cv2.putText(img, str(int(matrix[i, j])), (x0 + 4, y0 + cell // 2 + 5), font, 0.4, color, 1,
                  cv2.LINE_AA)
    label = names[i][:16]
    cv2.putText(img, label, (4, margin + i * cell + cell // 2 + 5), font, 0.4, (0, 0, 0), 1,
                cv2.LINE_AA)
    # Column labels, rotated: draw on a strip and rotate it.
    strip = np.full((cell, margin - 4, 3), 255, np.uint8)
    cv2.putText(strip, label, (2, cell // 2 + 5), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
    img[0:margin - 4, margin + i * cell:margin + (i + 1) * cell] = strip
  return img


def sample_grid(images: Sequence[bytes], truths: Sequence[str], preds: Sequence[str],
                scores: Sequence[float], tile: int = 96, columns: int = 8) -> np.ndarray:
  """A grid of decoded images captioned 'pred (score)' in green when right, red when wrong."""
  rows = (len(images) + columns - 1) // columns
  caption = 30
  grid = np.full((rows * (tile + caption), columns * tile, 3), 255, np.uint8)
  for k, (data, truth, pred, score) in enumerate(zip(images, truths, preds, scores)):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
      continue
    image = cv2.resize(image, (tile - 4, tile - 4), interpolation=cv2.INTER_NEAREST)
    r, c = divmod(k, columns)
    y, x = r * (tile + caption), c * tile
    grid[y + 2:y + tile - 2, x + 2:x + tile - 2] = image
    color = (0, 140, 0) if truth == pred else (0, 0, 210)
    cv2.putText(grid, f"{pred[:9]} {score:.2f}", (x + 2, y + tile + 10), cv2.FONT_HERSHEY_SIMPLEX,
                0.35, color, 1, cv2.LINE_AA)
    cv2.putText(grid, f"true {truth[:9]}", (x + 2, y + tile + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                (60, 60, 60), 1, cv2.LINE_AA)
  return grid


def predict_samples(serving_model_dir: str, examples: Sequence[dict], count: int = 24
                    ) -> tuple[list[bytes], list[str], list[str], list[float]]:
  """Runs the serving signature (encoded bytes in) on eval examples and picks `count` to show.

  Args:
    examples: {"image": encoded bytes, "label": class name} dicts.
  Mistakes come first, then the rest round-robin over true classes.
  """
  images = [e["image"] for e in examples]
  truths = [e["label"] for e in examples]
  if not images:
    return [], [], [], []
  serve = tf.saved_model.load(serving_model_dir).signatures["serving_default"]
  preds, scores = [], []
  for i in range(0, len(images), 128):
    out = serve(tf.constant(images[i:i + 128]))
    preds += [p.decode() for p in out["predicted_class"].numpy()]
    scores += [float(s) for s in out["predicted_score"].numpy()]
  wrong = [i for i in range(len(images)) if preds[i] != truths[i]]
  by_class: dict[str, list[int]] = {}
  for i in range(len(images)):
    if preds[i] == truths[i]:
      by_class.setdefault(truths[i], []).append(i)
  chosen = wrong[:count // 2]
  queues = [by_class[c] for c in sorted(by_class)]
  while len(chosen) < count and any(queues):
    for q in queues:
      if q and len(chosen) < count:
        chosen.append(q.pop(0))
  return ([images[i] for i in chosen], [truths[i] for i in chosen], [preds[i] for i in chosen],
          [scores[i] for i in chosen])


# ---------------------------------------------------------------------------------------------
# HTML


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
  def cell(v):
    if isinstance(v, float):
      return f"{v:.4f}"
    return html.escape(str(v))
  head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
  body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
  return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}
th{background:#f3f3f3} .ok{color:#070} .bad{color:#b00} code{background:#f6f6f6;padding:0 .2em}
"""


def _classifier_sections(evaluation: Evaluation, class_names: Sequence[str],
                         samples: tuple) -> list[str]:
  parts = []
  if evaluation.validation_failures:
    parts.append("<ul>" + "".join(f"<li class='bad'>{html.escape(f)}</li>"
                                  for f in evaluation.validation_failures) + "</ul>")
  rows = [(k, v, evaluation.baseline.get(k, "")) for k, v in sorted(evaluation.overall.items())]
  parts.append("<h2>Evaluation metrics (eval split)</h2>" +
               _table(rows, ["metric", "candidate", "baseline (latest blessed)"]))
  if evaluation.per_slice:
    rows = [(s, m.get("sparse_categorical_accuracy", float("nan")), int(m.get("example_count", 0)))
            for s, m in sorted(evaluation.per_slice.items())]
    parts.append("<h2>Per class</h2>" + _table(rows, ["true class", "recall (accuracy)",
                                                      "examples"]))
  if evaluation.confusion is not None:
    parts.append("<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p>"
                 f"<img alt='confusion matrix' src='"
                 f"{png_data_uri(confusion_image(evaluation.confusion, class_names))}'>")
  if samples and samples[0]:
    parts.append("<h2>Sample eval predictions</h2><p>Through the serving signature "
                 "(encoded image bytes in).</p><img alt='sample predictions' src='"
                 f"{png_data_uri(sample_grid(*samples))}'>")
  return parts


def _embedding_sections(result: dict, figures: Sequence[tuple[dict, bytes]]) -> list[str]:
  """Sections for an embedding evaluator's result (`components.embedding_eval.outcome`)."""
  parts = []
  if result.get("failures"):
    parts.append("<ul>" + "".join(f"<li class='bad'>{html.escape(f)}</li>"
                                  for f in result["failures"]) + "</ul>")
  gates = [(name, t["value"] if t["value"] is not None else "n/a", t["lower_bound"],
            "ok" if t["ok"] else "FAILED") for name, t in sorted(result["thresholds"].items())]
  if gates:
    parts.append("<h2>Blessing gate</h2>" + _table(gates, ["metric", "value", "lower bound", ""]))
  rows = [(k, v if v is not None else "n/a") for k, v in sorted(result["metrics"].items())]
  parts.append(f"<h2>{html.escape(result['kind'].capitalize())} metrics (eval split)</h2>" +
               _table(rows, ["metric", "value"]))
  if result.get("per_class"):
    keys = sorted(next(iter(result["per_class"].values())))
    rows = [(c, *[m[k] for k in keys]) for c, m in sorted(result["per_class"].items())]
    parts.append("<h2>Per class</h2>" + _table(rows, ["query class", *keys]))
  for fig, png in figures:
    parts.append(f"<h2>{html.escape(fig['title'])}</h2><p>{html.escape(fig['caption'])}</p>"
                 f"<img alt='{html.escape(fig['title'])}' src='data:image/png;base64,"
                 f"{base64.b64encode(png).decode()}'>")
  return parts


def _edge_section(edge_metrics: dict) -> str:
  quality = edge_metrics.get("quality_metric", "accuracy")
  agreement = ("top1_agreement_with_keras" if quality == "accuracy" else
               next((k for k in edge_metrics["keras"] if k.endswith("_vs_keras")
                     and k.startswith("recall")), "mean_cosine_vs_keras"))
  rows = [(name, m["file"], m["bytes"], m[quality], m.get(agreement, ""))
          for name, m in edge_metrics["models"].items()]
  verdict = ("<span class='ok'>blessed for edge</span>" if edge_metrics["edge_blessed"]
             else "<span class='bad'>not blessed for edge: " +
             html.escape("; ".join(edge_metrics.get("not_blessed_reasons", []))) + "</span>")
  return (f"<h2>Edge models</h2><p>{verdict}; Keras {quality} "
          f"{edge_metrics['keras'][quality]:.4f} on "
          f"{edge_metrics['num_eval_examples']} eval images.</p>" +
          _table(rows, ["model", "file", "bytes", quality, agreement.replace("_", " ")]))


def render(title: str, evaluation: "Evaluation | dict", blessed: bool, serving_check: dict,
           class_names: Sequence[str],
           ingest_summary: dict, quarantine: Sequence[dict], edge_metrics: dict | None,
           samples: tuple, artifacts: dict[str, str], pushed_to: str | None,
           figures: Sequence[tuple[dict, bytes]] | None = None) -> str:
  """Builds the report HTML.

  Args:
    evaluation: TFMA results (classifiers) or an embedding evaluator's result dict.
    figures: (figure entry, PNG bytes) of an embedding evaluation.
  """
  parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_STYLE}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f"<p>Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}.</p>"]
  verdict = ("<span class='ok'>BLESSED</span>" if blessed
             else "<span class='bad'>NOT BLESSED</span>")
  pushed = (f"pushed to <code>{html.escape(pushed_to)}</code>" if pushed_to else "not pushed")
  if "error" in serving_check:
    check = f"<span class='bad'>FAILED: {html.escape(serving_check['error'])}</span>"
  elif serving_check:
    check = (f"<span class='ok'>passed</span> ({serving_check.get('instances')} REST instances "
             f"in a separate process match the evaluated predictions, max |diff| "
             f"{serving_check.get('max_abs_score_diff', 0):.1e})")
  else:
    check = "not run"
  parts.append(f"<h2>Verdict</h2><p>Serving model: {verdict}, {pushed}.</p>"
               f"<p>Serving check: {check}.</p>")
  if isinstance(evaluation, Evaluation):
    parts += _classifier_sections(evaluation, class_names, samples)
  else:
    parts += _embedding_sections(evaluation, figures or [])
  if edge_metrics:
    parts.append(_edge_section(edge_metrics))
  counts = ingest_summary.get("examples", {})
  parts.append("<h2>Data</h2>" + _table(
      [("source", ingest_summary.get("source", "")), ("listed files", ingest_summary.get("listed")),
       *[(f"{k} examples", v) for k, v in counts.items()],
       ("quarantined", len(quarantine))], ["", ""]))
  if quarantine:
    parts.append("<h3>Quarantine</h3>" + _table(
        [(q["path"], q.get("label", ""), q["reason"]) for q in quarantine[:200]],
        ["file", "label", "reason"]))
    if len(quarantine) > 200:
      parts.append(f"<p>… and {len(quarantine) - 200} more (see quarantine.jsonl).</p>")
  parts.append("<h2>Artifacts</h2>" + _table(sorted(artifacts.items()), ["artifact", "path"]))
  parts.append("</body></html>")
  return "\n".join(parts)


def write_report(out_dir: str, html_text: str) -> str:
  path = os.path.join(out_dir, REPORT_FILE)
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(html_text)
  return path
