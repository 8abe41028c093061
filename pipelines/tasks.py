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


def _classification() -> Task:
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  from pipelines.classification import config  # pylint: disable=g-import-not-at-top
  from pipelines.classification import pipeline  # pylint: disable=g-import-not-at-top
  return Task(name="classification", load_config=config.load,
              task_config=lambda run: run.classification,
              create_pipeline=pipeline.create_pipeline,
              data_source=lambda cfg: cfg.data.source,
              write_default_data=datasets.write_digits)


def _retrieval() -> Task:
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  from pipelines.retrieval import config  # pylint: disable=g-import-not-at-top
  from pipelines.retrieval import pipeline  # pylint: disable=g-import-not-at-top
  return Task(name="retrieval", load_config=config.load, task_config=lambda run: run.retrieval,
              create_pipeline=pipeline.create_pipeline, data_source=lambda cfg: cfg.data.source,
              write_default_data=datasets.write_digits)


def _similarity() -> Task:
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  from pipelines.similarity import config  # pylint: disable=g-import-not-at-top
  from pipelines.similarity import pipeline  # pylint: disable=g-import-not-at-top
  return Task(name="similarity", load_config=config.load, task_config=lambda run: run.similarity,
              create_pipeline=pipeline.create_pipeline, data_source=lambda cfg: cfg.data.source,
              write_default_data=datasets.write_digits)


_TASKS: dict[str, Callable[[], Task]] = {"classification": _classification,
                                         "retrieval": _retrieval, "similarity": _similarity}
NAMES = tuple(_TASKS)


def get(name: str) -> Task:
  if name not in _TASKS:
    raise KeyError(f"unknown task {name!r}; available: {', '.join(NAMES)}")
  return _TASKS[name]()
