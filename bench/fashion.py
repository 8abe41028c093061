"""Benchmark data and measurements shared by the bench scripts: Fashion-MNIST from Debian's
`dataset-fashion-mnist` written as PNG files with a manifest, and TFLite latency."""

from __future__ import annotations

import gzip
import os
import subprocess
import time

import cv2
import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle-boot"]


def ensure_fashion_mnist() -> None:
  if os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")):
    return
  print("installing Debian package dataset-fashion-mnist ...", flush=True)
  subprocess.run(["apt-get", "update", "-qq"], check=False)
  subprocess.run(["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"], check=True)


def _idx(path: str) -> np.ndarray:
  with gzip.open(path, "rb") as f:
    data = f.read()
  dims = data[3]
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
  return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(prefix: str) -> np.ndarray:
  """The raw uint8 images [N, 28, 28] of the "train" or "t10k" file."""
  ensure_fashion_mnist()
  return _idx(os.path.join(FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz"))


def labels(prefix: str) -> np.ndarray:
  """The class ids [N] of the "train" or "t10k" file (index into CLASSES)."""
  ensure_fashion_mnist()
  return _idx(os.path.join(FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz"))


def write_fashion_mnist(root: str) -> str:
  """Writes the 70k images as PNGs and a manifest with the official train/test split as
  train/eval. Reused when already complete."""
  manifest = os.path.join(root, "manifest.csv")
  if os.path.exists(manifest):
    return manifest
  ensure_fashion_mnist()
  rows = ["path,label,split"]
  for prefix, split in (("train", "train"), ("t10k", "eval")):
    for i, (image, label) in enumerate(zip(images(prefix), labels(prefix))):
      rel = f"{split}/{CLASSES[label]}/{i:05d}.png"
      os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
      cv2.imwrite(os.path.join(root, rel), image)
      rows.append(f"{rel},{CLASSES[label]},{split}")
  tmp = manifest + ".tmp"
  with open(tmp, "w") as f:
    f.write("\n".join(rows) + "\n")
  os.replace(tmp, manifest)
  return manifest


def write_subset(root: str, count: int) -> str:
  """The first `count` Fashion-MNIST training images as a class-folder tree of PNGs (what a new
  user points `cvpipe run --data` at); reused when present."""
  data = os.path.join(root, f"fashion-subset-{count}")
  if not os.path.isdir(data):
    tmp = data + ".tmp"
    for i, (image, label) in enumerate(zip(images("train")[:count], labels("train")[:count])):
      folder = os.path.join(tmp, CLASSES[label])
      os.makedirs(folder, exist_ok=True)
      cv2.imwrite(os.path.join(folder, f"{i:05d}.png"), image)
    os.replace(tmp, data)
  return data


def tflite_latency_ms(path: str, shape: tuple[int, ...], runs: int = 300) -> float:
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  interpreter = Interpreter(model_path=path, num_threads=1)
  interpreter.allocate_tensors()
  detail = interpreter.get_input_details()[0]
  x = np.zeros((1, *shape), detail["dtype"])
  for _ in range(20):
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
  start = time.perf_counter()
  for _ in range(runs):
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
  return (time.perf_counter() - start) / runs * 1000


def print_edge_table(run: dict, columns: list[tuple[str, str, int, int]], unit: str = "img",
                     metric: str = "accuracy", latency_runs: int = 100) -> None:
  """Prints one row per edge model of `run` (`run_dag`'s result): the `columns` (header, metric
  key, width, decimals), size, size against float32 and TFLite latency per `unit` (one example,
  one thread); then the int8 drop on the gate's `metric` and the edge blessing."""
  edge, edge_dir, shape = run["edge"], run["edge_dir"], run["shape"]
  float_size = edge["models"]["tflite_float32"]["bytes"]
  print(f"{'model':22s} " + " ".join(f"{h:>{w}s}" for h, _, w, _ in columns) +
        f" {'size KiB':>9s} {'x float':>8s} {'ms/' + unit:>8s}")
  for model_name, e in edge["models"].items():
    latency = (f"{tflite_latency_ms(os.path.join(edge_dir, e['file']), shape, latency_runs):8.2f}"
               if e["file"].endswith(".tflite") else "       -")
    print(f"{model_name:22s} " + " ".join(f"{e[k]:{w}.{d}f}" for _, k, w, d in columns) +
          f" {e['bytes'] / 1024:9.1f} {e['bytes'] / float_size:8.2f} {latency}")
  print(f"int8 {metric} drop vs float: {edge['int8_quality_drop'] * 100:.2f} points; "
        f"edge blessed: {edge['edge_blessed']}")


def component_timer():
  """(emit, times): an `emit` for `runners.run_task` that prints each line and records each
  component's "done in Ns" or "cached" into `times` {component: text}."""
  import re  # pylint: disable=g-import-not-at-top
  times: dict[str, str] = {}

  def emit(line: str) -> None:
    print(line, flush=True)
    m = re.match(r"\[\d+/\d+\] (\S+) (done in [\d.]+s|cached)", line)
    if m:
      times[m.group(1)] = m.group(2).replace("done in ", "")

  return emit, times


CONFIG_HELP = "YAML overrides of the task's config, over the bench's own settings"


def run_dag(task: str, out: str, data, overrides, evaluator: str, name: str,
            config: str | None = None) -> dict:
  """Runs a task's DAG, prints its wall time per component, and returns {"result",
  "evaluation" (outcome), "edge" (edge metrics.json), "edge_dir", "shape" (model input)}.
  `config`: a YAML file of overrides that win over the bench's `overrides` (`--config`)."""
  import json  # pylint: disable=g-import-not-at-top
  from components.common import outcome  # pylint: disable=g-import-not-at-top
  from pipelines import config_loader  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  if config:
    overrides = config_loader.deep_merge(overrides or {}, config_loader.read_yaml(config))
    print(f"config: {config} over the bench's settings: {overrides}", flush=True)
  emit, times = component_timer()
  result = runners.run_task(task, out, data=data, overrides=overrides, emit=emit)
  edge_dir = result.output_uri("EdgeExport", "edge_model")
  with open(os.path.join(edge_dir, "metrics.json")) as f:
    edge = json.load(f)
  with open(os.path.join(edge_dir, "preprocessing.json")) as f:
    prep = json.load(f)
  print(f"\n=== {name}: whole DAG {result.wall_seconds:.0f}s ===")
  print("wall time per component:")
  for node, t in times.items():
    print(f"  {node:32s} {t}")
  return {"result": result, "evaluation": outcome.read(result.output_uri(evaluator, "evaluation")),
          "edge": edge, "edge_dir": edge_dir,
          # The model input of one example (a clip has its frame count first).
          "shape": (*([prep["frames"]] if "frames" in prep else []), prep["height"],
                    prep["width"], prep["channels"])}


# Garment side in the scenes, as a fraction of the scene's width.
SCENE_SCALE = (0.2, 0.45)


def garments() -> tuple[np.ndarray, np.ndarray]:
  """The scenes' sprites: the official training images in [0, 1] [N, 28, 28] and class ids [N]."""
  return images("train") / 255.0, labels("train")


def write_fashion_scenes(root: str, count: int, size: int) -> str:
  """Real Fashion-MNIST garments (official train images) pasted opaque, 1-3 per scene at 20-45 %
  of the width, onto real photo crops (`pipelines.datasets.write_scenes`): PNGs, class-id masks,
  classes.txt and COCO JSON, seeded and reused when complete. (Until 2026-12-07 the garments'
  grey levels were their opacity, so dark garments were near-transparent and their masks
  fragments; those scenes were `fashion-scenes-*` folders.)"""
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  folder = os.path.join(root, f"fashion-garments-{count}-{size}px")
  return datasets.write_scenes(folder, *garments(), ("background", *CLASSES), count, size,
                               seed=0, scale=SCENE_SCALE, opaque=True)


def scene_bench(doc: str, task: str, epochs: int = 20):
  """The command line and data of the scene benchmarks (detection, segmentation): returns
  (args, run name, output folder, data folder or None for `--digits`, the embedded default)."""
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=doc)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--scenes", type=int, default=3750)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--epochs", type=int, default=epochs)
  parser.add_argument("--digits", action="store_true", help="the embedded digits default run")
  parser.add_argument("--config", help=CONFIG_HELP)
  args = parser.parse_args()
  name = f"{task}-digits" if args.digits else f"{task}-fashion-{args.scenes}-{args.size}"
  out = os.path.abspath(os.path.join(args.output, name))
  if args.digits:
    return args, name, out, None
  t = time.monotonic()
  data = write_fashion_scenes(os.path.abspath(args.output), args.scenes, args.size)
  print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)
  return args, name, out, data
