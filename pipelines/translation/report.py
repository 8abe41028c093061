"""The translation task's report section: eval images as (condition, translation, true image)
triplets through the pushed model's signatures (loss curves: the shared Training section)."""

from __future__ import annotations

import numpy as np

from components.run_report import report
from pipelines.generative.report import tile_images


def translations(inputs: report.SectionInputs, count: int = 8,
                 tile: int = 48) -> report.Section | None:
  """Per eval image (column): its condition (`condition` signature), the translation of that
  condition (`serving_default` on the condition's PNG, as a client would send it) and the
  image."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  examples = inputs.eval_examples[:count]
  if not examples or not inputs.serving_model_dir:
    return None
  loaded = tf.saved_model.load(inputs.serving_model_dir)
  images = tf.constant([e["image"] for e in examples])
  condition = loaded.signatures["condition"](image_bytes=images)
  translated = loaded.signatures["serving_default"](image_bytes=condition["png"])["image"]
  _, height, width, channels = translated.shape
  real = [tf.image.resize(tf.io.decode_image(e["image"], channels=channels,
                                             expand_animations=False), [height, width]) / 255.0
          for e in examples]
  stack = np.concatenate([condition["condition"].numpy(), translated.numpy(),
                          np.stack([r.numpy() for r in real])])
  return report.Section(
      "Translations",
      text=("Eval images, one per column. Top: the condition made from the image; middle: the "
            "served translation of that condition (its PNG sent to serving_default); bottom: "
            "the true image."),
      image=report.png_data_uri(tile_images(stack, 3, tile)))
