"""Small helpers shared by custom components: local staging for artifacts that may live on gs://."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Iterator

import tensorflow as tf


def is_local(uri: str) -> bool:
  return "://" not in uri


def copy_tree(src: str, dst: str) -> None:
  """Copies a folder tree between any tf.io.gfile filesystems (local, gs://, ...)."""
  for root, _, files in tf.io.gfile.walk(src):
    rel = os.path.relpath(root, src)
    target = dst if rel == "." else os.path.join(dst, rel)
    tf.io.gfile.makedirs(target)
    for name in files:
      tf.io.gfile.copy(os.path.join(root, name), os.path.join(target, name), overwrite=True)


@contextlib.contextmanager
def local_output_dir(uri: str) -> Iterator[str]:
  """Yields a local folder for writing an output artifact; copied to `uri` when it is remote."""
  if is_local(uri):
    os.makedirs(uri, exist_ok=True)
    yield uri
    return
  with tempfile.TemporaryDirectory() as tmp:
    yield tmp
    copy_tree(tmp, uri)


@contextlib.contextmanager
def local_input_dir(uri: str) -> Iterator[str]:
  """Yields a local copy of an input artifact folder (the folder itself when local)."""
  if is_local(uri):
    yield uri
    return
  with tempfile.TemporaryDirectory() as tmp:
    copy_tree(uri, tmp)
    yield tmp


def exists(uri: str) -> bool:
  return tf.io.gfile.exists(uri)


def read_bytes(path: str) -> bytes | None:
  """The file's bytes on any filesystem, or None when it cannot be read (moved, deleted)."""
  try:
    with tf.io.gfile.GFile(path, "rb") as f:
      return f.read()
  except (tf.errors.OpError, OSError):
    return None


def read_json(path: str) -> dict | None:
  """A JSON file on any filesystem, or None when it does not exist."""
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)
