"""Similarity (verification) model: the Trainer's `run_fn` (Transform is the shared
`pipelines.vision.transform.preprocessing_fn`).

A shared-weight embedding network (the Siamese tower) trained with contrastive or semi-hard
triplet loss on P x K batches. The verification threshold is chosen on the eval split (best pair
accuracy) and exported with the model.

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel: serving_default(image_bytes) -> embedding;
                          verify(image_a, image_b) -> distance, same, threshold; serving_examples,
                          transform_features
  {uri}/Format-Keras/     the bare embedding model, labels.txt, preprocessing.json,
                          verification.json (threshold, how it was chosen)
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import tensorflow_transform as tft
import tf_keras as keras

from components.common import artifact_io
from components.common import keras_bundle
from components.embedding_eval import verification
from pipelines import config_loader
from pipelines.similarity.config import SimilarityConfig
from pipelines.vision import distribute
from pipelines.vision import embedding
from components.common import metrics
from components.common import sampling
from pipelines.vision import serving
from pipelines.vision import transform

RUN_FN = "pipelines.similarity.model.run_fn"


def choose_threshold(model: keras.Model, x: np.ndarray, y: np.ndarray, seed: int) -> dict:
  """The distance threshold with the best accuracy on pairs of (x, y)."""
  emb = model.predict(x, batch_size=256, verbose=0)
  i, j, same = sampling.verification_pairs(y, np.random.default_rng(seed))
  if same.all() or not same.any():
    raise ValueError("choosing a threshold needs positive and negative eval pairs: the eval "
                     "split needs 2+ classes with 2+ images each")
  threshold, accuracy = metrics.best_accuracy_threshold(metrics.pair_distances(emb, i, j), same)
  return {"threshold": threshold, "accuracy_on_eval_pairs": accuracy,
          "pairs": int(len(same)), "chosen_on": "eval split, best pair accuracy"}


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the embedding, picks the threshold, exports both."""
  cfg = config_loader.from_dict(SimilarityConfig, fn_args.custom_config["similarity"])
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = transform.class_names(tft_output)
  shape = transform.image_shape(cfg.image)
  x, y = transform.load_arrays(fn_args.train_files, fn_args.data_accessor, tft_output, shape)
  x_val, y_val = transform.load_arrays(fn_args.eval_files, fn_args.data_accessor, tft_output,
                                       shape)
  logging.info("training a %s embedding on %d identities (%d train, %d eval images)",
               cfg.train.loss, len(class_names), len(x), len(x_val))
  model = embedding.embedding_network(cfg.image, cfg.train.embedding_dim)
  embedding.fit_metric(model, x, y, x_val, y_val, cfg.train, fn_args.model_run_dir)
  chosen = choose_threshold(model, x_val, y_val, cfg.train.seed)
  logging.info("verification threshold %.4f (pair accuracy %.4f on eval)", chosen["threshold"],
               chosen["accuracy_on_eval_pairs"])
  serving.EmbeddingServingModule(model, tft_output, threshold=chosen["threshold"]).save(
      fn_args.serving_model_dir, task="similarity")
  keras_dir = os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR)
  keras_bundle.write(model, class_names, transform.preprocessing_metadata(cfg.image),
                                 keras_dir)
  with artifact_io.local_output_dir(keras_dir) as local:
    with open(os.path.join(local, verification.VERIFICATION_FILE), "w") as f:
      json.dump({**chosen, "loss": cfg.train.loss, "margin": cfg.train.margin}, f, indent=1)
