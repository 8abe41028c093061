"""One evaluation outcome for every evaluator (TFX-free): TFMA's and cvpipe's custom ones.

Custom evaluators write it; TFX's Evaluator output is read into the same shape with TFMA's own
loaders (`tfma.load_metrics`, `load_plots`, `load_validation_result`, `load_eval_run`). The run
report and the CLI read every task's gate through `read`.

The outcome (a dict; `evaluation.json` in a custom evaluator's `ModelEvaluation` folder):
  title       what was evaluated, e.g. "Retrieval"
  metrics     {name: value} on the whole eval split (the candidate)
  baseline    {name: value} of the latest blessed model, when one was compared
  thresholds  {name: {"value", "lower_bound", "upper_bound", "max_drop" or
              "max_increase" (against the baseline), "ok"}} (the gate)
  slices      {"label=cat": {name: value}} per-slice rows
  plots       {"confusion_matrix": {"matrix": [[...]]}} (optional)
  figures     [{"file", "title", "caption"}] PNG files beside evaluation.json
  blessed     bool; failures: [messages]
Blessing folder (`ModelBlessing`): `BLESSED` or `NOT_BLESSED` (with the failures), as TFX's
Evaluator writes them; the component sets the `blessed` custom property the Pusher checks.
"""

from __future__ import annotations

import json
import os
from typing import Any

EVALUATION_FILE = "evaluation.json"
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"


def new(title: str, metrics: dict, thresholds: dict, failures: list[str],
        slices: dict | None = None, figures: list | None = None, baseline: dict | None = None,
        plots: dict | None = None) -> dict:
  return {"title": title, "metrics": metrics, "baseline": baseline or {},
          "thresholds": thresholds, "slices": slices or {}, "plots": plots or {},
          "figures": figures or [], "blessed": not failures, "failures": failures}


def gate(metrics: dict, lower_bounds: dict[str, float],
         upper_bounds: dict[str, float] | None = None) -> tuple[dict, list[str]]:
  """Checks metrics against lower (and upper) bounds; returns (thresholds table, failure
  messages). A missing metric fails."""
  table, failures = {}, []
  for bounds, key, ok_of, words in ((lower_bounds, "lower_bound", lambda v, b: v >= b, "below"),
                                    (upper_bounds or {}, "upper_bound", lambda v, b: v <= b,
                                     "above")):
    for name, bound in bounds.items():
      value = metrics.get(name)
      ok = value is not None and ok_of(value, bound)
      table[name] = {key: bound, "value": value, "ok": ok}
      if not ok:
        failures.append(f"{name} = {value if value is None else round(value, 4)} is {words} the "
                        f"{key.replace('_', ' ')} {bound}")
  return table, failures


def gate_against_baseline(thresholds: dict, failures: list[str], metric: str, value: float,
                          baseline: dict, max_drop: float, higher_is_better: bool = True) -> None:
  """Adds the change threshold to a `gate` table: `metric` may be at most `max_drop` worse than
  the baseline's (the latest blessed model's, when `baseline` has it): below it, or above it
  when lower is better."""
  if metric not in baseline:
    return
  worse_by = (baseline[metric] - value) if higher_is_better else (value - baseline[metric])
  ok = worse_by <= max_drop + 1e-9
  thresholds[metric].update({"max_drop" if higher_is_better else "max_increase": max_drop,
                            "baseline": baseline[metric]})
  thresholds[metric]["ok"] = thresholds[metric]["ok"] and ok
  if not ok:
    failures.append(f"{metric} = {value:.4f} is more than {max_drop:g} "
                    f"{'below' if higher_is_better else 'above'} the baseline "
                    f"{baseline[metric]:.4f}")


