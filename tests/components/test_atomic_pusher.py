import os
import shutil

import pytest

from components.atomic_pusher import executor


@pytest.fixture
def saved_model(tmp_path):
  src = tmp_path / "model"
  (src / "variables").mkdir(parents=True)
  (src / "variables" / "variables.index").write_bytes(b"idx")
  (src / "saved_model.pb").write_bytes(b"pb")
  return src


def test_push_creates_a_complete_version_and_no_staging(saved_model, tmp_path):
  base = tmp_path / "serving" / "m"
  final = executor.push_atomically(str(saved_model), str(base), "100")
  assert final == str(base / "100")
  assert (base / "100" / "saved_model.pb").read_bytes() == b"pb"
  assert (base / "100" / "variables" / "variables.index").exists()
  assert os.listdir(base) == ["100"]


def test_versions_are_immutable(saved_model, tmp_path):
  executor.push_atomically(str(saved_model), str(tmp_path), "7")
  with pytest.raises(FileExistsError, match="already exists"):
    executor.push_atomically(str(saved_model), str(tmp_path), "7")


def test_staging_left_by_a_killed_push_is_replaced(saved_model, tmp_path):
  stale = tmp_path / ".staging-9"
  stale.mkdir()
  (stale / "half_copied").write_bytes(b"x")
  executor.push_atomically(str(saved_model), str(tmp_path), "9")
  assert not stale.exists()
  assert not (tmp_path / "9" / "half_copied").exists()


def test_next_version_moves_past_existing_versions(tmp_path):
  (tmp_path / "99999999999").mkdir()
  (tmp_path / ".staging-5").mkdir()
  assert executor.next_version(str(tmp_path)) == "100000000000"
  assert int(executor.next_version(str(tmp_path / "empty"))) > 1_700_000_000


def test_an_identical_model_is_recognised_as_already_served(saved_model, tmp_path):
  base = tmp_path / "serving"
  assert executor.already_serving(str(saved_model), str(base)) is None
  executor.push_atomically(str(saved_model), str(base), "3")
  assert executor.already_serving(str(saved_model), str(base)) == "3"
  (saved_model / "saved_model.pb").write_bytes(b"retrained")
  assert executor.already_serving(str(saved_model), str(base)) is None


def _artifact(cls, uri, **int_props):
  a = cls()
  a.uri = str(uri)
  for k, v in int_props.items():
    a.set_int_custom_property(k, v)
  return a


@pytest.mark.parametrize("model_blessed, infra_blessed, pushed", [(1, 1, 1), (1, 0, 0), (0, 1, 0)])
def test_push_needs_both_the_evaluator_and_the_serving_check(saved_model, tmp_path, model_blessed,
                                                              infra_blessed, pushed):
  from tfx.proto import pusher_pb2
  from tfx.types import standard_artifacts
  from tfx.utils import proto_utils
  model_dir = tmp_path / "trainer_model"
  shutil.copytree(saved_model, model_dir / "Format-Serving")
  serving = tmp_path / "serving"
  push = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving)))
  executor.AtomicPushExecutor().Do(
      {"model": [_artifact(standard_artifacts.Model, model_dir)],
       "model_blessing": [_artifact(standard_artifacts.ModelBlessing, tmp_path / "b",
                                    blessed=model_blessed)],
       "infra_blessing": [_artifact(standard_artifacts.InfraBlessing, tmp_path / "i",
                                    blessed=infra_blessed)]},
      {"pushed_model": [push]},
      {"push_destination": proto_utils.proto_to_json(destination), "custom_config": "null"})
  assert push.get_int_custom_property("pushed") == pushed
  versions = os.listdir(serving) if serving.exists() else []
  assert len(versions) == pushed
