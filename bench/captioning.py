"""Captioning benchmark: the whole captioning DAG on captioned scenes, with figures.

  python bench/captioning.py [--output DIR] [--scenes 4000] [--size 48] [--epochs 25]
                             [--fashion] [--digits] [--length-penalties 0,0.5,1]

Data: `--scenes` seeded scenes (`pipelines.datasets.write_caption_scenes`) of one or two real
objects on real photo crops with 4 reference captions each written from the exact ground truth
(what, how many, where, size): scikit-learn digits by default, or with `--fashion` Fashion-MNIST
garments (Debian `dataset-fashion-mnist`). The eval split is every pair scene whose ordered
object pair never occurs in training (unseen combinations). `--digits` runs the embedded default.
The captioner is the task's, wider (`BENCH_TRAIN`: 128 LSTM units, 64 attention units, dropout
0.2) over a 6 x 6 grid (three poolings of the 48 px scenes), with early stopping on the eval
next-word accuracy; `--config` overrides any of it.

Prints wall time per component; the CaptionEvaluator's BLEU-1..4, CIDEr-D and object-mention
F1 (beam search, the served signature) and the same for greedy decoding; BLEU-4, agreement with
Keras and size of every TFLite/ONNX model (encoder + one-step decoder, greedy loop in Python),
and TFLite latency per caption (one encoder call + one decoder call per word, one thread).
`--length-penalties` also decodes the eval images again with the trained Keras model by beam
search (the serving graph's `decode`, the configured beam width) ranking the final beams with each
GNMT length penalty, and prints the same scores for each: decodings side by side on one model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import fashion  # noqa: E402

# The bench's captioner (over the task's defaults, which keep the 5-minute default run).
BENCH_TRAIN = {"units": 128, "attention_units": 64, "dropout": 0.2, "poolings": 3,
               "early_stopping_patience": 6, "monitor": "accuracy"}

FASHION_WORDS = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                 "bag", "boot")


def caption_latency_ms(edge_dir: str, files: list[str], steps: float, runs: int = 50) -> float:
  """One caption on TFLite, one thread: the encoder once, the decoder `steps` times."""
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  total = 0.0
  for name in files:
    interpreter = Interpreter(model_path=os.path.join(edge_dir, name), num_threads=1)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    for _ in range(5):
      interpreter.invoke()
    start = time.perf_counter()
    for _ in range(runs):
      for d in details:
        interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
      interpreter.invoke()
    ms = (time.perf_counter() - start) / runs * 1000
    total += ms * (1 if name.startswith("encoder") else steps)
  return total


def compare_length_penalties(result, serialized, refs, words, keys, penalties) -> None:
  """Beam search with each length penalty on the trained Keras model, scored like the
  evaluator."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.caption_eval import metrics  # pylint: disable=g-import-not-at-top
  from components.common import keras_bundle  # pylint: disable=g-import-not-at-top
  from pipelines.captioning import edge  # pylint: disable=g-import-not-at-top
  from pipelines.captioning import model as captioner  # pylint: disable=g-import-not-at-top
  from pipelines.captioning.config import DecodeConfig  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  model_uri = result.output_uri("Trainer", "model")
  bundle = keras_bundle.keras_dir(model_uri)
  net = keras.models.load_model(os.path.join(bundle, keras_bundle.KERAS_FILE), compile=False)
  vocabulary = keras_bundle.read_labels(bundle)
  loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
  images = np.concatenate([loaded.signatures["transform_features"](
      examples=tf.constant(serialized[i:i + 256]))["image_xf"].numpy()
      for i in range(0, len(serialized), 256)])
  encoder, step = net.get_layer(captioner.ENCODER), net.get_layer(captioner.DECODER)
  steps = int(net.output_shape[1])
  width = DecodeConfig().beam_width
  for penalty in penalties:
    ids = np.concatenate([captioner.decode(encoder, step, images[i:i + 256], steps, width,
                                           penalty)["ids"].numpy()
                          for i in range(0, len(images), 256)])
    captions = [" ".join(vocabulary[int(t)] for t in edge.id_text(row).split()) for row in ids]
    g = metrics.caption_scores(captions, refs, words)
    print(f"Keras beam {width}, length_penalty {penalty}: "
          + ", ".join(f"{k} {g[k]:.4f}" for k in keys if k in g), flush=True)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--scenes", type=int, default=4000)
  parser.add_argument("--size", type=int, default=48)
  parser.add_argument("--epochs", type=int, default=25)
  parser.add_argument("--batch-size", type=int, default=0,
                      help="images per training batch (default: the config's)")
  parser.add_argument("--fashion", action="store_true", help="Fashion-MNIST garments")
  parser.add_argument("--digits", action="store_true", help="the embedded digits default run")
  parser.add_argument("--length-penalties", default="",
                      help="comma-separated decode.length_penalty values to compare after the run")
  parser.add_argument("--config", help=fashion.CONFIG_HELP)
  args = parser.parse_args()
  from components.caption_eval import evaluate  # pylint: disable=g-import-not-at-top
  from components.caption_eval import metrics  # pylint: disable=g-import-not-at-top
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  kind = "fashion" if args.fashion else "digits"
  name = "captioning-default" if args.digits else f"captioning-{kind}-{args.scenes}-{args.size}"
  out = os.path.abspath(os.path.join(args.output, name))
  data, overrides, words = None, {}, datasets.DIGIT_WORDS
  if not args.digits:
    t = time.monotonic()
    root = os.path.join(os.path.abspath(args.output), f"{kind}-captions-{args.scenes}-"
                        f"{args.size}px")
    if args.fashion:
      fashion.ensure_fashion_mnist()
      words = FASHION_WORDS
      data = datasets.write_caption_scenes(root, fashion.images("train") / 255.0,
                                           fashion.labels("train"), words, args.scenes,
                                           args.size)
    else:
      from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
      digits = load_digits()
      data = datasets.write_caption_scenes(root, digits.images / 16.0, digits.target, words,
                                           args.scenes, args.size)
    print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)
    overrides = {"captioning": {
        "model_name": f"{kind}-captions",
        "image": {"height": args.size, "width": args.size},
        "train": {**BENCH_TRAIN, "epochs": args.epochs,
                  **({"batch_size": args.batch_size} if args.batch_size else {})},
        "evaluation": {"bleu4_lower_bound": 0.5, "object_words": list(words)}}}
  run = fashion.run_dag("captioning", out, data, overrides, "CaptionEvaluator", name,
                         config=args.config)
  evaluation, edge, edge_dir = run["evaluation"], run["edge"], run["edge_dir"]
  m = evaluation["metrics"]
  keys = ("bleu1", "bleu2", "bleu3", "bleu4", "cider_d", "mention_precision", "mention_recall",
          "mention_f1")
  print(f"\nSavedModel, beam search ({int(m['examples'])} eval images, unseen combinations): "
        + ", ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
        + f"; blessed: {evaluation['blessed']}")
  result = run["result"]
  from components.image_ingest import ingest  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  examples = ingest.read_examples(result.output_uri("ImageIngest", "examples"), "eval")
  rows = [r for _, r in examples]
  refs = [[c.decode() for c in r["captions"]] for r in rows]
  serving = path_utils.serving_model_path(result.output_uri("Trainer", "model"))
  greedy = evaluate.generate(serving, [r["image"] for r in rows], signature="serving_greedy")
  g = metrics.caption_scores(greedy, refs, words)
  print("SavedModel, greedy: " + ", ".join(f"{k} {g[k]:.4f}" for k in keys if k in g))
  with open(os.path.join(result.output_uri("CaptionEvaluator", "evaluation"),
                         evaluate.CAPTIONS_FILE)) as f:
    samples = [json.loads(line) for line in f][:5]
  for s in samples:
    print(f"  {os.path.basename(s['source'])}: \"{s['caption']}\"  refs: {s['references'][:2]}")
  if args.length_penalties:
    compare_length_penalties(result, [e for e, _ in examples], refs, words, keys,
                             [float(v) for v in args.length_penalties.split(",")])
  steps = float(m.get("mean_caption_words", 8)) + 1
  float_size = edge["models"]["tflite_float32"]["bytes"]
  print(f"\n{'edge model (greedy)':22s} {'bleu4':>7s} {'agree':>6s} {'size KiB':>9s} "
        f"{'x float':>8s} {'ms/caption':>10s}")
  for model_name, e in edge["models"].items():
    latency = (f"{caption_latency_ms(edge_dir, e['files'], steps):10.2f}"
               if model_name.startswith("tflite") else "         -")
    print(f"{model_name:22s} {e['bleu4']:7.4f} {e['caption_agreement_with_keras']:6.3f} "
          f"{e['bytes'] / 1024:9.1f} {e['bytes'] / float_size:8.2f} {latency}")
  print(f"int8 BLEU-4 drop vs float: {edge['int8_quality_drop']:.4f}; edge blessed: "
        f"{edge['edge_blessed']}  (latency: encoder once + decoder x {steps:.1f} words)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
