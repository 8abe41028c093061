"""The shared task test kit's fast checks, for every registered task — the toy task of
`tests/toy_task/` (registered only here) included, which proves that a task needs no edit outside
its own folder."""

import pytest

from pipelines import tasks
from tests import kit
from tests.toy_task import task as toy_task  # noqa: F401  (registers the toy task)

TASKS = tasks.names()


def test_the_registry_has_the_built_in_tasks_and_the_toy():
  assert {"classification", "retrieval", "similarity", "toy"} <= set(TASKS)
  with pytest.raises(KeyError, match="unknown task 'nope'; available: "):
    tasks.get("nope")


@pytest.mark.parametrize("name", TASKS)
def test_declaration(name):
  kit.check_declaration(tasks.get(name))


@pytest.mark.parametrize("name", TASKS)
def test_config(name, tmp_path):
  kit.check_config(tasks.get(name), tmp_path)


@pytest.mark.parametrize("name", TASKS)
def test_compile_matches_the_golden_spec(name, tmp_path, update_goldens):
  kit.check_compile(tasks.get(name), tmp_path, update_goldens)


@pytest.mark.parametrize("name", TASKS)
def test_report_renders(name):
  kit.check_report_renders(tasks.get(name))


def test_cli_task_choices_and_help_come_from_the_registry(capsys):
  from pipelines import cli
  with pytest.raises(SystemExit):
    cli.main(["--help"])
  out = capsys.readouterr().out
  for task in tasks.all_tasks():
    assert task.name in out and task.summary in out


def test_readme_task_table_lists_every_built_in_task():
  import os
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
  for task in tasks.all_tasks():
    if task.module.startswith("pipelines."):
      assert f"| {task.name} | {task.summary} |" in readme, task.name
