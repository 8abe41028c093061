"""Embeddings from a serving SavedModel, as TF Serving would compute them (TFX-free).

The index builder and the evaluators embed raw ingested tf.Examples through the model's
`serving_examples` signature, which applies the same tf.Transform graph as `serving_default` (the
serving check proves the two agree), so the index holds exactly what served queries produce.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

EMBEDDING_OUTPUT = "embedding"


def load(model_dir: str):
  return tf.saved_model.load(model_dir)


def _batched(fn, inputs: Sequence[bytes], output: str, batch_size: int) -> np.ndarray:
  """`fn(string batch)[output]` over `inputs` in batches, concatenated as float32."""
  if not len(inputs):
    raise ValueError("no examples to embed")
  return np.concatenate([fn(tf.constant(list(inputs[i:i + batch_size])))[output].numpy()
                         for i in range(0, len(inputs), batch_size)]).astype(np.float32)


def embed_examples(model, serialized: Sequence[bytes], batch_size: int = 256) -> np.ndarray:
  """Embeddings [N, D] float32 of serialized raw tf.Examples (`model`: a loaded SavedModel)."""
  return _batched(model.signatures["serving_examples"], serialized, EMBEDDING_OUTPUT, batch_size)


def embed_images(model, images: Sequence[bytes], batch_size: int = 256) -> np.ndarray:
  """Embeddings [N, D] of encoded images through `serving_default` (what TF Serving answers)."""
  return _batched(model.signatures["serving_default"], images, EMBEDDING_OUTPUT, batch_size)


def transformed_images(model, serialized: Sequence[bytes], image_key: str = "image_xf",
                       batch_size: int = 256) -> np.ndarray:
  """The model's own preprocessing of raw tf.Examples: images [N, H, W, C] in [0, 1]."""
  return _batched(model.signatures["transform_features"], serialized, image_key, batch_size)