def write(evaluation_dir: str, blessing_dir: str, result: dict) -> None:
  """Writes evaluation.json and the blessing marker; `result` has blessed and failures."""
  os.makedirs(evaluation_dir, exist_ok=True)
  os.makedirs(blessing_dir, exist_ok=True)
  with open(os.path.join(evaluation_dir, EVALUATION_FILE), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
  marker = BLESSED_FILE if result["blessed"] else NOT_BLESSED_FILE
  with open(os.path.join(blessing_dir, marker), "w") as f:
    f.write("\n".join(result["failures"]) + "\n")


def publish(evaluate, evaluation, blessing) -> dict:
  """What a custom evaluator component does with its artifacts: runs `evaluate(local evaluation
  folder) -> outcome`, writes the outcome and the blessing marker (copied to gs:// and the like
  when the artifacts live there), sets the `blessed` property the Pusher checks and each numeric
  metric as a property of the evaluation, and logs the failures. Returns the outcome."""
  import logging  # pylint: disable=g-import-not-at-top
  from components.common import artifact_io  # pylint: disable=g-import-not-at-top
  with artifact_io.local_output_dir(evaluation.uri) as ev, \
      artifact_io.local_output_dir(blessing.uri) as bl:
    result = evaluate(ev)
    write(ev, bl, result)
  blessing.set_int_custom_property("blessed", int(result["blessed"]))
  for name, value in result["metrics"].items():
    if isinstance(value, (int, float)):
      evaluation.set_float_custom_property(name, float(value))
  for f in result["failures"]:
    logging.warning("not blessed: %s", f)
  return result


def publish_against_baseline(evaluate, model, baseline_model, evaluation, blessing) -> dict:
  """`publish` for evaluators that compare the candidate `model` with the latest blessed one:
  runs `evaluate(candidate serving dir, baseline serving dir or None, local evaluation folder)`,
  and records the candidate's id on the blessing (what TFX's LatestBlessedModelStrategy matches
  blessings to models by)."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  candidate = path_utils.serving_model_path(model.uri)
  baseline = path_utils.serving_model_path(baseline_model.uri) if baseline_model else None
  result = publish(lambda out: evaluate(candidate, baseline, out), evaluation, blessing)
  blessing.set_int_custom_property("current_model_id", model.id)
  return result


def read(evaluation_dir: str) -> dict | None:
  """The outcome of any evaluator's `ModelEvaluation` folder, or None when it holds none."""
  from components.common import artifact_io  # pylint: disable=g-import-not-at-top
  custom = artifact_io.read_json(os.path.join(evaluation_dir, EVALUATION_FILE))
  if custom is not None:
    return custom
  if artifact_io.exists(os.path.join(evaluation_dir, "eval_config.json")):
    return from_tfma(evaluation_dir)
  return None


# ---------------------------------------------------------------------------------------------
# TFMA


def _slice_name(slice_key) -> str:
  parts = []
  for s in slice_key.single_slice_keys:
    value = getattr(s, s.WhichOneof("kind"))
    if isinstance(value, bytes):
      value = value.decode("utf-8", "replace")
    parts.append(f"{s.column}={value}")
  return ", ".join(parts) or "Overall"


def _metric_name(key) -> str:
  return key.name + (f"@{key.sub_key.top_k}" if key.HasField("sub_key")
                     and key.sub_key.HasField("top_k") else "")


def _threshold_entry(threshold) -> dict[str, Any]:
  out: dict[str, Any] = {}
  value = threshold.value_threshold
  if value.HasField("lower_bound"):
    out["lower_bound"] = value.lower_bound.value
  if value.HasField("upper_bound"):
    out["upper_bound"] = value.upper_bound.value
  change = threshold.change_threshold
  if change.HasField("absolute"):
    out["max_drop"] = -change.absolute.value
  return out


def from_tfma(evaluation_dir: str) -> dict:
  """A TFX Evaluator's output as an outcome, through TFMA's loaders."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.writers import eval_config_writer  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  metrics: dict[str, float] = {}
  baseline: dict[str, float] = {}
  slices: dict[str, dict[str, float]] = {}
  for m in tfma.load_metrics(evaluation_dir):
    name = _slice_name(m.slice_key)
    for kv in m.metric_keys_and_values:
      if kv.key.is_diff or not kv.value.HasField("double_value"):
        continue
      value = kv.value.double_value.value
      if kv.key.model_name == "baseline":
        if name == "Overall":
          baseline[_metric_name(kv.key)] = value
        continue
      (metrics if name == "Overall" else slices.setdefault(name, {}))[_metric_name(kv.key)] = value
  plots: dict[str, Any] = {}
  for p in tfma.load_plots(evaluation_dir):
    if _slice_name(p.slice_key) != "Overall":
      continue
    for kv in p.plot_keys_and_values:
      mats = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
      if kv.key.model_name == "baseline" or not mats:
        continue
      entries = mats[0].entries
      n = 1 + max([max(e.actual_class_id, e.predicted_class_id) for e in entries] or [0])
      matrix = np.zeros((n, n), np.int64)
      for e in entries:
        if e.actual_class_id >= 0 and e.predicted_class_id >= 0:
          matrix[e.actual_class_id, e.predicted_class_id] += int(e.num_weighted_examples)
      plots["confusion_matrix"] = {"matrix": matrix.tolist()}
  eval_config = eval_config_writer.load_eval_run(evaluation_dir)[0]
  validation = tfma.load_validation_result(evaluation_dir)
  failed = {}
  failures = []
  for per_slice in validation.metric_validations_per_slice:
    for f in per_slice.failures:
      failed[_metric_name(f.metric_key)] = f
      failures.append(f"{_slice_name(per_slice.slice_key)}: {_metric_name(f.metric_key)} = "
                      f"{f.metric_value.double_value.value:.4f} "
                      f"({f.message or 'threshold not met'})")
  thresholds = {}
  for spec in eval_config.metrics_specs:
    for mc in spec.metrics:
      entries = [_threshold_entry(t.threshold) for t in mc.per_slice_thresholds]
      if mc.HasField("threshold"):
        entries.append(_threshold_entry(mc.threshold))
      for entry in entries:
        name = _metric_name_of_config(mc, metrics)
        thresholds[name] = {**entry, "value": metrics.get(name),
                            "baseline": baseline.get(name), "ok": name not in failed}
  result = new("Evaluation (TFMA)", metrics, thresholds, failures, slices=slices,
               baseline=baseline, plots=plots)
  result["blessed"] = bool(validation.validation_ok)
  return result


def _metric_name_of_config(metric_config, metrics: dict) -> str:
  """The metric key a TFMA MetricConfig computes (its class name in snake case, or its
  configured name)."""
  config = json.loads(metric_config.config or "{}")
  if "name" in config:
    return config["name"]
  snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in metric_config.class_name)
  snake = snake.lstrip("_")
  return snake if snake in metrics or not metrics else next(
      (m for m in metrics if m.replace("_", "") == snake.replace("_", "")), snake)
