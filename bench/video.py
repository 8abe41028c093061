"""Video benchmark: the whole video DAG on moving Fashion-MNIST garments, with figures, and
OpenCV's real sample videos through the video reader.

  python bench/video.py [--output DIR] [--clips 1800] [--size 32] [--epochs 25] [--digits]
                        [--model r2plus1d|cnn_lstm] [--no-real-clips]

Data: `--clips` seeded Motion-JPEG AVI files (`pipelines.datasets.write_motion_clips`, 16 frames
at 10 fps) of a real Fashion-MNIST garment (Debian `dataset-fashion-mnist`, official train
images) moving on a still crop of a real photo, one class per motion (down, left, right, rotate,
up, zoom), every clip starting at a random place, size and tilt: no single frame tells the class.
85 % train, 15 % eval; 8 frames sampled per clip. `--digits` runs the embedded default instead.

Prints wall time per component; the Evaluator's accuracy and accuracy per class; the single-frame
baseline's accuracy beside chance; accuracy, agreement with Keras, size and TFLite latency (one
clip, one thread) of every TFLite/ONNX model. Then ingests OpenCV's sample videos (Debian
`opencv-doc`: vtest.avi, Megamind.avi, Megamind_bugy.avi, tree.avi, plus a copy of Megamind.avi
cut in half) through the `video_folders` reader and prints what became of each.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fashion  # noqa: E402

OPENCV_DOC = "/usr/share/doc/opencv-doc/examples/data"
SAMPLES = ("vtest.avi", "Megamind.avi", "Megamind_bugy.avi", "tree.avi")


def opencv_samples(tmp: str) -> str | None:
  """OpenCV's sample videos: installed, or extracted from `apt-get download opencv-doc`."""
  if all(os.path.exists(os.path.join(OPENCV_DOC, s)) for s in SAMPLES):
    return OPENCV_DOC
  try:
    subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True,
                   capture_output=True)
    deb = glob.glob(os.path.join(tmp, "opencv-doc_*.deb"))[0]
    subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "x")], check=True)
  except (OSError, subprocess.CalledProcessError, IndexError) as e:
    print(f"OpenCV sample videos unavailable ({e}); skipping the real-clip ingest")
    return None
  return os.path.join(tmp, "x", OPENCV_DOC.lstrip("/"))


def real_clips(out: str) -> None:
  from components.image_ingest import ingest  # pylint: disable=g-import-not-at-top
  from pipelines.infra import local_pipeline  # pylint: disable=g-import-not-at-top
  tmp = tempfile.mkdtemp(prefix="opencv-doc-")
  source = opencv_samples(tmp)
  if source is None:
    return
  root = os.path.join(out, "opencv-samples")
  shutil.rmtree(root, ignore_errors=True)
  os.makedirs(os.path.join(root, "samples"))
  for name in SAMPLES:
    shutil.copy(os.path.join(source, name), os.path.join(root, "samples", name))
  data = open(os.path.join(source, "Megamind.avi"), "rb").read()
  with open(os.path.join(root, "samples", "Megamind_cut_in_half.avi"), "wb") as f:
    f.write(data[:len(data) // 2])
  # One more clip in a second folder, so both splits can have examples.
  os.makedirs(os.path.join(root, "more"))
  shutil.copy(os.path.join(source, "vtest.avi"), os.path.join(root, "more", "vtest_copy.avi"))
  t = time.monotonic()
  examples = os.path.join(out, "opencv-samples-examples")
  shutil.rmtree(examples, ignore_errors=True)
  summary = ingest.run_ingest(local_pipeline(), root, examples, train_percent=50, channels=3,
                              reader="video_folders", reader_options={"num_frames": "8"})
  print(f"\n=== OpenCV sample videos through the video_folders reader "
        f"({time.monotonic() - t:.1f}s) ===")
  for split in ingest.SPLITS:
    for _, row in ingest.read_examples(examples, split):
      print(f"  kept        {os.path.basename(row['source']):26s} {len(row['frames'])} frames "
            f"sampled; {row['frames_read'][0]} of {row['frames_declared'][0]} declared decode; "
            f"{row['fps'][0]:.2f} fps")
  for q in ingest.read_quarantine(examples):
    print(f"  quarantined {os.path.basename(q['path']):26s} {q['reason']}")
  print(f"  summary: {json.dumps({k: summary[k] for k in ('examples', 'quarantined', 'notes')})}")


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default="bench-output")
  parser.add_argument("--clips", type=int, default=1800)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--epochs", type=int, default=25)
  parser.add_argument("--model", default="r2plus1d", choices=("r2plus1d", "cnn_lstm"))
  parser.add_argument("--digits", action="store_true", help="the embedded digits default run")
  parser.add_argument("--no-real-clips", action="store_true")
  parser.add_argument("--config", help=fashion.CONFIG_HELP)
  args = parser.parse_args()
  from pipelines import datasets  # pylint: disable=g-import-not-at-top
  name = ("video-digits" if args.digits else
          f"video-fashion-{args.clips}-{args.size}-{args.model}")
  out = os.path.abspath(os.path.join(args.output, name))
  data, overrides = None, {"video": {"train": {"model": args.model}}}
  if not args.digits:
    t = time.monotonic()
    fashion.ensure_fashion_mnist()
    data = datasets.write_motion_clips(
        os.path.join(os.path.abspath(args.output), f"fashion-motion-{args.clips}-{args.size}px"),
        fashion.images("train") / 255.0, args.clips, args.size, frames=16, seed=0)
    print(f"data: {data} ({time.monotonic() - t:.0f}s to prepare)", flush=True)
    overrides = {"video": {"model_name": "fashion-motion", "data": {"train_percent": 85},
                           "image": {"height": args.size, "width": args.size, "channels": 1},
                           "train": {"model": args.model, "epochs": args.epochs},
                           "evaluation": {"accuracy_lower_bound": 0.9}}}
  run = fashion.run_dag("video", out, data, overrides, "Evaluator", name,
                         config=args.config)
  evaluation = run["evaluation"]
  m = evaluation["metrics"]
  print(f"SavedModel ({int(m.get('example_count', 0))} eval clips): accuracy "
        f"{m['sparse_categorical_accuracy']:.4f}; blessed: {evaluation['blessed']}")
  for key, s in sorted(evaluation["slices"].items()):
    print(f"  {key:24s} {s['sparse_categorical_accuracy']:.4f}")
  baseline_file = os.path.join(run["result"].output_uri("Trainer", "model"), "Format-Keras",
                               "single_frame_baseline.json")
  if os.path.exists(baseline_file):
    b = json.load(open(baseline_file))
    print(f"single-frame baseline (middle frame, same CNN): accuracy {b['accuracy']:.4f}; "
          f"chance {b['chance']:.4f}; the video model {b['model_accuracy']:.4f}")
  fashion.print_edge_table(run, [("accuracy", "accuracy", 8, 4),
                                 ("agree", "top1_agreement_with_keras", 6, 3)], unit="clip")
  if not args.no_real_clips:
    real_clips(os.path.abspath(args.output))
  return 0


if __name__ == "__main__":
  sys.exit(main())
