"""Runtime-parameter overrides of the Trainer's custom_config, and the executor applying them."""

import pytest

from components.trainer import overrides

CONFIG = {"classification": {"image": {"height": 32}, "train": {"epochs": 30,
                                                                 "learning_rate": 0.001}},
          "code_version": "abc"}


def test_none_keeps_the_configured_values():
  assert overrides.apply(CONFIG, epochs=None, learning_rate=None) is CONFIG


def test_values_replace_the_configured_ones_where_they_live():
  out = overrides.apply(CONFIG, epochs=5, learning_rate=0.01)
  assert out["classification"]["train"] == {"epochs": 5, "learning_rate": 0.01}
  assert CONFIG["classification"]["train"]["epochs"] == 30  # a copy
  retrieval = {"retrieval": {"model": {"epochs": 30, "learning_rate": 0.001}}}
  assert overrides.apply(retrieval, epochs=3)["retrieval"]["model"]["epochs"] == 3


@pytest.mark.parametrize("values, message", [
    ({"epochs": 0}, "must be a positive number"),
    ({"learning_rate": -1.0}, "must be a positive number"),
    ({"batch_size": 8}, "not a training runtime parameter"),
])
def test_bad_values_are_clear_errors(values, message):
  with pytest.raises(ValueError, match=message):
    overrides.apply(CONFIG, **values)


def test_no_section_holding_the_key_is_an_error():
  with pytest.raises(ValueError, match="no section .* has 'epochs'"):
    overrides.apply({"toy": {"image": {}}}, epochs=3)


def test_executor_hands_run_fn_the_overridden_config(tmp_path):
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.utils import json_utils  # pylint: disable=g-import-not-at-top
  from components.trainer import component  # pylint: disable=g-import-not-at-top
  model, run = standard_artifacts.Model(), standard_artifacts.ModelRun()
  model.uri, run.uri = str(tmp_path / "model"), str(tmp_path / "run")
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  examples.split_names = '["train", "eval"]'
  fn_args = component.Executor()._GetFnArgs(  # pylint: disable=protected-access
      {"examples": [examples]}, {"model": [model], "model_run": [run]},
      {"custom_config": json_utils.dumps(CONFIG), "epochs": 7, "learning_rate": None,
       "train_args": "{}", "eval_args": "{}"})
  assert fn_args.custom_config["classification"]["train"] == {"epochs": 7,
                                                              "learning_rate": 0.001}
