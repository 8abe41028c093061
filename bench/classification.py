"""Classification benchmark: the whole DAG on Fashion-MNIST (or the embedded digits), with figures.

  python bench/classification.py [--output DIR] [--digits] [--epochs N]
  python bench/classification.py --subset 1000   # a new user's run, see below

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
  args = parser.parse_args()
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

  run = fashion.run_dag("classification", out, data, overrides, "Evaluator", name)
  result, evaluation, edge = run["result"], run["evaluation"], run["edge"]
  acc = evaluation["metrics"].get("sparse_categorical_accuracy", float("nan"))
  print(f"SavedModel (TFMA) eval accuracy: {acc:.4f} on "
        f"{int(evaluation['metrics'].get('example_count', 0))} images; blessed: "
        f"{result.output_properties('Evaluator', 'blessing').get('blessed')}")
  print(f"Keras model accuracy (edge export): {edge['keras']['accuracy']:.4f}")
  fashion.print_edge_table(run, [("accuracy", "accuracy", 9, 4)], latency_runs=300)
  return 0


def subset_run(count: int, output: str) -> int:
  import re  # pylint: disable=g-import-not-at-top
  import resource  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  data = fashion.write_subset(output, count)
  out = os.path.join(output, f"subset-{count}-run")
  shutil.rmtree(out, ignore_errors=True)
  start = time.monotonic()  # `cvpipe run ...` (the console script runs pipelines.cli:main)
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "classification",
                         "--data", data, "--output", out], capture_output=True, text=True)
  wall = time.monotonic() - start
  peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2  # KiB -> GiB
  print(proc.stdout)
  if proc.returncode:
    print(proc.stderr[-3000:])
    return proc.returncode
  times = re.findall(r"\] (\w+) done in ([\d.]+)s", proc.stdout)
  print(f"subset {count}: wall {wall:.1f} s command to report, peak RSS {peak:.2f} GiB "
        f"(the largest child process)")
  print("per component: " + ", ".join(f"{n} {float(t):.1f}s" for n, t in times))
  print(f"components {sum(float(t) for _, t in times):.1f} s; outside them "
        f"{wall - sum(float(t) for _, t in times):.1f} s (process start, imports, DAG set-up)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
