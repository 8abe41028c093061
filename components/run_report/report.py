"""The run report: one self-contained HTML file rendered from Jinja2 templates (`templates/`):
shared sections (verdict, gate, metrics, slices, figures, training curves and TensorBoard path,
edge models, data and quarantine, time per component, artifacts) plus the sections a task lists.
Images are inline PNGs (data URIs), so the file stands alone.

TFX-free and task-free: the component passes artifact folders and the task's section functions;
evaluation results arrive in the one outcome format (`components.common.outcome`).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import os
from typing import Any, Sequence

import cv2
import jinja2
import numpy as np

from components.common import keras_bundle

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


@dataclasses.dataclass
class Section:
  """A task section of the report: a title, and any of a text, an image and a table."""
  title: str
  text: str = ""
  image: str = ""  # a data URI (`png_data_uri`)
  header: Sequence[str] = ()
  rows: Sequence[Sequence[Any]] = ()


@dataclasses.dataclass
class SectionInputs:
  """What a task's section function may read (`(SectionInputs) -> Section | None`)."""
  evaluation: dict  # the outcome
  class_names: list[str]
  serving_model_dir: str
  eval_examples: list[dict]  # {"image", "label", "source"} of up to 512 eval examples


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


def _line(img: np.ndarray, a, b, color) -> None:
  cv2.line(img, a, b, color, 2, cv2.LINE_AA)


def _dashed_line(img: np.ndarray, a, b, color, dash: int = 6) -> None:
  length = max(1.0, float(np.hypot(b[0] - a[0], b[1] - a[1])))
  for t in np.arange(0, length, 2 * dash):
    p = (int(a[0] + (b[0] - a[0]) * t / length), int(a[1] + (b[1] - a[1]) * t / length))
    e = min(t + dash, length)
    q = (int(a[0] + (b[0] - a[0]) * e / length), int(a[1] + (b[1] - a[1]) * e / length))
    _line(img, p, q, color)


_COLORS = [(180, 100, 30), (30, 120, 230), (60, 160, 60), (40, 40, 200), (150, 80, 150)]


def curves_image(history: dict[str, list[float]], width: int = 360, height: int = 220
                 ) -> np.ndarray | None:
  """One panel per metric: train (solid) and eval (`val_*`, dashed) values per epoch."""
  not_curves = ("lr", keras_bundle.EPOCH_SECONDS)
  metrics = sorted(k for k in history
                   if not k.startswith("val_") and k not in not_curves and history[k])
  if not metrics:
    return None
  panels = []
  font = cv2.FONT_HERSHEY_SIMPLEX
  for i, name in enumerate(metrics):
    img = np.full((height, width, 3), 255, np.uint8)
    series = [(history[name], False), (history.get(f"val_{name}", []), True)]
    values = [v for s, _ in series for v in s if np.isfinite(v)]
    if not values:
      continue
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1e-9
    left, top, right, bottom = 48, 22, width - 10, height - 24
    cv2.rectangle(img, (left, top), (right, bottom), (200, 200, 200), 1)
    color = _COLORS[i % len(_COLORS)]
    for values_, dashed in series:
      if not values_:
        continue
      n = max(len(values_) - 1, 1)
      pts = [(int(left + (right - left) * j / n),
              int(bottom - (bottom - top) * (v - lo) / (hi - lo))) for j, v in enumerate(values_)]
      for a, b in zip(pts, pts[1:]):
        (_dashed_line if dashed else _line)(img, a, b, color)
      if len(pts) == 1:
        cv2.circle(img, pts[0], 3, color, -1)
    cv2.putText(img, f"{name}  (train solid, eval dashed)", (left, 15), font, 0.4, (0, 0, 0), 1,
                cv2.LINE_AA)
    cv2.putText(img, f"{hi:.3g}", (2, top + 8), font, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, f"{lo:.3g}", (2, bottom), font, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, f"epochs: {len(history[name])}", (left, height - 6), font, 0.35,
                (80, 80, 80), 1, cv2.LINE_AA)
    panels.append(img)
  return np.concatenate(panels, axis=1) if panels else None


# ---------------------------------------------------------------------------------------------
# Time per component (local runs: the SQLite ML Metadata store)


