"""Serving check (InfraValidator's job, without Docker): does the candidate SavedModel serve?

TFX-free and task-free: the task's `ServingContract` says what to send and what to expect.
`check_serving` inspects the serving signature (as `saved_model_cli show` would), then starts a
separate Python process that loads the model and answers real TF Serving REST requests
(`{"signature_name", "instances": [...]}`, see `rest.py`) built from eval examples, and checks the
response's keys and that the contract's compared output matches what the evaluated signature
(`serving_examples`, what the evaluator scored) gives for the same examples.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from components.common.contract import ServingContract

INFRA_BLESSED = "INFRA_BLESSED"
INFRA_NOT_BLESSED = "INFRA_NOT_BLESSED"
REPORT_FILE = "serving_check.json"


class ServingCheckError(RuntimeError):
  """The model does not serve as expected; the message says what failed."""


def describe_signatures(loaded) -> dict:
  """Inputs and outputs (dtype, shape) of every signature of a loaded SavedModel, like
  `saved_model_cli show --all`."""
  out = {}
  for name, fn in loaded.signatures.items():
    _, kwargs = fn.structured_input_signature
    out[name] = {
        "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in kwargs.items()},
        "outputs": {k: [v.dtype.name, v.shape.as_list()]
                    for k, v in fn.structured_outputs.items()},
    }
  return out


def check_signature(signatures: dict, contract: ServingContract) -> None:
  name = contract.signature
  if name not in signatures:
    raise ServingCheckError(f"no {name!r} signature; found {sorted(signatures)}")
  sig = signatures[name]
  got = {k: v[0] for k, v in sig["inputs"].items()}
  if got != dict(contract.inputs):
    raise ServingCheckError(f"{name} must take {dict(contract.inputs)}; it takes {sig['inputs']}")
  missing = [k for k in contract.outputs if k not in sig["outputs"]]
  if missing:
    raise ServingCheckError(f"{name} lacks outputs {missing}; has {sorted(sig['outputs'])}")


def rest_request(instances: list, signature_name: str = "serving_default") -> dict:
  return {"signature_name": signature_name, "instances": instances}


# At most one server process started ahead of its model (`warm_up`), for this process's next
# check.
_spare: list[subprocess.Popen] = []


def _server_process() -> subprocess.Popen:
  """A fresh Python that imports TensorFlow and waits for its model (`rest.serve_one`)."""
  return subprocess.Popen([sys.executable, "-m", "components.serving_check.rest", "--stdin"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def warm_up() -> None:
  """Starts the next check's server process now, so that TensorFlow's import in it (~5 s of one
  core) overlaps earlier work: a local run calls it as it starts, while ingest and statistics
  leave a core free. The process is still fresh: it loads nothing until its model comes. Killed at
  exit if no check took it."""
  if not any(p.poll() is None for p in _spare):
    _spare[:] = [_server_process()]


@atexit.register
def _stop_spare() -> None:
  while _spare:
    stop_server_process(_spare.pop())


def start_server_process(model_dir: str, request: dict) -> subprocess.Popen:
  """A fresh process (the `warm_up` one, or a new one) that loads the model and answers
  `request` (TF Serving REST JSON); `server_response` collects the answer. Meanwhile the caller
  can work (TF's import and the model's load in the child take seconds)."""
  fd, request_file = tempfile.mkstemp(suffix=".json")  # a file: a pipe could fill up
  with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump(request, f)
  job = f"{model_dir}\n{request_file}\n"
  proc = _spare.pop() if _spare else None
  if proc is not None:
    try:
      _send(proc, job)
    except OSError:  # the spare died (BrokenPipeError): a new process
      stop_server_process(proc)
      proc = None
  if proc is None:
    proc = _server_process()
    _send(proc, job)
  proc.request_file = request_file
  return proc


def _send(proc: subprocess.Popen, job: str) -> None:
  proc.stdin.write(job)
  proc.stdin.flush()


def server_response(proc: subprocess.Popen, timeout: float = 300) -> dict:
  """The response of a `start_server_process` process; the process is gone afterwards."""
  try:
    stdout, stderr = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    stop_server_process(proc)
    raise ServingCheckError(f"the model server process gave no response in {timeout:.0f}s")
  finally:
    _remove_request(proc)
  lines = stdout.strip().splitlines()
  if not lines:
    raise ServingCheckError(f"the model server process exited {proc.returncode} without a "
                            f"response: {stderr[-2000:]}")
  response = json.loads(lines[-1])
  if "error" in response or proc.returncode != 0:
    raise ServingCheckError(f"the model server answered an error: {response.get('error')}")
  return response


def stop_server_process(proc: subprocess.Popen) -> None:
  """Kills a server process and reaps it."""
  proc.kill()
  proc.communicate()
  _remove_request(proc)


def _remove_request(proc: subprocess.Popen) -> None:
  path = getattr(proc, "request_file", None)
  if path and os.path.exists(path):
    os.remove(path)


def reference_outputs(loaded, contract: ServingContract, rows: list[tuple[bytes, dict]]
                      ) -> np.ndarray:
  """The contract's compared output from the evaluated signature for `rows` (float32)."""
  reference_fn = loaded.signatures[contract.reference_signature]
  _, specs = reference_fn.structured_input_signature
  outputs = reference_fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in
                            contract.reference_inputs(rows).items()})
  return outputs[contract.compare].numpy().astype(np.float32)


def check_serving(model_dir: str, rows: list[tuple[bytes, dict]], contract: ServingContract,
                  timeout: float = 300) -> dict:
  """Runs every check; returns a report. Raises ServingCheckError on the first failure.

  Args:
    rows: eval examples as (serialized tf.Example, {"image", "label", "source"}).
    contract: the task's serving contract (request, expected outputs, comparison, tolerance).
  """
  if not rows:
    raise ServingCheckError("no eval examples to send")
  instances = contract.instances([r[1] for r in rows])
  # The server process starts first: its start-up overlaps the checks and reference run here.
  server = start_server_process(model_dir, rest_request(instances, contract.signature))
  try:
    loaded = tf.saved_model.load(model_dir)
    signatures = describe_signatures(loaded)
    check_signature(signatures, contract)
    reference = reference_outputs(loaded, contract, rows)
  except BaseException:
    stop_server_process(server)
    raise
  response = server_response(server, timeout)
  predictions = response.get("predictions")
  if not isinstance(predictions, list) or len(predictions) != len(instances):
    raise ServingCheckError(f"expected {len(instances)} predictions, got "
                            f"{len(predictions) if isinstance(predictions, list) else predictions}")
  for i, p in enumerate(predictions):
    missing = [k for k in contract.outputs if k not in p]
    if missing:
      raise ServingCheckError(f"prediction {i} lacks keys {missing}")
  key = contract.compare
  served = np.array([p[key] for p in predictions], np.float32)
  if served.shape != reference.shape:
    raise ServingCheckError(f"served {key} has shape {served.shape}, the evaluated signature "
                            f"gives {reference.shape}")
  diff = float(np.abs(served - reference).max()) if served.size else 0.0
  agree = (float((served.argmax(-1) == reference.argmax(-1)).mean())
           if contract.argmax_agreement else 1.0)
  if diff > contract.atol or agree < 1.0:
    raise ServingCheckError(f"served {key} differ from the evaluated ones: max |diff| "
                            f"{diff:.2e} (allowed {contract.atol:.0e}), argmax agreement "
                            f"{agree:.3f}")
  return {"requests": 1, "instances": len(instances), "max_abs_diff": diff,
          "compared_output": key, "atol": contract.atol, "top1_agreement": agree,
          "signatures": signatures, "model_dir": model_dir}
