"""Edge export: TFLite (float32, float16, dynamic-range, full-integer int8) and ONNX, each measured.

TFX-free: `components/edge_export/component.py` turns artifacts into paths and calls `export_edge`.
Every exported model is run on the eval split (TFLite with ai-edge-litert's interpreter, ONNX with
onnxruntime) and its accuracy and agreement with the Keras model are written to `metrics.json`.
The int8 model is blessed for edge only within `int8_max_quality_drop` of the float model on the
quality metric (classifiers: accuracy; embeddings: precision@k). (Serving
blessing is the Evaluator's; edge blessing does not depend on it, so EdgeExport stays cached when
only the Evaluator's baseline changes. Deploy edge models of blessed runs only.)
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf
import tf_keras as keras

from components import artifact_io

TFLITE_VARIANTS = ("float32", "float16", "dynamic_range", "int8")
# The Keras bundle a Trainer writes beside its SavedModel, the input of the edge export:
#   {model.uri}/Format-Keras/model.keras, labels.txt, preprocessing.json
KERAS_DIR = "Format-Keras"
KERAS_FILE = "model.keras"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
ONNX_FILE = "model.onnx"
METRICS_FILE = "metrics.json"
BLESSED_FILE = "EDGE_BLESSED"
NOT_BLESSED_FILE = "EDGE_NOT_BLESSED"
# Files of a Keras bundle that travel with the edge models when present (e.g. the verification
# threshold of a similarity model).
EXTRA_FILES = ("verification.json",)
# Folder of the edge artifact that holds the Annoy index of a retrieval model.
INDEX_DIR = "index"


def tflite_file(variant: str) -> str:
  return f"model_{variant}.tflite"


# ---------------------------------------------------------------------------------------------
# The Keras bundle


def write_keras_bundle(model: keras.Model, class_names: list[str], preprocessing: dict,
                       out_dir: str) -> None:
  """Saves the bare Keras model with its class names and input preprocessing (any filesystem).

  Args:
    preprocessing: at least height, width, channels, scale and offset (input = pixel*scale+offset).
  """
  tf.io.gfile.makedirs(out_dir)
  with artifact_io.local_output_dir(out_dir) as local:
    model.save(os.path.join(local, KERAS_FILE))
    with open(os.path.join(local, LABELS_FILE), "w") as f:
      f.write("\n".join(class_names) + "\n")
    with open(os.path.join(local, PREPROCESSING_FILE), "w") as f:
      json.dump(preprocessing, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Data


def load_transformed_examples(file_pattern: str, image_key: str, label_key: str,
                              shape: tuple[int, int, int],
                              limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Reads gzipped tf.Examples written by Transform into (images [N, H, W, C], labels [N])."""
  files = sorted(tf.io.gfile.glob(file_pattern))
  if not files:
    raise FileNotFoundError(f"no transformed examples match {file_pattern}")
  spec = {image_key: tf.io.FixedLenFeature(shape, tf.float32),
          label_key: tf.io.FixedLenFeature([], tf.int64)}
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
  if limit:
    ds = ds.take(limit)
  ds = ds.batch(512).map(lambda s: tf.io.parse_example(s, spec))
  xs, ys = [], []
  for batch in ds.as_numpy_iterator():
    xs.append(batch[image_key])
    ys.append(batch[label_key])
  return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# TFLite


def to_tflite(model: keras.Model, variant: str,
              representative: np.ndarray | None = None) -> bytes:
  """Converts a Keras model to TFLite.

  Args:
    variant: float32, float16 (fp16 weights), dynamic_range (int8 weights, float activations) or
      int8 (full integer: int8 weights, activations, input and output; needs `representative`).
  """
  if variant not in TFLITE_VARIANTS:
    raise ValueError(f"unknown TFLite variant {variant!r}; use one of {TFLITE_VARIANTS}")
  converter = tf.lite.TFLiteConverter.from_keras_model(model)
  if variant != "float32":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if variant == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif variant == "int8":
    if representative is None or not len(representative):
      raise ValueError("int8 quantization needs representative images")

    def gen() -> Iterator[list[np.ndarray]]:
      for image in representative:
        yield [image[np.newaxis].astype(np.float32)]

    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
  return converter.convert()


def _interpreter(model: bytes | str):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  if isinstance(model, (bytes, bytearray)):
    return Interpreter(model_content=bytes(model))
  return Interpreter(model_path=model)


def tflite_predict(model: bytes | str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """Runs a .tflite model (path or bytes) on float images in [0, 1]; quantizes I/O as needed."""
  interpreter = _interpreter(model)
  inp = interpreter.get_input_details()[0]
  out_index = interpreter.get_output_details()[0]["index"]
  outputs = []
  current = None
  for start in range(0, len(images), batch_size):
    batch = images[start:start + batch_size]
    if current != len(batch):
      interpreter.resize_tensor_input(inp["index"], [len(batch), *images.shape[1:]])
      interpreter.allocate_tensors()
      current = len(batch)
    inp_d = interpreter.get_input_details()[0]
    out_d = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp_d["index"], quantize(batch, inp_d))
    interpreter.invoke()
    outputs.append(dequantize(interpreter.get_tensor(out_index), out_d))
  return np.concatenate(outputs)


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
  spec = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="image")]
  tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=path)