def component_times(metadata_path: str, pipeline_name: str) -> list[tuple[str, str, float]]:
  """(node, state, seconds) of each node's latest execution, in the order they started."""
  if not metadata_path or not os.path.exists(metadata_path):
    return []
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(config)
  rows = []
  prefix = f"{pipeline_name}."
  for ctx in store.get_contexts_by_type("node"):
    if not ctx.name.startswith(prefix):
      continue
    executions = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    if not executions:
      continue
    last = executions[-1]
    state = metadata_store_pb2.Execution.State.Name(last.last_known_state)
    seconds = (last.last_update_time_since_epoch - last.create_time_since_epoch) / 1000
    rows.append((last.create_time_since_epoch, ctx.name[len(prefix):], state, seconds))
  return [(node, state, seconds) for _, node, state, seconds in sorted(rows)]


# ---------------------------------------------------------------------------------------------
# HTML


def _cell(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:.4f}"
  return "" if v is None else str(v)


def _environment() -> jinja2.Environment:
  env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                           autoescape=True, undefined=jinja2.StrictUndefined,
                           trim_blocks=True, lstrip_blocks=True)
  env.filters["cell"] = _cell
  return env


def _gate_rows(thresholds: dict) -> list[tuple]:
  rows = []
  for name, t in sorted(thresholds.items()):
    bounds = [f"{key.replace('_', ' ')} {t[key]:g}" for key in ("lower_bound", "upper_bound",
                                                                 "max_drop", "max_increase")
              if key in t]
    rows.append((name, "n/a" if t.get("value") is None else t["value"], "; ".join(bounds),
                 "ok" if t["ok"] else "FAILED"))
  return rows


def render(title: str, task: str, evaluation: dict, blessed: bool, serving_check: dict,
           ingest_summary: dict, quarantine: Sequence[dict], edge_metrics: dict | None,
           artifacts: dict[str, str], pushed_to: str | None,
           figures: Sequence[tuple[dict, bytes]] = (), sections: Sequence[Section] = (),
           history: dict | None = None, tensorboard: str = "",
           timings: Sequence[tuple[str, str, float]] = ()) -> str:
  """Builds the report HTML.

  Args:
    evaluation: the evaluation outcome (`components.common.outcome`).
    figures: (figure entry of the outcome, PNG bytes).
    sections: the task's sections, rendered after the shared evaluation sections.
    history: the Trainer's {metric: [value per epoch]}; tensorboard: its log folder.
    timings: (component, state, seconds) per component.
  """
  baseline = evaluation.get("baseline", {})
  metric_rows = [(k, "n/a" if v is None else v, baseline.get(k, ""))
                 for k, v in sorted(evaluation.get("metrics", {}).items())]
  slices = evaluation.get("slices", {})
  slice_keys = sorted({k for m in slices.values() for k in m})
  edge_rows = []
  if edge_metrics and edge_metrics.get("exportable", True):
    edge_metrics = {"exportable": True, **edge_metrics}
    q, a = edge_metrics["quality_metric"], edge_metrics.get("agreement_metric", "")
    edge_rows = [(name, " + ".join(m.get("files", [m.get("file")])), m["bytes"], m[q],
                  m.get(a, ""))
                 for name, m in edge_metrics["models"].items()]
  counts = ingest_summary.get("examples", {})
  curves = curves_image(history or {})
  return _environment().get_template(TEMPLATE).render(
      title=title, task=task,
      generated=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
      blessed=blessed, pushed_to=pushed_to, serving_check=serving_check,
      evaluation={"title": "Evaluation", "failures": [], **evaluation},
      gate_rows=_gate_rows(evaluation.get("thresholds", {})), metric_rows=metric_rows,
      slice_header=["slice", *slice_keys],
      slice_rows=[(s, *[m.get(k, "") for k in slice_keys]) for s, m in sorted(slices.items())],
      figures=[{**fig, "uri": "data:image/png;base64," + base64.b64encode(png).decode()}
               for fig, png in figures],
      sections=sections, curves=png_data_uri(curves) if curves is not None else "",
      tensorboard=tensorboard, edge=edge_metrics, edge_rows=edge_rows,
      data_rows=[("source", ingest_summary.get("source", "")),
                 ("listed files", ingest_summary.get("listed")),
                 *[(f"{k} examples", v) for k, v in counts.items()],
                 ("stored as lossless PNG (converted.jsonl)",
                  ingest_summary.get("converted_to_png", 0)),
                 ("quarantined", len(quarantine))],
      quarantine=quarantine,
      quarantine_rows=[(q["path"], q.get("label", ""), q["reason"]) for q in quarantine[:200]],
      timing_rows=[(node, state.lower(), seconds) for node, state, seconds in timings],
      artifacts=artifacts)


def write_report(out_dir: str, html_text: str) -> str:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(out_dir, REPORT_FILE)
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(html_text)
  return path
