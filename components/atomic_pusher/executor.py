"""A Pusher executor that never exposes an unfinished model version to a server.

TFX's filesystem Pusher copies files straight into `<base>/<version>/`, so a model server polling
the base directory can see a half-copied version. On local and POSIX filesystems this executor
copies into a hidden staging directory beside it (`<base>/.staging-<version>`, which TF Serving
ignores: it is not a number) and renames it into place atomically. On object stores (gs://, s3://)
a "rename" copies object by object in listing order, so `saved_model.pb` would land before
`variables/`: there the version is written in place with `saved_model.pb` last (TF Serving loads a
SavedModel version only once its `saved_model.pb` exists), and versions left without one by a
killed push are removed before the next push. Used as `Pusher(...,
custom_executor_spec=ExecutorClassSpec(AtomicPushExecutor))`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils


SAVED_MODEL_FILE = "saved_model.pb"


def renames_atomically(path: str) -> bool:
  """Whether renaming a folder under `path` is atomic (local/POSIX) rather than a per-object copy
  (object stores)."""
  return "://" not in path


def remove_partial_versions(base_directory: str) -> list[str]:
  """Deletes numeric version folders without `saved_model.pb` (a push killed midway on an object
  store); returns them."""
  removed = []
  for version in serving_versions(base_directory):
    path = os.path.join(base_directory, version)
    if not fileio.exists(os.path.join(path, SAVED_MODEL_FILE)):
      fileio.rmtree(path)
      removed.append(path)
  return removed


def push_atomically(model_path: str, base_directory: str, version: str,
                    atomic_rename: bool | None = None) -> str:
  """Copies the SavedModel at `model_path` to `base_directory/version` so that no server sees
  it before it is complete.

  Args:
    atomic_rename: stage and rename (default: when `renames_atomically(base_directory)`), or
      write in place with `saved_model.pb` last.
  Returns:
    The final version directory.
  Raises:
    FileExistsError: if that version already exists (versions are immutable).
  """
  final = os.path.join(base_directory, version)
  if fileio.exists(final):
    raise FileExistsError(f"{final}: model version already exists; versions are immutable")
  if atomic_rename is None:
    atomic_rename = renames_atomically(base_directory)
  fileio.makedirs(base_directory)
  target = os.path.join(base_directory, f".staging-{version}") if atomic_rename else final
  if atomic_rename and fileio.exists(target):
    fileio.rmtree(target)  # left over from a push that was killed midway
  io_utils.copy_dir(model_path, target, deny_regex_patterns=[re.escape(SAVED_MODEL_FILE) + "$"])
  saved_model = os.path.join(model_path, SAVED_MODEL_FILE)
  if fileio.exists(saved_model):
    io_utils.copy_file(saved_model, os.path.join(target, SAVED_MODEL_FILE))
  if atomic_rename:
    fileio.rename(target, final)
  return final


def tree_digest(path: str) -> str:
  """A content hash of a folder tree (relative paths and file bytes)."""
  h = hashlib.sha256()
  for root, dirs, files in fileio.walk(path):
    dirs.sort()
    for name in sorted(files):
      full = os.path.join(root, name)
      h.update(os.path.relpath(full, path).encode() + b"\0")
      with fileio.open(full, "rb") as f:
        h.update(f.read())
  return h.hexdigest()


def serving_versions(base_directory: str) -> list[str]:
  if not fileio.exists(base_directory):
    return []
  return sorted((d.rstrip("/") for d in fileio.listdir(base_directory)
                 if d.rstrip("/").isdigit()), key=int)


def already_serving(model_path: str, base_directory: str) -> str | None:
  """The latest version if it holds exactly this model (a re-evaluated, unchanged model)."""
  versions = serving_versions(base_directory)
  if versions and tree_digest(model_path) == tree_digest(os.path.join(base_directory,
                                                                      versions[-1])):
    return versions[-1]
  return None


def next_version(base_directory: str) -> str:
  """A Unix-timestamp version, bumped past any existing version (two pushes in one second)."""
  version = int(time.time())
  existing = serving_versions(base_directory)
  if existing:
    version = max(version, int(existing[-1]) + 1)
  return str(version)


class AtomicPushExecutor(pusher_executor.Executor):

  def Do(self, input_dict: dict[str, list[types.Artifact]],
         output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    model_path = self.GetModelPath(input_dict)
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    if destination.WhichOneof("destination") != "filesystem":
      raise NotImplementedError("AtomicPushExecutor pushes to a filesystem destination only")
    base = destination.filesystem.base_directory
    version = already_serving(model_path, base)
    if version is not None:
      # A rerun re-blesses the same model against itself as baseline: do not publish a copy.
      serving_path = os.path.join(base, version)
      logging.info("Model is already served as %s; no new version.", serving_path)
    else:
      for path in remove_partial_versions(base):
        logging.warning("Removed %s: a version without saved_model.pb left by a killed push.",
                        path)
      version = next_version(base)
      serving_path = push_atomically(model_path, base, version)
      logging.info("Model pushed to serving path %s.", serving_path)
    io_utils.copy_dir(model_path, model_push.uri)
    self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
