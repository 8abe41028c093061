"""Classification benchmark: the whole DAG on Fashion-MNIST (or the embedded digits), with figures.

  python bench/classification.py [--output DIR] [--digits] [--epochs N]

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
  args = parser.parse_args()

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


if __name__ == "__main__":
  sys.exit(main())
