"""Edge export: TFLite (float32, float16, dynamic-range, full-integer int8) and ONNX, each measured.

TFX-free and task-free: `components/edge_export/component.py` turns artifacts into paths and calls
`export_edge` with the task's `EdgeContract`, which says which transformed features feed the model
and how an exported model is scored. Every exported model is run on the eval split (TFLite with
ai-edge-litert's interpreter, ONNX with onnxruntime) and its quality and agreement with the Keras
model go to `metrics.json`. The int8 model is blessed for edge only within
`int8_max_quality_drop` of the float model on the contract's quality metric. (Serving blessing is
the evaluator's; edge blessing does not depend on it, so EdgeExport stays cached when only the
evaluator's baseline changes. Deploy edge models of blessed runs only.)
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from components.common import keras_bundle
from components.common.contract import EdgeContract

TFLITE_VARIANTS = ("float32", "float16", "dynamic_range", "int8")
ONNX_FILE = "model.onnx"
METRICS_FILE = "metrics.json"
BLESSED_FILE = "EDGE_BLESSED"
NOT_BLESSED_FILE = "EDGE_NOT_BLESSED"
NOT_EXPORTABLE_FILE = "NOT_EXPORTABLE"


def tflite_file(variant: str) -> str:
  return f"model_{variant}.tflite"


# ---------------------------------------------------------------------------------------------
# Data


def load_transformed_examples(file_pattern: str, feature_spec: Mapping[str, Any],
                              limit: int | None = None) -> dict[str, np.ndarray]:
  """Reads gzipped tf.Examples written by Transform into {feature: array [N, ...]} for the
  fixed-length features of `feature_spec` (the transform output's transformed feature spec)."""
  files = sorted(tf.io.gfile.glob(file_pattern))
  if not files:
    raise FileNotFoundError(f"no transformed examples match {file_pattern}")
  spec = {k: v for k, v in feature_spec.items() if isinstance(v, tf.io.FixedLenFeature)}
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
  if limit:
    ds = ds.take(limit)
  ds = ds.batch(512).map(lambda s: tf.io.parse_example(s, spec))
  columns: dict[str, list[np.ndarray]] = {k: [] for k in spec}
  for batch in ds.as_numpy_iterator():
    for k, v in batch.items():
      columns[k].append(v)
  return {k: np.concatenate(v) for k, v in columns.items() if v}


def _as_list(x) -> list[np.ndarray]:
  return list(x) if isinstance(x, (list, tuple)) else [x]


def _unlist(outputs: list[np.ndarray]):
  return outputs[0] if len(outputs) == 1 else outputs


# ---------------------------------------------------------------------------------------------
# TFLite


def to_tflite(model: keras.Model, variant: str,
              representative: Sequence[np.ndarray] | np.ndarray | None = None,
              int8_float_outputs: bool = False) -> bytes:
  """Converts a Keras model to TFLite.

  Args:
    variant: float32, float16 (fp16 weights), dynamic_range (int8 weights, float activations) or
      int8 (full integer: int8 weights, activations, inputs and outputs; needs `representative`).
    int8_float_outputs: int8 models keep float32 outputs (after float post-processing).
    representative: one array [N, ...] per model input (or one array for a single input).
  """
  if variant not in TFLITE_VARIANTS:
    raise ValueError(f"unknown TFLite variant {variant!r}; use one of {TFLITE_VARIANTS}")
  converter = tf.lite.TFLiteConverter.from_keras_model(model)
  if variant != "float32":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if variant == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif variant == "int8":
    inputs = _as_list(representative) if representative is not None else []
    if not inputs or not len(inputs[0]):
      raise ValueError("int8 quantization needs representative inputs")

    def gen() -> Iterator[list[np.ndarray]]:
      for i in range(len(inputs[0])):
        yield [x[i:i + 1].astype(np.float32) for x in inputs]

    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    if not int8_float_outputs:
      converter.inference_output_type = tf.int8
  return converter.convert()


def _interpreter(model: bytes | str):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  if isinstance(model, (bytes, bytearray)):
    return Interpreter(model_content=bytes(model))
  return Interpreter(model_path=model)


def tflite_predict(model: bytes | str, inputs: Sequence[np.ndarray] | np.ndarray,
                   batch_size: int = 256, input_names: Sequence[str] | None = None,
                   output_names: Sequence[str] | None = None):
  """Runs a .tflite model (path or bytes) through its signature on float inputs (one array per
  input, in `input_names` order: the Keras model's `input_names`); quantizes inputs and
  dequantizes outputs as needed. Returns one array per output in `output_names` order (the
  array itself for a single output)."""
  inputs = _as_list(inputs)
  runner = _interpreter(model).get_signature_runner()
  in_details, out_details = runner.get_input_details(), runner.get_output_details()
  if any(d["shape_signature"][0] == 1 for d in in_details.values()):
    batch_size = 1  # a model made for one example at a time (e.g. with NMS inside)
  input_names = list(input_names or in_details)
  output_names = list(output_names or out_details)
  outputs: list[list[np.ndarray]] = []
  for start in range(0, len(inputs[0]), batch_size):
    feed = {name: quantize(x[start:start + batch_size], in_details[name])
            for name, x in zip(input_names, inputs)}
    result = runner(**feed)
    outputs.append([dequantize(result[name], out_details[name]) for name in output_names])
  return _unlist([np.concatenate(parts) for parts in zip(*outputs)])


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
  scale, zero_point = detail["quantization"]
  if detail["dtype"] in (np.int8, np.uint8) and scale:
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])
  return x.astype(detail["dtype"])


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
  scale, zero_point = detail["quantization"]
  if detail["dtype"] in (np.int8, np.uint8) and scale:
    return (q.astype(np.float32) - zero_point) * scale
  return q.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# ONNX


