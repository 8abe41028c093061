"""Classification benchmark: the whole DAG on Fashion-MNIST (or the embedded digits), with figures.

  python bench/classification.py [--output DIR] [--digits] [--epochs N]
  python bench/classification.py --subset 1000   # a new user's run, see below
  python bench/classification.py --growth 1000,10000,60000 --epochs 2   # cost growth table

`--subset N`: the first N Fashion-MNIST training images as a class-folder tree, run exactly as a
new user would (`cvpipe run classification --data DIR`, default config, a fresh output folder,
in a child process): prints wall time from the command to the report, the child's peak RSS,
each component's time (the CLI's progress lines) and the eval accuracy.

Fashion-MNIST comes from Debian's `dataset-fashion-mnist` (installed with apt-get if missing): the
60k training images are the train split and the 10k test images the eval split, so the Evaluator's
and the edge export's accuracies are test accuracies. Prints wall time per component, accuracy of
the SavedModel (TFMA) and of every TFLite/ONNX model, sizes, and TFLite latency per image (batch 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fashion  # noqa: E402
from fashion import write_fashion_mnist  # noqa: E402

def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--digits", action="store_true", help="the embedded digits default run")
  parser.add_argument("--epochs", type=int, default=10)
  parser.add_argument("--schedule", choices=["cosine", "plateau"], default="cosine",
                      help="learning-rate schedule (plateau: divide by 3 after 1 flat epoch)")
  parser.add_argument("--fresh", action="store_true", help="delete earlier runs (not the data)")
  parser.add_argument("--subset", type=int, default=0,
                      help="N > 0: a user's `cvpipe run` on N images (see the module doc)")
  parser.add_argument("--growth", default="",
                      help="comma-separated sizes, e.g. 1000,10000,60000: a user run per size "
                           "with --epochs epochs, then the cost-growth table per component")
  parser.add_argument("--config", help=fashion.CONFIG_HELP)
  args = parser.parse_args()
  if args.growth:
    return growth([int(n) for n in args.growth.split(",")], os.path.abspath(args.output),
                  args.epochs)
  if args.subset:
    return subset_run(args.subset, os.path.abspath(args.output))

  name = "digits" if args.digits else "fashion-mnist"
  out = os.path.abspath(os.path.join(args.output, name))
  if args.fresh:
    for sub in ("pipeline_root", "metadata.sqlite", "serving"):
      path = os.path.join(out, sub)
      shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else (
          os.path.exists(path) and os.remove(path))
  if args.digits:
    data, overrides = None, None
  else:
    t = time.monotonic()
    data = write_fashion_mnist(os.path.join(os.path.abspath(args.output), "fashion-mnist-data"))
    print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)
    overrides = {
        "classification": {
            "model_name": "fashion",
            "image": {"height": 28, "width": 28, "channels": 1},
            "train": {"epochs": args.epochs, "batch_size": 128, "learning_rate": 2e-3,
                      "widths": [32, 64, 128],
                      "early_stopping_patience": 0, "lr_schedule": args.schedule,
                      "reduce_lr_patience": 1, "dropout": 0.3,
                      "augment": {"flip": True, "rotation": 0.0, "zoom": 0.0, "contrast": 0.0}},
            "evaluation": {"accuracy_lower_bound": 0.85}},
        "infra": {"local": {"direct_running_mode": "multi_processing", "num_workers": 2}}}

  run = fashion.run_dag("classification", out, data, overrides, "Evaluator", name,
                         config=args.config)
  result, evaluation, edge = run["result"], run["evaluation"], run["edge"]
  acc = evaluation["metrics"].get("sparse_categorical_accuracy", float("nan"))
  print(f"SavedModel (TFMA) eval accuracy: {acc:.4f} on "
        f"{int(evaluation['metrics'].get('example_count', 0))} images; blessed: "
        f"{result.output_properties('Evaluator', 'blessing').get('blessed')}")
  print(f"Keras model accuracy (edge export): {edge['keras']['accuracy']:.4f}")
  fashion.print_edge_table(run, [("accuracy", "accuracy", 9, 4)], latency_runs=300)
  return 0


def user_run(count: int, output: str, epochs: int | None = None) -> dict:
  """`cvpipe run classification --data <N images>` in a child process, as a user would (default
  config; `epochs`: a fixed number of epochs, early stopping off). Returns {"rc", "stdout",
  "stderr", "wall" (s), "peak" (GiB, the child's peak RSS), "times" {component: s}}."""
  import re  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  data = fashion.write_subset(output, count)
  out = os.path.join(output, f"subset-{count}-run")
  shutil.rmtree(out, ignore_errors=True)
  command = [sys.executable, "-m", "pipelines.cli", "run", "classification", "--data", data,
             "--output", out]
  if epochs:
    os.makedirs(out)
    with open(os.path.join(out, "epochs.yaml"), "w") as f:
      f.write(f"classification:\n  train:\n    epochs: {epochs}\n"
              "    early_stopping_patience: 0\n")
    command += ["--config", os.path.join(out, "epochs.yaml")]
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
    start = time.monotonic()  # `cvpipe run ...` (the console script runs pipelines.cli:main)
    proc = subprocess.Popen(command, stdout=out_f, stderr=err_f, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (and its children's)
    wall = time.monotonic() - start
    out_f.seek(0)
    err_f.seek(0)
    stdout, stderr = out_f.read(), err_f.read()
  rc = proc.returncode = os.waitstatus_to_exitcode(status)
  peak = usage.ru_maxrss / 1024 ** 2  # KiB -> GiB
  times = {n: float(t) for n, t in re.findall(r"\] (\w+) done in ([\d.]+)s", stdout)}
  return {"rc": rc, "stdout": stdout, "stderr": stderr, "wall": wall,
          "peak": peak, "times": times}


def subset_run(count: int, output: str) -> int:
  run = user_run(count, output)
  print(run["stdout"])
  if run["rc"]:
    print(run["stderr"][-3000:])
    return run["rc"]
  wall, times = run["wall"], run["times"]
  print(f"subset {count}: wall {wall:.1f} s command to report, peak RSS {run['peak']:.2f} GiB "
        f"(the largest child process)")
  print("per component: " + ", ".join(f"{n} {t:.1f}s" for n, t in times.items()))
  print(f"components {sum(times.values()):.1f} s; outside them "
        f"{wall - sum(times.values()):.1f} s (process start, imports, DAG set-up)")
  return 0


def growth(counts: list[int], output: str, epochs: int) -> int:
  """Cost growth: one user run per size (`epochs` epochs each), then per component its time at
  every size, and a least-squares line through them: the fixed part (s) and the per-image part
  (ms per image)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  runs = {}
  for count in sorted(counts):
    runs[count] = user_run(count, output, epochs)
    if runs[count]["rc"]:
      print(runs[count]["stdout"][-3000:], runs[count]["stderr"][-3000:])
      return runs[count]["rc"]
    print(f"{count} images: wall {runs[count]['wall']:.1f} s, peak RSS "
          f"{runs[count]['peak']:.2f} GiB", flush=True)
  sizes = sorted(runs)
  rows = {name: [runs[n]["times"].get(name, 0.0) for n in sizes]
          for name in runs[sizes[0]]["times"]}
  rows["outside components"] = [runs[n]["wall"] - sum(runs[n]["times"].values()) for n in sizes]
  rows["wall, command to report"] = [runs[n]["wall"] for n in sizes]
  print(f"\n=== cost growth: classification, Fashion-MNIST subsets, {epochs} epochs each ===")
  print(f"{'component':28s} " + " ".join(f"{f'{n} img':>10s}" for n in sizes) +
        f" {'fixed s':>8s} {'ms/img':>7s}")
  for name, seconds in rows.items():
    slope, intercept = np.polyfit(sizes, seconds, 1) if len(sizes) > 1 else (0.0, seconds[0])
    print(f"{name:28s} " + " ".join(f"{t:10.1f}" for t in seconds) +
          f" {intercept:8.1f} {slope * 1000:7.2f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