def onnx_predict(path: str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  import onnxruntime as ort  # pylint: disable=g-import-not-at-top
  session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
  name = session.get_inputs()[0].name
  return np.concatenate([session.run(None, {name: images[i:i + batch_size]})[0]
                         for i in range(0, len(images), batch_size)])


# ---------------------------------------------------------------------------------------------
# The whole export


def _score(probs: np.ndarray, labels: np.ndarray, reference_top1: np.ndarray,
           reference_probs: np.ndarray) -> dict[str, float]:
  top1 = probs.argmax(axis=1)
  return {"accuracy": float((top1 == labels).mean()),
          "top1_agreement_with_keras": float((top1 == reference_top1).mean()),
          "max_abs_prob_diff_vs_keras": float(np.abs(probs - reference_probs).max())}


def _neighbours(embeddings: np.ndarray, k: int) -> np.ndarray:
  """Leave-one-out k nearest rows of every row (Euclidean)."""
  from pipelines.vision import metrics  # pylint: disable=g-import-not-at-top
  ids, _ = metrics.exact_knn(embeddings, embeddings, k + 1, "euclidean")
  return np.array([[j for j in row if j != i][:k] for i, row in enumerate(ids)])


def _score_embeddings(emb: np.ndarray, labels: np.ndarray, reference_neighbours: np.ndarray,
                      reference: np.ndarray, k: int) -> dict[str, float]:
  """Retrieval quality of an exported embedding model on the eval split (leave-one-out)."""
  from pipelines.vision import metrics  # pylint: disable=g-import-not-at-top
  nn = _neighbours(emb, k)
  cos = (emb * reference).sum(1) / np.maximum(
      np.linalg.norm(emb, axis=1) * np.linalg.norm(reference, axis=1), 1e-12)
  return {f"precision_at_{k}": float(metrics.precision_at_k(labels[nn] == labels[:, None]).mean()),
          f"recall_at_{k}_vs_keras": metrics.recall_at_k(nn, reference_neighbours),
          "mean_cosine_vs_keras": float(cos.mean()),
          "max_abs_diff_vs_keras": float(np.abs(emb - reference).max())}


def export_edge(keras_dir: str, images: np.ndarray, labels: np.ndarray, out_dir: str,
                int8_max_quality_drop: float = 0.01, representative_examples: int = 200,
                onnx_opset: int = 15, kind: str = "classifier", k: int = 10,
                log: Callable[[str], None] = print) -> dict:
  """Exports every edge format to `out_dir`, measures each on (images, labels), decides blessing.

  Args:
    keras_dir: a Keras bundle folder (see `write_keras_bundle`).
    images, labels: eval split, preprocessed exactly as in training (float32 in [0, 1]).
    kind: "classifier" (quality: accuracy) or "embedding" (quality: leave-one-out precision@k on
      the eval split; also recall@k of each model's neighbours against the Keras model's: the
      retrieval cost of quantization).
  Returns:
    The metrics written to `out_dir/metrics.json`.
  """
  if kind not in ("classifier", "embedding"):
    raise ValueError(f"unknown model kind {kind!r}")
  os.makedirs(out_dir, exist_ok=True)
  for name in (LABELS_FILE, PREPROCESSING_FILE, *EXTRA_FILES):
    if os.path.exists(os.path.join(keras_dir, name)):
      shutil.copy(os.path.join(keras_dir, name), os.path.join(out_dir, name))
  model = keras.models.load_model(os.path.join(keras_dir, KERAS_FILE), compile=False)
  reference = model.predict(images, batch_size=256, verbose=0)
  if kind == "classifier":
    quality = "accuracy"
    ref_top1 = reference.argmax(axis=1)
    keras_metrics = {"accuracy": float((ref_top1 == labels).mean())}
    score = lambda out: _score(out, labels, ref_top1, reference)  # noqa: E731
  else:
    k = max(1, min(k, len(images) - 1))
    quality = f"precision_at_{k}"
    ref_nn = _neighbours(reference, k)
    keras_metrics = _score_embeddings(reference, labels, ref_nn, reference, k)
    score = lambda out: _score_embeddings(out, labels, ref_nn, reference, k)  # noqa: E731
  rng = np.random.default_rng(0)
  rep = images[rng.permutation(len(images))[:representative_examples]]
  result: dict = {"num_eval_examples": int(len(images)), "kind": kind, "quality_metric": quality,
                  "keras": keras_metrics, "models": {}}
  for variant in TFLITE_VARIANTS:
    content = to_tflite(model, variant, rep if variant == "int8" else None)
    path = os.path.join(out_dir, tflite_file(variant))
    with open(path, "wb") as f:
      f.write(content)
    metrics = score(tflite_predict(content, images))
    result["models"][f"tflite_{variant}"] = {"file": os.path.basename(path),
                                             "bytes": len(content), **metrics}
    log(f"  tflite {variant}: {len(content) / 1024:.1f} KiB, {quality} {metrics[quality]:.4f}")
  onnx_path = os.path.join(out_dir, ONNX_FILE)
  to_onnx(model, onnx_path, onnx_opset)
  metrics = score(onnx_predict(onnx_path, images))
  result["models"]["onnx"] = {"file": ONNX_FILE, "bytes": os.path.getsize(onnx_path), **metrics}
  log(f"  onnx: {quality} {metrics[quality]:.4f}")
  float_q = result["models"]["tflite_float32"][quality]
  int8_q = result["models"]["tflite_int8"][quality]
  within = int8_q >= float_q - int8_max_quality_drop
  result["int8_quality_drop"] = float_q - int8_q
  result["int8_max_quality_drop"] = int8_max_quality_drop
  result["edge_blessed"] = bool(within)
  reasons = []
  if not within:
    reasons.append(f"int8 {quality} {int8_q:.4f} is more than {int8_max_quality_drop} below "
                   f"float {float_q:.4f}")
  result["not_blessed_reasons"] = reasons
  with open(os.path.join(out_dir, METRICS_FILE), "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
  marker = BLESSED_FILE if result["edge_blessed"] else NOT_BLESSED_FILE
  with open(os.path.join(out_dir, marker), "w") as f:
    f.write("\n".join(reasons) + "\n")
  return result
