"""EdgeExport's work alone, repeated: `export_edge` on a finished classification run's model.

  python bench/edge_export.py [--run bench-output/subset-1000-run] [--calls 3]

Loads the run's transformed eval examples once, then calls `export.export_edge` (four TFLite
variants and ONNX, each scored) `--calls` times in one process on the run's Trainer model and
prints each call's seconds (the first pays one-time imports and converter start-up). Run
`python bench/classification.py --subset 1000` first; to compare two commits, run this from a
worktree of each, alternating.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--run", default="bench-output/subset-1000-run")
  parser.add_argument("--calls", type=int, default=3)
  args = parser.parse_args()
  import pipelines  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (Keras 2, oneDNN)
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from components.common import keras_bundle  # pylint: disable=g-import-not-at-top
  from components.edge_export import export  # pylint: disable=g-import-not-at-top
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  root = os.path.join(args.run, "pipeline_root")
  found = {name: sorted(glob.glob(os.path.join(root, *parts, "*")))
           for name, parts in (("model", ("Trainer", "model")),
                               ("graph", ("Transform", "transform_graph")),
                               ("examples", ("Transform", "transformed_examples")))}
  missing = [name for name, uris in found.items() if not uris]
  if missing:
    parser.error(f"{args.run} holds no finished classification run ({missing} missing); run "
                 "python bench/classification.py --subset 1000 first")
  spec = tft.TFTransformOutput(found["graph"][-1]).transformed_feature_spec()
  features = export.load_transformed_examples(
      os.path.join(found["examples"][-1], "Split-eval", "*"), spec)
  edge = tasks.get("classification").edge
  for i in range(args.calls):
    with tempfile.TemporaryDirectory() as out:
      start = time.monotonic()
      export.export_edge(keras_bundle.keras_dir(found["model"][-1]), features, out, edge,
                         log=lambda line: None)
      print(f"call {i + 1}: export_edge {time.monotonic() - start:.2f} s", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
