"""Generative benchmark: the whole generative DAG (conditional GAN) on Fashion-MNIST, with figures.

  python bench/generative.py [--output DIR] [--train-images 20000] [--epochs 25] [--width 16]
                             [--mode cgan] [--conditioning projection] [--ema-decay 0.999]
                             [--digits]

Data: Fashion-MNIST (Debian `dataset-fashion-mnist`), 28x28 grayscale: the first
`--train-images` of the official training set (0: all 60k) and the whole official test set
(10k) as eval, through a CSV manifest. `--digits` runs the embedded default instead.

Prints wall time per component; the GenerativeEvaluator's FID and KID (in the feature space of
the judge classifier the pipeline trains: not comparable with papers' Inception FID) next to the
real-vs-real floor (as many real training images against the eval images), FID / floor,
conditional accuracy (the judge sees the requested class) overall and per class, the judge's own
accuracy on real eval images; then FID, FID relative to Keras, KID, conditional accuracy, size
and TFLite latency per generated image of every edge generator. Aims (issue 10): conditional
accuracy >= 0.8 and FID within 3x of the floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import fashion  # noqa: E402


def write_subset(root: str, train_images: int) -> str:
  """A manifest of the first `train_images` training rows (0: all) and every eval row."""
  full = fashion.write_fashion_mnist(os.path.join(root, "fashion-mnist-data"))
  if not train_images:
    return full
  base = os.path.dirname(full)
  out = os.path.join(base, f"manifest-{train_images}.csv")
  with open(full) as f:
    header, *rows = f.read().splitlines()
  train = [r for r in rows if r.endswith(",train")][:train_images]
  eval_rows = [r for r in rows if r.endswith(",eval")]
  with open(out, "w") as f:
    f.write("\n".join([header, *train, *eval_rows]) + "\n")
  return out


def latency_ms(path: str, runs: int = 300) -> float:
  """One generated image on TFLite, one thread (every input zeros)."""
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  interpreter = Interpreter(model_path=path, num_threads=1)
  interpreter.allocate_tensors()
  details = interpreter.get_input_details()

  def once():
    for d in details:
      interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    interpreter.invoke()

  for _ in range(20):
    once()
  start = time.perf_counter()
  for _ in range(runs):
    once()
  return (time.perf_counter() - start) / runs * 1000


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--train-images", type=int, default=20000)
  parser.add_argument("--epochs", type=int, default=25)
  parser.add_argument("--width", type=int, default=16,
                      help="filters of the generator's last block (x4 at its first)")
  parser.add_argument("--mode", choices=["cgan", "dcgan"], default="cgan")
  parser.add_argument("--class-loss-weight", type=float, default=0.0,
                      help="AC-GAN auxiliary class loss weight (0: plain cGAN)")
  parser.add_argument("--conditioning", choices=["concat", "projection"], default=None,
                      help="the discriminator's class conditioning (default: the task's)")
  parser.add_argument("--ema-decay", type=float, default=None,
                      help="EMA of the generator's weights (default: the task's)")
  parser.add_argument("--digits", action="store_true", help="the embedded digits default run")
  parser.add_argument("--config", help=fashion.CONFIG_HELP)
  args = parser.parse_args()
  if args.digits:
    name, data, overrides = "generative-default", None, {}
  else:
    name = f"generative-fashion-{args.mode}-{args.train_images or 60000}"
    t = time.monotonic()
    data = write_subset(os.path.abspath(args.output), args.train_images)
    print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)
    overrides = {"generative": {
        "model_name": "fashion-generator",
        "image": {"height": 28, "width": 28, "channels": 1},
        "train": {"mode": args.mode, "epochs": args.epochs, "latent_dim": 64,
                  "width": args.width, "batch_size": 128,
                  "class_loss_weight": args.class_loss_weight,
                  **({"conditioning": args.conditioning} if args.conditioning else {}),
                  **({"ema_decay": args.ema_decay} if args.ema_decay is not None else {})},
        "judge": {"width": 32, "features": 128, "epochs": 10},
        "evaluation": {"max_fid_to_floor": 3.0, "conditional_accuracy_lower_bound": 0.8},
        "export": {"representative_examples": 500}}}
  out = os.path.abspath(os.path.join(args.output, name))
  run = fashion.run_dag("generative", out, data, overrides, "GenerativeEvaluator", name,
                         config=args.config)
  evaluation, edge, edge_dir = run["evaluation"], run["edge"], run["edge_dir"]
  m = evaluation["metrics"]
  print(f"\nSavedModel ({int(m['examples'])} generated vs {int(m['examples'])} real eval images; "
        f"floor: {int(m['floor_examples'])} real train images):")
  for key in ("fid", "fid_floor", "fid_to_floor", "kid", "kid_floor", "conditional_accuracy",
              "judge_accuracy"):
    if key in m:
      print(f"  {key:22s} {m[key]:.4f}")
  print(f"  blessed: {evaluation['blessed']} {evaluation['failures']}")
  if evaluation["slices"]:
    print("conditional accuracy per class: " + ", ".join(
        f"{k.split('=', 1)[1]} {v['conditional_accuracy']:.2f}"
        for k, v in sorted(evaluation["slices"].items())))
  float_size = edge["models"]["tflite_float32"]["bytes"]
  print(f"\n{'edge generator':16s} {'fid':>8s} {'vs keras':>8s} {'kid':>8s} {'cond acc':>8s} "
        f"{'pix mae':>8s} {'size KiB':>9s} {'x float':>8s} {'ms/img':>7s}")
  for model_name, e in edge["models"].items():
    path = os.path.join(edge_dir, e["files"][0])
    latency = f"{latency_ms(path):7.2f}" if path.endswith(".tflite") else "      -"
    print(f"{model_name:16s} {e['fid']:8.3f} {e['fid_vs_keras']:8.3f} {e['kid']:8.4f} "
          f"{e.get('conditional_accuracy', float('nan')):8.3f} {e['pixel_mae_vs_keras']:8.4f} "
          f"{e['bytes'] / 1024:9.1f} {e['bytes'] / float_size:8.2f} {latency}")
  print(f"int8 FID-vs-Keras increase over float: {edge['int8_quality_drop']:.3f}; "
        f"edge blessed: {edge['edge_blessed']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
