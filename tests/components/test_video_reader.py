"""Video ingest (`components/image_ingest/video.py` and the video readers): frames are sampled
as configured; unreadable, truncated, zero-frame and too-short videos are quarantined with their
reason; a partly decodable video is kept with a counted note or quarantined, by config."""

import os
import shutil
import struct

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.image_ingest import ingest
from components.image_ingest import readers
from components.image_ingest import video
from components.image_ingest.ingest import IngestError
from pipelines import datasets
from pipelines.infra import local_pipeline


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  """12 generated clips (2 per motion) of 12 frames at 16 px."""
  return datasets.write_moving_digits(str(tmp_path_factory.mktemp("clips")), count=12, size=16,
                                      frames=12, seed=2)


def _clip(clips, motion="down"):
  folder = os.path.join(clips, motion)
  return os.path.join(folder, sorted(os.listdir(folder))[0])


def _partial(data: bytes) -> bytes:
  """The first two thirds of an AVI with its RIFF size patched to match: the header still
  declares every frame, a third of them are gone (a damaged, not a cut, file)."""
  cut = data[:len(data) * 2 // 3]
  return cut[:4] + struct.pack("<I", len(cut) - 8) + cut[8:]


def test_options_parse_from_strings_and_are_validated():
  options = video.VideoOptions.from_strings({"num_frames": "4", "sampling": "fps", "fps": "2.5"})
  assert (options.num_frames, options.sampling, options.fps) == (4, "fps", 2.5)
  with pytest.raises(ValueError, match="unknown video options \\['frames'\\]"):
    video.VideoOptions.from_strings({"frames": "4"})
  with pytest.raises(ValueError, match="partial must be 'keep' or 'quarantine'"):
    video.VideoOptions.from_strings({"partial": "drop"})
  with pytest.raises(ValueError, match="num_frames must be >= 1"):
    video.VideoOptions.from_strings({"num_frames": "0"})


def test_uniform_and_fps_sampling_pick_the_expected_frames():
  assert video.sample_indices(16, 10.0, video.VideoOptions(num_frames=4)) == [0, 5, 10, 15]
  # Shorter than T but at least min_frames: frames repeat, evenly.
  assert video.sample_indices(3, 10.0, video.VideoOptions(num_frames=5, min_frames=2)) == [
      0, 0, 1, 2, 2]
  assert "too short: 3 frames decode, at least 5 needed" in video.sample_indices(
      3, 10.0, video.VideoOptions(num_frames=5))
  # 30 fps sampled at 10 fps: every third frame from the start.
  fps = video.VideoOptions(num_frames=4, sampling="fps", fps=10)
  assert video.sample_indices(100, 30.0, fps) == [0, 3, 6, 9]
  assert "need 10 frames, 9 decode" in video.sample_indices(9, 30.0, fps)


def test_truncation_reads_the_container_sizes():
  riff = b"RIFF" + struct.pack("<I", 100) + b"AVI " + b"\0" * 20
  assert "header declares 108 bytes, the file has 32" in video.truncation(riff)
  assert video.truncation(riff + b"\0" * 76) is None
  mp4 = struct.pack(">I", 16) + b"ftypisom" + b"\0" * 4 + struct.pack(">I", 64) + b"mdat" + b"x"
  assert "box 'mdat' at offset 16 needs 64 bytes, 9 remain" in video.truncation(mp4)
  assert video.truncation(b"\x1a\x45\xdf\xa3 matroska") is None  # left to the decoder


def test_a_clip_samples_the_configured_frames_in_the_configured_channels(clips):
  clip = video.read_clip(_clip(clips), video.VideoOptions(num_frames=4), channels=1)
  assert clip.frames.shape == (4, 16, 16) and clip.frames.dtype == np.uint8
  assert (clip.frames_read, clip.frames_declared, clip.note) == (12, 12, "")
  colour = video.read_clip(_clip(clips), video.VideoOptions(num_frames=3), channels=3)
  assert colour.frames.shape == (3, 16, 16, 3)
  # The sampled frames are frames 0, 6 and 11 of the file, in order.
  capture, frames = cv2.VideoCapture(_clip(clips)), []
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    frames.append(frame)
  np.testing.assert_array_equal(colour.frames, np.stack([frames[i] for i in (0, 6, 11)]))


def test_bad_videos_get_their_reason(clips):
  data = open(_clip(clips), "rb").read()
  options = video.VideoOptions(num_frames=4)
  assert video.read_clip_bytes(b"", "a.avi", options) == "empty file (0 bytes)"
  assert video.read_clip_bytes(b"not a video at all" * 10, "a.avi", options).startswith(
      "unreadable video")
  assert video.read_clip_bytes(data[:len(data) // 2], "a.avi", options).startswith(
      "truncated avi file")
  assert video.read_clip_bytes(data, "a.avi", video.VideoOptions(num_frames=13)).startswith(
      "too short: 12 frames decode")
  partial = video.read_clip_bytes(_partial(data), "a.avi", video.VideoOptions(num_frames=2,
                                                                              min_frames=1))
  assert partial.note.startswith("partial: read ") and partial.frames.shape[0] == 2
  assert "of 12 declared frames" in partial.note
  assert video.read_clip_bytes(_partial(data), "a.avi", video.VideoOptions(
      num_frames=2, min_frames=1, partial="quarantine")).endswith("(partial: quarantine)")
  assert "over max_pixels=100" in video.read_clip_bytes(data, "a.avi", options, max_pixels=100)


def _examples(out):
  files = tf.io.gfile.glob(str(out / "Split-*" / "*"))
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.mark.parametrize("partial,kept", [("keep", True), ("quarantine", False)])
def test_ingest_writes_sampled_frames_and_quarantines_bad_videos(clips, tmp_path, partial, kept):
  root = tmp_path / "videos"
  shutil.copytree(clips, root)
  (root / ".complete").unlink()
  data = open(root / "up" / sorted(os.listdir(root / "up"))[0], "rb").read()
  (root / "up" / "cut.avi").write_bytes(data[:len(data) // 2])
  (root / "up" / "notes.avi").write_bytes(b"these are notes, not a video")
  (root / "left" / "damaged.avi").write_bytes(_partial(data))
  options = {"num_frames": "2", "partial": partial}
  summary = ingest.run_ingest(local_pipeline(), str(root), str(tmp_path / "out"),
                              train_percent=50, channels=1, reader="video_folders",
                              reader_options=options)
  assert summary["listed"] == 15
  reasons = {os.path.basename(q["path"]): q["reason"]
             for q in ingest.read_quarantine(str(tmp_path / "out"))}
  assert reasons["cut.avi"].startswith("truncated avi file")
  assert reasons["notes.avi"].startswith("unreadable video")
  assert ("damaged.avi" not in reasons) == kept
  assert summary["notes"] == ({"partial": 1} if kept else {})
  examples = _examples(tmp_path / "out")
  assert len(examples) == 15 - len(reasons)
  example = examples[0].features.feature
  assert len(example["frames"].bytes_list.value) == 2
  assert example["frames_read"].int64_list.value[0] >= 2
  frame = tf.io.decode_png(example["frames"].bytes_list.value[0]).numpy()
  assert frame.shape == (16, 16, 1)
  # The poster frame is one of the sampled frames.
  assert example["image"].bytes_list.value[0] in example["frames"].bytes_list.value


def test_a_bad_reader_option_stops_the_run_naming_it(clips, tmp_path):
  with pytest.raises(IngestError, match="video_folders reader takes no options \\['fps_'\\]"):
    ingest.run_ingest(local_pipeline(), clips, str(tmp_path / "out"), reader="video_folders",
                      reader_options={"fps_": "3"})
  with pytest.raises(ValueError, match="sampling must be 'uniform' or 'fps'"):
    ingest.run_ingest(local_pipeline(), clips, str(tmp_path / "out"), reader="video_folders",
                      reader_options={"sampling": "random"})
  with pytest.raises(IngestError, match="takes no options \\['num_frames'\\]"):
    ingest.run_ingest(local_pipeline(), clips, str(tmp_path / "out"), reader="class_folders",
                      reader_options={"num_frames": "3"})


def test_the_video_task_reads_folders_and_manifests(clips, tmp_path):
  manifest = tmp_path / "clips.csv"
  manifest.write_text(f"{_clip(clips)},down\n")
  accepted = ("video_folders", "video_manifest")
  assert readers.detect(clips, accepted) == "video_folders"
  assert readers.detect(str(manifest), accepted) == "video_manifest"
  # Image tasks keep their readers for the same sources.
  assert readers.detect(clips) == "class_folders"


def test_the_generator_moves_the_digit_by_class(tmp_path):
  root = datasets.write_moving_digits(str(tmp_path), count=6, size=32, frames=8, seed=0)
  assert sorted(os.listdir(root)) == sorted([*datasets.MOTIONS, ".complete"])
  for motion, axis, sign in (("right", 1, 1), ("left", 1, -1), ("down", 0, 1), ("up", 0, -1)):
    clip = video.read_clip(_clip(root, motion), video.VideoOptions(num_frames=8), 3).frames
    background = np.median(clip, axis=0)
    centres = []
    for frame in clip:  # the centre of the pixels that differ from the still background
      ys, xs = np.nonzero(np.abs(frame.astype(float) - background).sum(-1) > 60)
      centres.append((ys.mean(), xs.mean()))
    moved = centres[-1][axis] - centres[0][axis]
    assert sign * moved > 3, (motion, centres)
