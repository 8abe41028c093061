"""Segmentation benchmark: the whole segmentation DAG on Fashion-MNIST scenes, with figures.

  python bench/segmentation.py [--output DIR] [--scenes 3750] [--size 128] [--epochs 20] [--digits]

Data: the same scenes as `bench/detection.py` (real Fashion-MNIST garments on real photo crops,
`pipelines.datasets.write_scenes`), read through the real `mask_pairs` reader (image + class-id
mask PNGs + classes.txt; masks exact from the pasted pixels). 85 % train, 15 % eval.

Prints wall time per component; mIoU, pixel accuracy and IoU per class of the SavedModel
(SegmentationEvaluator) and mIoU of every TFLite/ONNX model with its pixel agreement with Keras;
sizes; TFLite latency per image (batch 1, one thread).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fashion  # noqa: E402


def main() -> int:
  args, name, out, data = fashion.scene_bench(__doc__, "segmentation")
  overrides = None
  if data:
    overrides = {"segmentation": {
        "model_name": "fashion-segmenter",
        "data": {"train_percent": 85},
        "image": {"height": args.size, "width": args.size, "channels": 3},
        "train": {"epochs": args.epochs, "depth": 4},
        "evaluation": {"miou_lower_bound": 0.5}}}

  run = fashion.run_dag("segmentation", out, data, overrides, "SegmentationEvaluator", name)
  evaluation, edge, edge_dir, shape = run["evaluation"], run["edge"], run["edge_dir"], run["shape"]
  m = evaluation["metrics"]
  print(f"SavedModel ({int(m['examples'])} eval images): mIoU {m['miou']:.4f}  pixel accuracy "
        f"{m['pixel_accuracy']:.4f}; blessed: {evaluation['blessed']}")
  print("IoU per class:")
  for key, s in sorted(evaluation["slices"].items()):
    print(f"  {key:24s} {s['iou']:.4f}")
  float_size = edge["models"]["tflite_float32"]["bytes"]
  print(f"{'model':22s} {'mIoU':>7s} {'pix acc':>8s} {'agree':>6s} {'size KiB':>9s} "
        f"{'x float':>8s} {'ms/img':>8s}")
  for model_name, e in edge["models"].items():
    latency = (f"{fashion.tflite_latency_ms(os.path.join(edge_dir, e['file']), shape, 100):8.2f}"
               if e["file"].endswith(".tflite") else "       -")
    print(f"{model_name:22s} {e['miou']:7.4f} {e['pixel_accuracy']:8.4f} "
          f"{e['pixel_agreement_with_keras']:6.3f} {e['bytes'] / 1024:9.1f} "
          f"{e['bytes'] / float_size:8.2f} {latency}")
  print(f"int8 mIoU drop vs float: {edge['int8_quality_drop'] * 100:.2f} points; "
        f"edge blessed: {edge['edge_blessed']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