def to_onnx(model: keras.Model, path: str, opset: int = 15) -> None:
  import tf2onnx  # pylint: disable=g-import-not-at-top
  # One input is named "image" (what edge runtimes were promised); several keep Keras's names.
  names = (["image"] if len(model.inputs) == 1 else
           [x.name.split(":")[0] for x in model.inputs])
  # A fixed batch (edge models made for one example at a time) stays fixed.
  spec = [tf.TensorSpec([x.shape[0], *x.shape[1:]], x.dtype, name=name)
          for name, x in zip(names, model.inputs)]
  tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=path)


def onnx_predict(path: str, inputs: Sequence[np.ndarray] | np.ndarray, batch_size: int = 256):
  """Runs an ONNX model on one array per input; one array per output (the array for one)."""
  import onnxruntime as ort  # pylint: disable=g-import-not-at-top
  inputs = _as_list(inputs)
  session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
  names = [i.name for i in session.get_inputs()]
  if any(i.shape and i.shape[0] == 1 for i in session.get_inputs()):
    batch_size = 1
  parts = [session.run(None, {name: x[i:i + batch_size] for name, x in zip(names, inputs)})
           for i in range(0, len(inputs[0]), batch_size)]
  return _unlist([np.concatenate(p) for p in zip(*parts)])


# ---------------------------------------------------------------------------------------------
# The whole export


def load_model(keras_dir: str, contract: EdgeContract) -> keras.Model:
  """The model that is exported and scored: the bundle's Keras model, wrapped by the contract's
  `edge_model` (e.g. with NMS inside) when it has one."""
  model = keras.models.load_model(os.path.join(keras_dir, keras_bundle.KERAS_FILE), compile=False)
  if contract.edge_model is not None:
    with open(os.path.join(keras_dir, keras_bundle.PREPROCESSING_FILE)) as f:
      model = contract.edge_model(model, json.load(f))
  return model


def _write_marker(out_dir: str, name: str, text: str) -> None:
  with open(os.path.join(out_dir, name), "w") as f:
    f.write(text + "\n")


