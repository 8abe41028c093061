"""Video decoding for ingest (and `cvpipe predict`): OpenCV reads a video file, a fixed number of
frames is sampled (uniformly over the clip, or at a configured frame rate from its start) and
stored as encoded PNG frames. TFX-free; runs on the Beam workers.

What happens to a bad video (each a quarantine reason, never a crash or a silent drop):
  unreadable   OpenCV cannot open it, or it has no video stream
  truncated    the container declares more bytes than the file holds (AVI's RIFF size, an MP4/MOV
               box running past the end): the file was cut short
  zero frames  it opens but no frame decodes
  too short    fewer frames decode than sampling needs (`min_frames`, or `num_frames` at `fps`)
  partial      fewer frames decode than the container declares (a damaged stream): kept with a
               note "partial: read R of D declared frames" (counted in the ingest summary), or
               quarantined with `partial: quarantine`
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import typing
from typing import Literal, Mapping

import cv2
import numpy as np

# The tf.Example features of an ingested video: the shared image features describe its poster
# frame (the middle sampled frame: report grids and statistics), `frames` holds the sampled
# frames as PNGs, with how many frames decoded and how many the container declared.
VIDEO_EXTRA_FEATURES = {"frames": "bytes", "frames_read": "int64", "frames_declared": "int64",
                        "fps": "float"}


@dataclasses.dataclass(frozen=True)
class VideoOptions:
  """How frames are sampled: the video task's `frames` config section, and the reader options
(which arrive as strings: `from_strings`)."""
  num_frames: int = 8
  # uniform: `num_frames` spread evenly over every frame that decodes; fps: `num_frames` frames
  # `1/fps` seconds apart from the start (at the file's own rate when fps is 0).
  sampling: Literal["uniform", "fps"] = "uniform"
  fps: float = 0.0
  # Fewer decodable frames than this is "too short" (0: `num_frames`); uniform sampling of a
  # clip shorter than `num_frames` repeats frames.
  min_frames: int = 0
  # keep | quarantine a video of which fewer frames decode than its container declares.
  partial: Literal["keep", "quarantine"] = "keep"

  def validate(self) -> None:
    if self.num_frames < 1:
      raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
    if self.sampling not in ("uniform", "fps"):
      raise ValueError(f"sampling must be 'uniform' or 'fps', got {self.sampling!r}")
    if self.fps < 0 or self.min_frames < 0:
      raise ValueError("fps and min_frames must be >= 0")
    if self.partial not in ("keep", "quarantine"):
      raise ValueError(f"partial must be 'keep' or 'quarantine', got {self.partial!r}")

  @property
  def needed(self) -> int:
    return self.min_frames or self.num_frames

  @classmethod
  def from_strings(cls, options: Mapping[str, str] | None) -> "VideoOptions":
    """Options from the ingest component's string parameters (validated)."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(options or {}) - set(hints))
    if unknown:
      raise ValueError(f"unknown video options {unknown}; known: {sorted(hints)}")
    cast = {int: int, float: float}
    result = cls(**{k: cast.get(hints[k], str)(v) for k, v in (options or {}).items()})
    result.validate()
    return result


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(VideoOptions))


@dataclasses.dataclass(frozen=True)
class Clip:
  """Sampled frames (BGR or gray uint8 [T, H, W(, C)]) and what the file held."""
  frames: np.ndarray
  frames_read: int
  frames_declared: int
  fps: float
  note: str = ""


def truncation(data: bytes) -> str | None:
  """Why the container is cut short, or None (AVI/RIFF and MP4/MOV boxes are checked; other
  containers are left to the decoder)."""
  if data[:4] == b"RIFF" and len(data) >= 12:
    declared = struct.unpack("<I", data[4:8])[0] + 8
    if declared > len(data):
      return (f"truncated {data[8:12].decode('latin-1').strip().lower() or 'riff'} file: its "
              f"header declares {declared} bytes, the file has {len(data)}")
    return None
  if data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
    offset = 0
    while offset + 8 <= len(data):
      size, kind = struct.unpack(">I", data[offset:offset + 4])[0], data[offset + 4:offset + 8]
      if size == 1 and offset + 16 <= len(data):
        size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
      elif size == 0:  # runs to the end of the file
        return None
      if size < 8:
        return f"malformed mp4 box {kind!r} of {size} bytes at offset {offset}"
      if offset + size > len(data):
        return (f"truncated mp4 file: box {kind.decode('latin-1')!r} at offset {offset} needs "
                f"{size} bytes, {len(data) - offset} remain")
      offset += size
  return None


