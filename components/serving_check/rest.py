"""TF Serving's REST predict API, answered in-process from a SavedModel directory.

There is no tensorflow_model_server binary here; this reproduces its request/response JSON shape
(`{"signature_name", "instances": [{"b64": ...}]}` -> `{"predictions": [...]}`) on the same
SavedModel signature, so tests and `cvpipe predict` exercise exactly what TF Serving would serve.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from typing import Any

import numpy as np
import tensorflow as tf

from components.common import contract
from components.common import images


class RequestError(ValueError):
  """The request is not a valid TF Serving REST predict request for this model."""


def latest_version_dir(path: str) -> str:
  """`path` itself if it holds a SavedModel, else its highest numeric version sub-directory."""
  if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
    return path
  versions = [d.rstrip("/") for d in tf.io.gfile.listdir(path) if d.rstrip("/").isdigit()]
  if not versions:
    raise FileNotFoundError(f"{path}: no SavedModel and no numeric version directories")
  return os.path.join(path, max(versions, key=int))


def read_task(model_dir: str) -> str | None:
  """The task a served model was trained for, when recorded."""
  path = os.path.join(model_dir, "assets.extra", contract.TASK_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f).get("task")


def load(model_dir: str):
  """The SavedModel of `model_dir` (a version folder)."""
  try:
    return tf.saved_model.load(model_dir)
  except (OSError, tf.errors.OpError) as e:
    raise FileNotFoundError(f"{model_dir}: cannot load the SavedModel: {e}") from None


def _decode(value: Any, where: str = "") -> Any:
  if isinstance(value, dict) and set(value) == {"b64"}:
    try:
      return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
      raise RequestError(f"{where}: invalid base64 in 'b64': {e}") from None
  if isinstance(value, list):
    return [_decode(v, where) for v in value]
  return value


def _run(fn, kwargs, columns: dict) -> dict:
  tensors = {k: tf.constant(v, dtype=kwargs[k].dtype) for k, v in columns.items()}
  return fn(**tensors)


def predict(model_dir: str, request: dict, loaded=None) -> dict:
  """Answers a REST predict request (row 'instances' or columnar 'inputs' format).

  Raises:
    RequestError: for a malformed request, an unknown signature, or an instance the model cannot
      take (bad base64, bytes that are no image), naming the instance, as TF Serving answers 400.
  """
  loaded = loaded or load(latest_version_dir(model_dir))
  name = request.get("signature_name", "serving_default")
  if name not in loaded.signatures:
    raise RequestError(f"unknown signature_name {name!r}; available: {sorted(loaded.signatures)}")
  fn = loaded.signatures[name]
  _, kwargs = fn.structured_input_signature
  input_names = sorted(kwargs)
  if "instances" in request:
    instances = request["instances"]
    if not isinstance(instances, list) or not instances:
      raise RequestError("'instances' must be a non-empty list")
    if len(input_names) == 1 and not (isinstance(instances[0], dict)
                                      and set(instances[0]) == set(input_names)):
      columns = {input_names[0]: [_decode(x, f"instance {i}") for i, x in enumerate(instances)]}
    else:
      try:
        columns = {k: [_decode(x[k], f"instance {i}") for i, x in enumerate(instances)]
                   for k in input_names}
      except (KeyError, TypeError) as e:
        raise RequestError(f"every instance needs the inputs {input_names}: missing {e}") from None
    row_format = True
  elif "inputs" in request:
    inputs = request["inputs"]
    columns = ({k: _decode(inputs[k], f"input {k}") for k in input_names}
               if isinstance(inputs, dict) else {input_names[0]: _decode(inputs, "inputs")})
    row_format = False
  else:
    raise RequestError("request needs 'instances' or 'inputs'")
  try:
    outputs = _run(fn, kwargs, columns)
  except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
    where = "the request"
    if row_format:  # name the first instance that fails on its own
      n = len(next(iter(columns.values())))
      for i in range(n):
        try:
          _run(fn, kwargs, {k: v[i:i + 1] for k, v in columns.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as one:
          where, e = f"instance {i}", one
          break
    raise RequestError(f"{where}: cannot run signature {name!r}: {images.reason(e)}") from None
  plain = {k: _to_json(v.numpy()) for k, v in outputs.items()}
  if not row_format:
    return {"outputs": plain}
  n = len(next(iter(plain.values())))
  return {"predictions": [{k: plain[k][i] for k in plain} for i in range(n)]}


def _to_json(array: np.ndarray) -> Any:
  if array.dtype == object or array.dtype.kind == "S":
    return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(array).tolist() \
        if array.size else array.tolist()
  return array.tolist()


def image_request(paths: list[str], signature_name: str = "serving_default") -> dict:
  """A REST predict request with the given image files as b64 instances."""
  instances = []
  for p in paths:
    with tf.io.gfile.GFile(p, "rb") as f:
      instances.append({"b64": base64.b64encode(f.read()).decode()})
  return {"signature_name": signature_name, "instances": instances}


def serve_one(stdin=sys.stdin) -> int:
  """`python -m components.serving_check.rest --stdin`: a server process started before its
  model is known (`check.warm_up`), so TensorFlow's import is done when the model comes. Reads
  the model folder (a line; none: exits), loads it, then reads the path of a request JSON file
  (a line) and prints the response JSON."""
  model_dir = stdin.readline().strip()
  if not model_dir:  # the process that started this one had no model for it
    return 0
  loaded = load(latest_version_dir(model_dir))
  with open(stdin.readline().strip(), encoding="utf-8") as f:
    request = json.load(f)
  return _answer(lambda: predict(model_dir, request, loaded))


def _answer(respond) -> int:
  try:
    response = respond()
  except RequestError as e:
    print(json.dumps({"error": str(e)}))
    return 1
  print(json.dumps(response))
  return 0


def main(argv: list[str]) -> int:
  """`python -m components.serving_check.rest MODEL_DIR < request.json` prints the response JSON."""
  if argv == ["--stdin"]:
    return serve_one()
  if len(argv) != 1:
    print("usage: python -m components.serving_check.rest MODEL_DIR < request.json", file=sys.stderr)
    return 2
  return _answer(lambda: predict(argv[0], json.load(sys.stdin)))


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
