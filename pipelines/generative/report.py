"""The generative task's report sections: a sample grid per class and latent interpolations,
both through the pushed model's signatures (the loss curves of both networks are the shared
Training section's: d_loss, g_loss, d_real, d_fake per epoch)."""

from __future__ import annotations

import cv2
import numpy as np

from components.run_report import report

GRID_SEEDS = 8
INTERPOLATION_STEPS = 8


def tile_images(images: np.ndarray, rows: int, tile: int) -> np.ndarray:
  """Images [rows * cols, H, W, C] in [0, 1] -> one uint8 BGR mosaic of rows x cols tiles."""
  cols = len(images) // rows
  tiles = []
  for image in images:
    pixels = np.uint8(np.round(np.clip(image, 0, 1) * 255))
    pixels = cv2.resize(pixels, (tile, tile), interpolation=cv2.INTER_NEAREST)
    pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels[..., ::-1]
    tiles.append(np.pad(pixels, ((1, 1), (1, 1), (0, 0)), constant_values=255))
  return np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1)
                         for r in range(rows)], axis=0)


def _labels(inputs: report.SectionInputs, loaded) -> list[str]:
  """One row per class for conditional models; four unlabelled rows otherwise."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  probe = loaded.signatures["serving_default"](label=tf.constant([inputs.class_names[0]]),
                                               seed=tf.constant([0], tf.int64))
  return list(inputs.class_names) if int(probe["class_id"][0]) >= 0 else [""] * 4


def samples(inputs: report.SectionInputs, tile: int = 40) -> report.Section | None:
  """Per class (row): GRID_SEEDS generated images (seeds 0..7) and one latent interpolation
  between two seeds' latents in INTERPOLATION_STEPS steps."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from pipelines.generative import model  # pylint: disable=g-import-not-at-top
  if not inputs.serving_model_dir or not inputs.class_names:
    return None
  loaded = tf.saved_model.load(inputs.serving_model_dir)
  labels = _labels(inputs, loaded)
  seeds = [s for _ in labels for s in range(GRID_SEEDS)]
  grid = loaded.signatures["serving_default"](
      label=tf.constant([c for c in labels for _ in range(GRID_SEEDS)]),
      seed=tf.constant(seeds, tf.int64))["image"].numpy()
  serve_latent = loaded.signatures["serving_latent"]
  latent_dim = int(serve_latent.structured_input_signature[1]["latent"].shape[-1])
  ends = model.seed_latents(tf.constant([0, 1], tf.int64), latent_dim).numpy()
  weights = np.linspace(0.0, 1.0, INTERPOLATION_STEPS, dtype=np.float32)[:, None]
  path = (1 - weights) * ends[0] + weights * ends[1]
  interpolations = serve_latent(
      latent=tf.constant(np.tile(path, [len(labels), 1])),
      label=tf.constant([c for c in labels for _ in range(INTERPOLATION_STEPS)]))["image"].numpy()
  gap = np.full((len(labels) * (tile + 2), tile // 2, 3), 255, np.uint8)
  mosaic = np.concatenate([tile_images(grid, len(labels), tile), gap,
                           tile_images(interpolations, len(labels), tile)], axis=1)
  rows = [(c or "(unconditional)", ", ".join(str(s) for s in range(GRID_SEEDS)))
          for c in labels]
  return report.Section(
      "Generated samples and latent interpolations",
      text=(f"Left: {GRID_SEEDS} images per class from seeds 0-{GRID_SEEDS - 1} through "
            f"serving_default(label, seed). Right: the latent of seed 0 moved to seed 1's in "
            f"{INTERPOLATION_STEPS} steps (serving_latent), per class: smooth changes mean the "
            f"generator did not memorise single images."),
      image=report.png_data_uri(mosaic), header=("class (row)", "seeds"), rows=rows)
