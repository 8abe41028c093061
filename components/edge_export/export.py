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

import dataclasses
import importlib
import json
import os
import shutil
import tempfile
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from components.common import images
from components.common import keras_bundle
from components.common import weights_only
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
  fixed-length features of `feature_spec` (the transform output's transformed feature spec);
  stored images (raw uint8 pixels, `images.encode_pixels`) come back as float32 in [0, 1]."""
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
  out = {k: np.concatenate(v) for k, v in columns.items() if v}
  for k, v in out.items():
    if v.dtype == object:
      pixels = images.pixels_from_stored(v)
      if pixels is not None:
        out[k] = pixels
  return out


def _as_list(x) -> list[np.ndarray]:
  return list(x) if isinstance(x, (list, tuple)) else [x]


def _unlist(outputs: list[np.ndarray]):
  return outputs[0] if len(outputs) == 1 else outputs


# ---------------------------------------------------------------------------------------------
# TFLite


@dataclasses.dataclass(frozen=True)
class SavedForTFLite:
  """A model saved once for all its TFLite conversions (`save_for_tflite`), and loaded once."""
  saved_model_dir: str
  loaded: Any

  def converter(self) -> tf.lite.TFLiteConverter:
    """A fresh `TFLiteConverter.from_saved_model(saved_model_dir)` over the loaded copy.

    `from_saved_model` loads the SavedModel in Python at every call only to list its signatures
    and keep their debug info (the conversion itself reads the files): ~0.25 s of every variant's
    conversion of the small CNN, a quarter of EdgeExport's time in py-spy samples."""
    from tensorflow.lite.python import lite  # pylint: disable=g-import-not-at-top
    lite.TFLiteConverterBase._set_original_model_type(  # pylint: disable=protected-access
        lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL)
    return lite.TFLiteSavedModelConverterV2(
        self.saved_model_dir, {tf.saved_model.SERVING}, list(self.loaded.signatures.keys()),
        self.loaded)


def save_for_tflite(model: keras.Model, saved_model_dir: str) -> SavedForTFLite:
  """Saves `model` as the SavedModel that `to_tflite` converts from: the signature
  `TFLiteConverter.from_keras_model` saves inside every `convert()`, once for every variant and
  without the Keras serialization the converter does not read (`weights_only`)."""
  weights_only.save_as_keras_signature(model, saved_model_dir, save_debug_info=True)
  return SavedForTFLite(saved_model_dir,
                        tf.saved_model.load(saved_model_dir, tags=[tf.saved_model.SERVING]))


def to_tflite(model: keras.Model, variant: str,
              representative: Sequence[np.ndarray] | np.ndarray | None = None,
              int8_float_outputs: bool = False, saved: SavedForTFLite | None = None) -> bytes:
  """Converts a Keras model to TFLite.

  Args:
    variant: float32, float16 (fp16 weights), dynamic_range (int8 weights, float activations) or
      int8 (full integer: int8 weights, activations, inputs and outputs; needs `representative`).
    int8_float_outputs: int8 models keep float32 outputs (after float post-processing).
    representative: one array [N, ...] per model input (or one array for a single input).
    saved: `model` saved by `save_for_tflite`, to convert from (else it is saved to a temporary
      folder by the converter, once per call).
  """
  if variant not in TFLITE_VARIANTS:
    raise ValueError(f"unknown TFLite variant {variant!r}; use one of {TFLITE_VARIANTS}")
  converter = saved.converter() if saved else tf.lite.TFLiteConverter.from_keras_model(model)
  if variant != "float32":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if variant == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif variant == "int8":
    inputs = _as_list(representative) if representative is not None else []
    if not inputs or not len(inputs[0]):
      raise ValueError("int8 quantization needs representative inputs")

    def gen() -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
      for i in range(len(inputs[0])):
        sample = [x[i:i + 1].astype(np.float32) for x in inputs]
        # Several inputs are matched by name: the converter's signature does not keep Keras's
        # input order.
        yield dict(zip(model.input_names, sample)) if len(sample) > 1 else sample

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


def load_model(keras_dir: str, contract: EdgeContract):
  """The model that is exported and scored: the bundle's Keras model, wrapped by the contract's
  `edge_model` (e.g. with NMS inside) when it has one; a dict of named Keras models when the
  contract exports the model in parts (e.g. an encoder and a one-step decoder)."""
  for module in contract.keras_modules:
    importlib.import_module(module)
  model = keras.models.load_model(os.path.join(keras_dir, keras_bundle.KERAS_FILE), compile=False)
  if contract.edge_model is not None:
    model = contract.edge_model(model, read_preprocessing(keras_dir))
  return model


def read_preprocessing(keras_dir: str) -> dict:
  path = os.path.join(keras_dir, keras_bundle.PREPROCESSING_FILE)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def parts_of(model) -> dict[str, keras.Model]:
  """{part name: Keras model}: a single model is the part "model"."""
  return dict(model) if isinstance(model, Mapping) else {"model": model}


def part_files(part: str) -> dict[str, str]:
  """Edge model name -> file of one part: model_int8.tflite, encoder_int8.tflite, model.onnx."""
  return {**{f"tflite_{v}": f"{part}_{v}.tflite" for v in TFLITE_VARIANTS}, "onnx": f"{part}.onnx"}


Predictor = Callable[[list[np.ndarray]], list[np.ndarray]]


def keras_predictor(model: keras.Model) -> Predictor:
  return lambda xs: _as_list(model.predict(_unlist(xs), batch_size=256, verbose=0))


def file_predictor(path_or_content, model: keras.Model) -> Predictor:
  """A .tflite (path or bytes) or .onnx file of `model` as a predictor (inputs and outputs in
  the Keras model's order)."""
  if isinstance(path_or_content, str) and path_or_content.endswith(".onnx"):
    return lambda xs: _as_list(onnx_predict(path_or_content, xs))
  return lambda xs: _as_list(tflite_predict(path_or_content, xs, input_names=model.input_names,
                                            output_names=model.output_names))


def run_model(contract: EdgeContract, predictors: Mapping[str, Predictor],
              inputs: list[np.ndarray], preprocessing: Mapping[str, Any]):
  """The outputs `contract.quality` scores: the single model's, or what the contract's
  `run_parts` makes of its parts (e.g. a decoding loop)."""
  if contract.run_parts is not None:
    return contract.run_parts(predictors, inputs, preprocessing)
  return _unlist(predictors["model"](inputs))


def saved_outputs(edge_dir: str, name: str, keras_dir: str, contract: EdgeContract,
                  inputs: list[np.ndarray]):
  """The outputs of the exported edge model `name` (e.g. "tflite_int8", "onnx") read back from
  `edge_dir`: what its recorded metrics were computed from."""
  parts = parts_of(load_model(keras_dir, contract))
  predictors = {p: (keras_predictor(m) if p in contract.scoring_parts else
                    file_predictor(os.path.join(edge_dir, part_files(p)[name]), m))
                for p, m in parts.items()}
  return run_model(contract, predictors, inputs, read_preprocessing(keras_dir))


def representative_inputs(contract: EdgeContract, parts: Mapping[str, keras.Model],
                          inputs: list[np.ndarray], preprocessing: Mapping[str, Any],
                          count: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
  """Int8 calibration data of every part: the inputs each part receives while the Keras
  model runs on `inputs` (a decoder's states and features as well as images), `count` of them
  at most, picked at random."""
  seen: dict[str, list[list[np.ndarray]]] = {name: [] for name in parts}

  def recording(name: str) -> Predictor:
    predict = keras_predictor(parts[name])

    def fn(xs):
      seen[name].append([np.asarray(x, np.float32) for x in xs])
      return predict(xs)
    return fn

  run_model(contract, {name: recording(name) for name in parts}, inputs, preprocessing)
  rng = np.random.default_rng(seed)
  out = {}
  for name, calls in seen.items():
    arrays = [np.concatenate([call[i] for call in calls]) for i in range(len(calls[0]))]
    pick = rng.permutation(len(arrays[0]))[:count]
    out[name] = [a[pick] for a in arrays]
  return out


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
  models = parts_of(load_model(keras_dir, contract))
  # Scoring parts run in Keras for every variant; the others are exported.
  scoring = {n: keras_predictor(m) for n, m in models.items() if n in contract.scoring_parts}
  parts = {n: m for n, m in models.items() if n not in contract.scoring_parts}
  preprocessing = read_preprocessing(keras_dir)
  reference = run_model(contract, {**scoring, **{n: keras_predictor(m) for n, m in parts.items()}},
                        inputs, preprocessing)
  quality = contract.metric(contract.quality_metric, params)
  agreement = contract.metric(contract.agreement_metric, params)

  def score(outputs) -> dict:
    return contract.quality(outputs, features, reference, **params)

  keras_metrics = score(reference)
  rng = np.random.default_rng(0)
  pick = rng.permutation(len(inputs[0]))[:representative_examples]
  representative = representative_inputs(contract, models, [x[pick] for x in inputs],
                                         preprocessing, representative_examples)
  result: dict = {"exportable": True, "num_eval_examples": int(len(inputs[0])),
                  "quality_metric": quality, "agreement_metric": agreement,
                  "keras": keras_metrics, "models": {}, "parts": sorted(parts)}

  def record(name: str, files: dict[str, str], predictors: dict) -> dict:
    metrics = score(run_model(contract, {**scoring, **predictors}, inputs, preprocessing))
    entry = {"files": [files[p] for p in parts],
             "bytes": sum(os.path.getsize(os.path.join(out_dir, f)) for f in files.values()),
             **metrics}
    if len(parts) == 1:
      entry["file"] = entry["files"][0]
    result["models"][name] = entry
    return entry

  with tempfile.TemporaryDirectory(prefix="tflite-") as tmp:
    saved = {part: save_for_tflite(model, os.path.join(tmp, part))
             for part, model in parts.items()}
    for variant in TFLITE_VARIANTS:
      name, files, predictors = f"tflite_{variant}", {}, {}
      for part, model in parts.items():
        content = to_tflite(model, variant, representative[part] if variant == "int8" else None,
                            contract.int8_float_outputs, saved[part])
        files[part] = part_files(part)[name]
        with open(os.path.join(out_dir, files[part]), "wb") as f:
          f.write(content)
        predictors[part] = file_predictor(content, model)
      entry = record(name, files, predictors)
      log(f"  tflite {variant}: {entry['bytes'] / 1024:.1f} KiB, {quality} {entry[quality]:.4f}")
  files, predictors = {}, {}
  for part, model in parts.items():
    files[part] = part_files(part)["onnx"]
    to_onnx(model, os.path.join(out_dir, files[part]), onnx_opset)
    predictors[part] = file_predictor(os.path.join(out_dir, files[part]), model)
  entry = record("onnx", files, predictors)
  log(f"  onnx: {quality} {entry[quality]:.4f}")
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
