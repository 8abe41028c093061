import io
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


class _ObjectStore:
  """A fake object store (scheme fakeobj://) over a local folder: a folder rename is a copy of
  each object in listing order, as on GCS, and every object write is checked by `watch`."""

  root = ""
  watch = None

  @classmethod
  def filesystem(cls):
    from tfx.dsl.io.plugins import local

    def real(path):
      return os.path.join(cls.root, str(path)[len("fakeobj://"):])

    def fake(path):
      return "fakeobj://" + os.path.relpath(path, cls.root)

    class Fs(local.LocalFilesystem):
      SUPPORTED_SCHEMES = ["fakeobj://"]

      @staticmethod
      def open(name, mode="r"):
        path = real(name) if str(name).startswith("fakeobj://") else str(name)
        if "w" not in mode:
          return open(path, mode)
        os.makedirs(os.path.dirname(path), exist_ok=True)

        class Upload(io.FileIO):
          """An object appears when its upload completes (on close)."""

          def close(self):
            super().close()
            cls.watch()
        return Upload(path, "w")

      @staticmethod
      def exists(path):
        return os.path.exists(real(path))

      @staticmethod
      def isdir(path):
        return os.path.isdir(real(path))

      @staticmethod
      def listdir(path):
        return os.listdir(real(path))

      @staticmethod
      def makedirs(path):
        os.makedirs(real(path), exist_ok=True)

      @staticmethod
      def rmtree(path):
        shutil.rmtree(real(path))

      @staticmethod
      def walk(top, topdown=True, onerror=None):
        for d, dirs, files in os.walk(real(top), topdown=topdown):
          yield fake(d), dirs, files

      @staticmethod
      def copy(src, dst, overwrite=False):
        src_path = real(src) if str(src).startswith("fakeobj://") else str(src)
        os.makedirs(os.path.dirname(real(dst)), exist_ok=True)
        shutil.copyfile(src_path, real(dst))
        cls.watch()

      @staticmethod
      def rename(src, dst, overwrite=False):
        objects = sorted(os.path.relpath(os.path.join(d, f), real(src))
                         for d, _, files in os.walk(real(src)) for f in files)
        for rel in objects:  # object by object, in listing order
          os.makedirs(os.path.dirname(os.path.join(real(dst), rel)), exist_ok=True)
          shutil.copyfile(os.path.join(real(src), rel), os.path.join(real(dst), rel))
          cls.watch()
        shutil.rmtree(real(src))

    return Fs


@pytest.fixture
def object_store(tmp_path, saved_model):
  """Registers fakeobj:// and records every moment a server could load an incomplete version."""
  from tfx.dsl.io import filesystem_registry
  _ObjectStore.root = str(tmp_path / "bucket")
  expected = sorted(os.path.relpath(os.path.join(d, f), saved_model)
                    for d, _, files in os.walk(saved_model) for f in files)
  incomplete = []

  def watch():
    base = os.path.join(_ObjectStore.root, "serving")
    for version in (os.listdir(base) if os.path.isdir(base) else []):
      folder = os.path.join(base, version)
      if version.isdigit() and os.path.exists(os.path.join(folder, "saved_model.pb")):
        present = sorted(os.path.relpath(os.path.join(d, f), folder)
                         for d, _, files in os.walk(folder) for f in files)
        if present != expected:
          incomplete.append(present)

  _ObjectStore.watch = staticmethod(watch)
  registry = filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY
  fs = _ObjectStore.filesystem()
  registry.register(fs, priority=0)
  yield incomplete
  registry._preferred_filesystem_by_scheme.pop("fakeobj://", None)


def test_a_rename_on_an_object_store_would_expose_a_half_written_version(object_store,
                                                                         saved_model):
  """The bug the in-place push avoids: staging + rename lands saved_model.pb before variables/."""
  executor.push_atomically(str(saved_model), "fakeobj://serving", "5", atomic_rename=True)
  assert object_store == [["saved_model.pb"]]


def test_object_store_push_writes_in_place_with_saved_model_last(object_store, saved_model):
  assert not executor.renames_atomically("gs://b/serving")
  final = executor.push_atomically(str(saved_model), "fakeobj://serving", "6")
  assert final == "fakeobj://serving/6" and object_store == []
  assert sorted(os.listdir(os.path.join(_ObjectStore.root, "serving"))) == ["6"]


def test_partial_versions_of_a_killed_push_are_removed(tmp_path, saved_model):
  base = tmp_path / "serving"
  executor.push_atomically(str(saved_model), str(base), "1")
  (base / "2" / "variables").mkdir(parents=True)  # killed before saved_model.pb was written
  assert executor.remove_partial_versions(str(base)) == [str(base / "2")]
  assert sorted(os.listdir(base)) == ["1"]
