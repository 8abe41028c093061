"""Figures of embedding evaluations drawn with OpenCV: query/result grids, pairs, triptychs."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

GOOD = (0, 150, 0)  # BGR
BAD = (0, 0, 210)
GREY = (150, 150, 150)


def to_tile(image: bytes | np.ndarray | None, size: int, border=GREY) -> np.ndarray:
  """A size x size BGR tile with a 2 px border from encoded bytes or a float/uint8 array."""
  tile = np.full((size, size, 3), 235, np.uint8)
  img = None
  if isinstance(image, (bytes, bytearray)):
    img = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
  elif isinstance(image, np.ndarray):
    img = image
    if img.dtype != np.uint8:
      img = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    if img.ndim == 2 or img.shape[-1] == 1:
      img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif img.shape[-1] == 3:
      img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
  if img is not None:
    tile[2:-2, 2:-2] = cv2.resize(img, (size - 4, size - 4), interpolation=cv2.INTER_NEAREST)
  cv2.rectangle(tile, (0, 0), (size - 1, size - 1), border, 2)
  return tile


def caption(width: int, text: str, color=(40, 40, 40), height: int = 16) -> np.ndarray:
  strip = np.full((height, width, 3), 255, np.uint8)
  cv2.putText(strip, text, (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, color, 1, cv2.LINE_AA)
  return strip


def query_grid(queries: Sequence[bytes | np.ndarray | None], query_labels: Sequence[str | None],
               results: Sequence[Sequence[bytes | np.ndarray | None]],
               result_labels: Sequence[Sequence[str]], distances: Sequence[Sequence[float]],
               size: int = 64) -> np.ndarray:
  """One row per query: the query, a gap, then its results (green border: same label as the
  query; grey when the query's label is None)."""
  rows = []
  for q, ql, rs, rls, ds in zip(queries, query_labels, results, result_labels, distances):
    title = "query" if ql is None else f"query {ql}"
    tiles = [np.vstack([to_tile(q, size, (90, 60, 0)), caption(size, title[:14])]),
             np.full((size + 16, 8, 3), 255, np.uint8)]
    for r, rl, d in zip(rs, rls, ds):
      color = GREY if ql is None else GOOD if rl == ql else BAD
      tiles.append(np.vstack([to_tile(r, size, color), caption(size, f"{rl} {d:.2f}"[:14],
                                                               color)]))
    rows.append(np.hstack(tiles))
  width = max(r.shape[1] for r in rows)
  return np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                    for r in rows])


def pair_grid(pairs: Sequence[tuple[np.ndarray, np.ndarray]], same: Sequence[bool],
              predicted_same: Sequence[bool], distances: Sequence[float], size: int = 64,
              columns: int = 4) -> np.ndarray:
  """Image pairs side by side, captioned with distance and truth (red: wrongly decided)."""
  cells = []
  for (a, b), s, p, d in zip(pairs, same, predicted_same, distances):
    color = GOOD if s == p else BAD
    top = np.hstack([to_tile(a, size, color), to_tile(b, size, color)])
    cells.append(np.vstack([top, caption(2 * size, f"{'same' if s else 'diff'} d={d:.2f}",
                                         color)]))
  while len(cells) % columns:
    cells.append(np.full_like(cells[0], 255))
  rows = [np.hstack([np.pad(c, ((0, 4), (0, 6), (0, 0)), constant_values=255)
                     for c in cells[i:i + columns]]) for i in range(0, len(cells), columns)]
  return np.vstack(rows)


def triptychs(columns: Sequence[Sequence[np.ndarray]], titles: Sequence[str],
              size: int = 64) -> np.ndarray:
  """Rows of [columns[0][i] | columns[1][i] | ...] with a title row (e.g. noisy|denoised|clean)."""
  header = np.hstack([caption(size, t) for t in titles])
  rows = [np.hstack([to_tile(col[i], size) for col in columns]) for i in range(len(columns[0]))]
  return np.vstack([header, *rows])


def write_png(path: str, image: np.ndarray) -> None:
  if not cv2.imwrite(path, image):
    raise OSError(f"cannot write {path}")
