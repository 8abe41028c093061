"""Detection benchmark: the whole detection DAG on Fashion-MNIST scenes, with figures.

  python bench/detection.py [--output DIR] [--scenes 3750] [--size 128] [--epochs 60] [--digits]

Data: real Fashion-MNIST garments (Debian `dataset-fashion-mnist`, official train images) pasted
opaque (silhouette painted, grey levels shading the colour) 1-3 per scene at 20-45 % of the scene's width onto crops of the real photos shipped with
scikit-image and scikit-learn (`pipelines.datasets.write_scenes`: exact boxes from the pasted
pixels), written as PNGs + COCO JSON and read by the real `coco_json` reader. 85 % of the scenes
train, 15 % are the eval split (3,750 scenes: about 3,190 train and 560 eval at 128 px).
`--digits` runs the embedded default instead.

Prints wall time per component; COCO AP, AP50, AP75, AR@100 and AP per class of the SavedModel
(DetectionEvaluator) and AP/AP50/AP75 of every TFLite/ONNX model on the eval split with their
agreement with Keras; sizes; TFLite latency per image (batch 1, one thread).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fashion  # noqa: E402


def main() -> int:
  args, name, out, data = fashion.scene_bench(__doc__, "detection", epochs=60)
  overrides = None
  if data:
    overrides = {"detection": {
        "model_name": "fashion-detector",
        "data": {"train_percent": 85},
        "image": {"height": args.size, "width": args.size, "channels": 3},
        "train": {"epochs": args.epochs, "anchors": {"strides": [16, 32]}},
        "evaluation": {"ap50_lower_bound": 0.5, "ap_lower_bound": 0.3}}}

  run = fashion.run_dag("detection", out, data, overrides, "DetectionEvaluator", name,
                         config=args.config)
  evaluation = run["evaluation"]
  m = evaluation["metrics"]
  print(f"SavedModel (COCOeval, {int(m['examples'])} eval images): AP {m['ap']:.4f}  "
        f"AP50 {m['ap50']:.4f}  AP75 {m['ap75']:.4f}  AR@100 {m['ar100']:.4f}; blessed: "
        f"{evaluation['blessed']}")
  print("AP per class (AP50):")
  for key, s in sorted(evaluation["slices"].items()):
    print(f"  {key:24s} {s['ap']:.4f} ({s['ap50']:.4f})  {s['instances']} instances")
  fashion.print_edge_table(run, [("AP", "ap", 7, 4), ("AP50", "ap50", 7, 4), ("AP75", "ap75", 7, 4),
                                 ("agree", "detection_agreement_with_keras", 6, 3)],
                           metric="AP50")
  return 0


if __name__ == "__main__":
  sys.exit(main())
