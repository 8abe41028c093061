"""The task pipelines the `cvpipe` command knows, and how each loads its config and default data."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  # (yaml path or None, overrides) -> run config with `.infra` and the task section.
  load_config: Callable[[str | None, Mapping[str, Any] | None], Any]
  task_config: Callable[[Any], Any]  # run config -> task config
  create_pipeline: Callable[[Any, Any], Any]  # (task config, PipelineRuntime) -> tfx Pipeline
  data_source: Callable[[Any], str]  # task config -> configured source ("" = default)
  write_default_data: Callable[[str], str]  # folder -> data source


NAMES = ("classification", "retrieval", "similarity")


def _task(name: str) -> Task:
  """Every task package has `config.load` (a run config with a `<name>` section holding
  `data.source`) and `pipeline.create_pipeline`; all default to the embedded digits."""
  import importlib  # pylint: disable=g-import-not-at-top
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"pipelines.{name}.config")
  pipeline = importlib.import_module(f"pipelines.{name}.pipeline")
  return Task(name=name, load_config=config.load, task_config=lambda run: getattr(run, name),
              create_pipeline=pipeline.create_pipeline, data_source=lambda cfg: cfg.data.source,
              write_default_data=datasets.write_digits)


def get(name: str) -> Task:
  if name not in NAMES:
    raise KeyError(f"unknown task {name!r}; available: {', '.join(NAMES)}")
  return _task(name)