def sample_indices(frames_read: int, fps: float, options: VideoOptions) -> list[int] | str:
  """Which of `frames_read` frames to keep, or why the clip is too short."""
  if options.sampling == "fps" and options.fps > 0:
    step = (fps or options.fps) / options.fps
    indices = [int(round(k * step)) for k in range(options.num_frames)]
    if indices[-1] >= frames_read:
      return (f"too short: {options.num_frames} frames at {options.fps:g} fps need "
              f"{indices[-1] + 1} frames, {frames_read} decode")
    return indices
  if frames_read < options.needed:
    return f"too short: {frames_read} frames decode, at least {options.needed} needed"
  return [int(round(i)) for i in np.linspace(0, frames_read - 1, options.num_frames)]


def _open(path: str) -> cv2.VideoCapture | None:
  capture = cv2.VideoCapture(path)
  return capture if capture.isOpened() else None


def read_clip(path: str, options: VideoOptions, channels: int = 3,
              max_pixels: int = 40_000_000) -> Clip | str:
  """Samples `options.num_frames` frames of the video at `path` (gray for `channels` 1, else BGR),
  or returns why the video cannot be used. Two passes: one counts the frames that decode
  (`grab`), the other keeps the sampled ones, so a long video is never held in memory."""
  capture = _open(path)
  if capture is None:
    return "unreadable video: OpenCV cannot open it (unknown container or codec)"
  declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
  fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
  width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(
      capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
  if width * height > max_pixels:
    capture.release()
    return f"video frames are {width}x{height} = {width * height} pixels, over max_pixels={max_pixels}"
  frames_read = 0
  while capture.grab():
    frames_read += 1
  capture.release()
  if frames_read == 0:
    return f"zero frames decode (the container declares {declared})"
  indices = sample_indices(frames_read, fps, options)
  if isinstance(indices, str):
    return indices
  note = ""
  if declared and frames_read < declared:
    note = f"partial: read {frames_read} of {declared} declared frames"
    if options.partial == "quarantine":
      return f"{note} (partial: quarantine)"
  wanted = set(indices)
  kept: dict[int, np.ndarray] = {}
  capture = _open(path)
  index = 0
  while capture is not None and index <= max(indices) and capture.grab():
    if index in wanted:
      ok, frame = capture.retrieve()
      if not ok or frame is None:
        break
      kept[index] = frame
    index += 1
  if capture is not None:
    capture.release()
  if len(kept) < len(wanted):
    return f"unstable decode: frame {index} decoded in the first pass but not the second"
  frames = [_to_channels(kept[i], channels) for i in indices]
  return Clip(np.stack(frames), frames_read, declared, fps, note)


def _to_channels(frame: np.ndarray, channels: int) -> np.ndarray:
  if frame.ndim == 2:
    return frame if channels == 1 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
  return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if channels == 1 else frame[..., :3]


def read_clip_bytes(data: bytes, name: str, options: VideoOptions, channels: int = 3,
                    max_pixels: int = 40_000_000) -> Clip | str:
  """`read_clip` on a file's bytes (from any Beam filesystem): checked for truncation, then
  decoded from a temporary file (OpenCV reads videos from paths only)."""
  if not data:
    return "empty file (0 bytes)"
  cut = truncation(data)
  if cut:
    return cut
  suffix = os.path.splitext(name)[1] or ".video"
  with tempfile.NamedTemporaryFile(suffix=suffix) as f:
    f.write(data)
    f.flush()
    return read_clip(f.name, options, channels, max_pixels)


def encode_png(frame: np.ndarray) -> bytes:
  ok, buf = cv2.imencode(".png", frame)
  if not ok:
    raise ValueError("cannot encode a frame as PNG")
  return buf.tobytes()


def clip_features(clip: Clip) -> tuple[bytes, dict]:
  """(the poster frame's PNG, the extra features `VIDEO_EXTRA_FEATURES`) of a sampled clip."""
  encoded = [encode_png(f) for f in clip.frames]
  return encoded[len(encoded) // 2], {
      "frames": encoded, "frames_read": int(clip.frames_read),
      "frames_declared": int(clip.frames_declared), "fps": float(clip.fps)}
