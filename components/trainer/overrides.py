"""Training settings a run of the compiled pipeline may change (Kubeflow / Vertex AI runtime
parameters) applied to the Trainer's custom_config. TFX-free.

The Trainer's custom_config holds each task's trainer sections under the task's name
(`{task: {"train": {...}, "image": {...}}, "code_version": ...}`); an override replaces the key
in every section that has it (`train.epochs`, or `model.epochs` for retrieval). None leaves the
configured value.
"""

from __future__ import annotations

import copy

OVERRIDABLE = {"epochs": int, "learning_rate": float}


def apply(custom_config: dict, **values) -> dict:
  """A copy of `custom_config` with each non-None value set in every `<task>.<section>` that
  has that key.

  Raises:
    ValueError: an unknown key, a value of the wrong kind or range, or no section holding it.
  """
  unknown = sorted(set(values) - set(OVERRIDABLE))
  if unknown:
    raise ValueError(f"not a training runtime parameter: {unknown}; known: {sorted(OVERRIDABLE)}")
  given = {k: v for k, v in values.items() if v is not None}
  if not given:
    return custom_config
  for key, value in given.items():
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
      raise ValueError(f"runtime parameter {key} must be a positive number, got {value!r}")
  out = copy.deepcopy(custom_config)
  sections = [section for task in out.values() if isinstance(task, dict)
              for section in task.values() if isinstance(section, dict)]
  for key, value in given.items():
    holders = [section for section in sections if key in section]
    if not holders:
      raise ValueError(f"no section of the Trainer's custom_config has {key!r} to override")
    for section in holders:
      section[key] = OVERRIDABLE[key](value)
  return out
