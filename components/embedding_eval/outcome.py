"""What an embedding evaluator writes (TFX-free), read back by the run report.

Evaluation folder (`ModelEvaluation` artifact):
  evaluation.json   {"kind", "metrics": {name: value}, "per_class": {label: {...}},
                     "thresholds": {metric: {"lower_bound", "value", "ok"}}, "blessed",
                     "failures": [...], "figures": [{"file", "title", "caption"}]}
  *.png             the figures
Blessing folder (`ModelBlessing`): `BLESSED` or `NOT_BLESSED` (with the failures), as TFX's
Evaluator writes them; the component sets the `blessed` custom property the Pusher checks.
"""

from __future__ import annotations

import json
import os

EVALUATION_FILE = "evaluation.json"
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"


def gate(metrics: dict, lower_bounds: dict[str, float]) -> tuple[dict, list[str]]:
  """Checks metrics against lower bounds; returns (thresholds table, failure messages)."""
  table, failures = {}, []
  for name, bound in lower_bounds.items():
    value = metrics.get(name)
    ok = value is not None and value >= bound
    table[name] = {"lower_bound": bound, "value": value, "ok": ok}
    if not ok:
      failures.append(f"{name} = {value if value is None else round(value, 4)} is below the "
                      f"lower bound {bound}")
  return table, failures


def write(evaluation_dir: str, blessing_dir: str, result: dict) -> None:
  """Writes evaluation.json and the blessing marker; `result` has blessed and failures."""
  os.makedirs(evaluation_dir, exist_ok=True)
  os.makedirs(blessing_dir, exist_ok=True)
  with open(os.path.join(evaluation_dir, EVALUATION_FILE), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
  marker = BLESSED_FILE if result["blessed"] else NOT_BLESSED_FILE
  with open(os.path.join(blessing_dir, marker), "w") as f:
    f.write("\n".join(result["failures"]) + "\n")


def read(evaluation_dir: str) -> dict | None:
  """The evaluation.json of an embedding evaluator, or None (e.g. a TFMA evaluation folder)."""
  from components import artifact_io  # pylint: disable=g-import-not-at-top
  return artifact_io.read_json(os.path.join(evaluation_dir, EVALUATION_FILE))
