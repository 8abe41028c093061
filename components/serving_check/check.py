"""Serving check (InfraValidator's job, without Docker): does the candidate SavedModel serve?

TFX-free. `check_serving` inspects the serving signature (as `saved_model_cli show` would), then
starts a separate Python process that loads the model and answers real TF Serving REST requests
(`{"signature_name", "instances": [{"b64": ...}]}`, see `rest.py`) built from eval images, and
checks the response's keys and shapes and that its predictions match the ones the Evaluator's
signature (`serving_examples`, what TFMA scored) gives for the same examples.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

INFRA_BLESSED = "INFRA_BLESSED"
INFRA_NOT_BLESSED = "INFRA_NOT_BLESSED"
EXPECTED_OUTPUTS = ("classes", "scores", "predicted_class", "predicted_score")


class ServingCheckError(RuntimeError):
  """The model does not serve as expected; the message says what failed."""


def describe_signatures(model_dir: str) -> dict:
  """Inputs and outputs (dtype, shape) of every signature, like `saved_model_cli show --all`."""
  loaded = tf.saved_model.load(model_dir)
  out = {}
  for name, fn in loaded.signatures.items():
    _, kwargs = fn.structured_input_signature
    out[name] = {
        "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in kwargs.items()},
        "outputs": {k: [v.dtype.name, v.shape.as_list()]
                    for k, v in fn.structured_outputs.items()},
    }
  return out


def check_signature(signatures: dict, signature_name: str = "serving_default",
                    expected_outputs: tuple[str, ...] = EXPECTED_OUTPUTS) -> None:
  if signature_name not in signatures:
    raise ServingCheckError(f"no {signature_name!r} signature; found {sorted(signatures)}")
  sig = signatures[signature_name]
  inputs = list(sig["inputs"].values())
  if len(inputs) != 1 or inputs[0][0] != "string" or len(inputs[0][1]) != 1:
    raise ServingCheckError(f"{signature_name} must take one string tensor [N] of encoded "
                            f"images; it takes {sig['inputs']}")
  missing = [k for k in expected_outputs if k not in sig["outputs"]]
  if missing:
    raise ServingCheckError(f"{signature_name} lacks outputs {missing}; has {sorted(sig['outputs'])}")


def rest_request(images: list[bytes], signature_name: str = "serving_default") -> dict:
  return {"signature_name": signature_name,
          "instances": [{"b64": base64.b64encode(b).decode()} for b in images]}


def query_in_subprocess(model_dir: str, request: dict, timeout: float = 300) -> dict:
  """Loads the model in a fresh process and answers `request` (TF Serving REST JSON)."""
  proc = subprocess.run([sys.executable, "-m", "components.serving_check.rest", model_dir],
                        input=json.dumps(request), capture_output=True, text=True,
                        timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  lines = proc.stdout.strip().splitlines()
  if not lines:
    raise ServingCheckError(f"the model server process exited {proc.returncode} without a "
                            f"response: {proc.stderr[-2000:]}")
  response = json.loads(lines[-1])
  if "error" in response or proc.returncode != 0:
    raise ServingCheckError(f"the model server answered an error: {response.get('error')}")
  return response


def check_serving(model_dir: str, serialized_examples: list[bytes], images: list[bytes],
                  atol: float = 1e-4, timeout: float = 300,
                  expected_outputs: tuple[str, ...] = EXPECTED_OUTPUTS,
                  compare_output: str = "scores") -> dict:
  """Runs every check; returns a report. Raises ServingCheckError on the first failure.

  Args:
    expected_outputs: keys every served prediction must have (classifier outputs by default;
      ("embedding",) for embedding models).
    compare_output: the numeric output compared with the evaluated signature's.
  """
  if not images:
    raise ServingCheckError("no eval images to send")
  signatures = describe_signatures(model_dir)
  check_signature(signatures, expected_outputs=expected_outputs)
  response = query_in_subprocess(model_dir, rest_request(images), timeout)
  predictions = response.get("predictions")
  if not isinstance(predictions, list) or len(predictions) != len(images):
    raise ServingCheckError(f"expected {len(images)} predictions, got "
                            f"{len(predictions) if isinstance(predictions, list) else predictions}")
  for i, p in enumerate(predictions):
    missing = [k for k in expected_outputs if k not in p]
    if missing:
      raise ServingCheckError(f"prediction {i} lacks keys {missing}")
    if "scores" in p and "classes" in p and len(p["scores"]) != len(p["classes"]):
      raise ServingCheckError(f"prediction {i}: {len(p['scores'])} scores for "
                              f"{len(p['classes'])} classes")
  served = np.array([p[compare_output] for p in predictions], np.float32)
  reference = tf.saved_model.load(model_dir).signatures["serving_examples"](
      tf.constant(serialized_examples))[compare_output].numpy()
  if served.shape != reference.shape:
    raise ServingCheckError(f"served {compare_output} has shape {served.shape}, the evaluated "
                            f"signature gives {reference.shape}")
  diff = float(np.abs(served - reference).max())
  # Top-1 agreement matters for class scores; embeddings are compared by value only.
  agree = (float((served.argmax(-1) == reference.argmax(-1)).mean())
           if compare_output == "scores" else 1.0)
  if diff > atol or agree < 1.0:
    raise ServingCheckError(f"served {compare_output} differ from the evaluated ones: max |diff| "
                            f"{diff:.2e}, argmax agreement {agree:.3f}")
  return {"requests": 1, "instances": len(images), "max_abs_score_diff": diff,
          "compared_output": compare_output, "top1_agreement": agree, "signatures": signatures}