def export_edge(keras_dir: str, features: Mapping[str, np.ndarray], out_dir: str,
                contract: EdgeContract, params: Mapping[str, Any] | None = None,
                int8_max_quality_drop: float = 0.01, representative_examples: int = 200,
                onnx_opset: int = 15, log: Callable[[str], None] = print) -> dict:
  """Exports every edge format to `out_dir`, scores each on the eval split, decides blessing.

  Args:
    keras_dir: a Keras bundle folder (`components.common.keras_bundle`).
    features: transformed eval features (at least the contract's inputs and labels).
    contract: the task's edge contract; `params` go to its quality function.
  Returns:
    The metrics written to `out_dir/metrics.json`.
  """
  params = dict(params or {})
  os.makedirs(out_dir, exist_ok=True)
  if contract.quality is None:
    result = {"exportable": False, "reason": contract.not_exportable, "edge_blessed": False,
              "models": {}, "not_blessed_reasons": [contract.not_exportable]}
    with open(os.path.join(out_dir, METRICS_FILE), "w") as f:
      json.dump(result, f, indent=1, sort_keys=True)
    _write_marker(out_dir, NOT_EXPORTABLE_FILE, contract.not_exportable)
    return result
  for name in (keras_bundle.LABELS_FILE, keras_bundle.PREPROCESSING_FILE, *contract.extra_files):
    if os.path.exists(os.path.join(keras_dir, name)):
      shutil.copy(os.path.join(keras_dir, name), os.path.join(out_dir, name))
  missing = [k for k in contract.inputs if k not in features]
  if missing:
    raise ValueError(f"the transformed eval examples lack the model inputs {missing}; they have "
                     f"{sorted(features)}")
  inputs = [features[k].astype(np.float32) for k in contract.inputs]
  model = load_model(keras_dir, contract)
  reference = model.predict(_unlist(inputs), batch_size=256, verbose=0)
  quality = contract.metric(contract.quality_metric, params)
  agreement = contract.metric(contract.agreement_metric, params)

  def score(outputs) -> dict:
    return contract.quality(outputs, features, reference, **params)

  keras_metrics = score(reference)
  rng = np.random.default_rng(0)
  pick = rng.permutation(len(inputs[0]))[:representative_examples]
  result: dict = {"exportable": True, "num_eval_examples": int(len(inputs[0])),
                  "quality_metric": quality, "agreement_metric": agreement,
                  "keras": keras_metrics, "models": {}}
  for variant in TFLITE_VARIANTS:
    content = to_tflite(model, variant, [x[pick] for x in inputs] if variant == "int8" else None,
                        contract.int8_float_outputs)
    path = os.path.join(out_dir, tflite_file(variant))
    with open(path, "wb") as f:
      f.write(content)
    metrics = score(tflite_predict(content, inputs, input_names=model.input_names,
                                   output_names=model.output_names))
    result["models"][f"tflite_{variant}"] = {"file": os.path.basename(path),
                                             "bytes": len(content), **metrics}
    log(f"  tflite {variant}: {len(content) / 1024:.1f} KiB, {quality} {metrics[quality]:.4f}")
  onnx_path = os.path.join(out_dir, ONNX_FILE)
  to_onnx(model, onnx_path, onnx_opset)
  metrics = score(onnx_predict(onnx_path, inputs))
  result["models"]["onnx"] = {"file": ONNX_FILE, "bytes": os.path.getsize(onnx_path), **metrics}
  log(f"  onnx: {quality} {metrics[quality]:.4f}")
  float_q = result["models"]["tflite_float32"][quality]
  int8_q = result["models"]["tflite_int8"][quality]
  # How much worse int8 is than float, in the metric's own direction.
  drop = (float_q - int8_q) if contract.higher_is_better else (int8_q - float_q)
  within = drop <= int8_max_quality_drop
  result["int8_quality_drop"] = drop
  result["int8_max_quality_drop"] = int8_max_quality_drop
  result["edge_blessed"] = bool(within)
  reasons = []
  if not within:
    reasons.append(f"int8 {quality} {int8_q:.4f} is {drop:.4f} worse than float {float_q:.4f} "
                   f"(at most {int8_max_quality_drop} allowed)")
  result["not_blessed_reasons"] = reasons
  with open(os.path.join(out_dir, METRICS_FILE), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
  _write_marker(out_dir, BLESSED_FILE if within else NOT_BLESSED_FILE, "\n".join(reasons))
  return result
