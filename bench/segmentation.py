"""Segmentation benchmark: the whole segmentation DAG on Fashion-MNIST scenes, with figures.

  python bench/segmentation.py [--output DIR] [--scenes 3750] [--size 128] [--epochs 20] [--digits]

Data: the same scenes as `bench/detection.py` (real Fashion-MNIST garments, opaque, on real photo
crops, `pipelines.datasets.write_scenes`), read through the real `mask_pairs` reader (image +
class-id mask PNGs + classes.txt; masks exact from the pasted pixels). 85 % train, 15 % eval.

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
        # A depth-3 U-Net behind a stride-2 stem: 4.5x less training time per image than depth 4
        # at full resolution (24 vs 107 ms per 128 px image, 2 cores); the garments span 26-58 px.
        "train": {"epochs": args.epochs, "depth": 3, "stem_stride": 2},
        "evaluation": {"miou_lower_bound": 0.5}}}

  run = fashion.run_dag("segmentation", out, data, overrides, "SegmentationEvaluator", name,
                         config=args.config)
  evaluation = run["evaluation"]
  m = evaluation["metrics"]
  print(f"SavedModel ({int(m['examples'])} eval images): mIoU {m['miou']:.4f}  pixel accuracy "
        f"{m['pixel_accuracy']:.4f}; blessed: {evaluation['blessed']}")
  print("IoU per class:")
  for key, s in sorted(evaluation["slices"].items()):
    print(f"  {key:24s} {s['iou']:.4f}")
  fashion.print_edge_table(run, [("mIoU", "miou", 7, 4), ("pix acc", "pixel_accuracy", 8, 4),
                                 ("agree", "pixel_agreement_with_keras", 6, 3)], metric="mIoU")
  return 0


if __name__ == "__main__":
  sys.exit(main())
