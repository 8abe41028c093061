"""Retrieval embedding models: the Trainer's `run_fn` (Transform is the shared
`pipelines.vision.transform.preprocessing_fn`).

Trainer output layout (`Model` artifact):
  {uri}/Format-Serving/   SavedModel: serving_default(image_bytes) -> embedding [N, D] (unit
                          length), serving_examples, transform_features; autoencoders also
                          reconstruct(image_bytes) -> reconstruction
  {uri}/Format-Keras/     the bare embedding model (edge export input), labels.txt,
                          preprocessing.json; autoencoders also autoencoder.keras and
                          autoencoder.json (noise, code and input sizes)
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow_transform as tft
import tf_keras as keras

from components.common import artifact_io
from components.common import keras_bundle
from components.embedding_eval import retrieval as retrieval_eval
from pipelines import config_loader
from pipelines.classification import model as classification_model
from pipelines.classification.config import TrainConfig
from pipelines.retrieval.config import EmbeddingModelConfig
from pipelines.retrieval.config import RetrievalConfig
from pipelines.vision import distribute
from pipelines.vision import embedding
from pipelines.vision import serving
from pipelines.vision import transform

RUN_FN = "pipelines.retrieval.model.run_fn"


def classifier_train_config(m: EmbeddingModelConfig) -> TrainConfig:
  return TrainConfig(model="small_cnn", epochs=m.epochs, batch_size=m.batch_size,
                     learning_rate=m.learning_rate,
                     early_stopping_patience=m.early_stopping_patience,
                     lr_schedule=m.lr_schedule, reduce_lr_patience=m.reduce_lr_patience,
                     dropout=m.dropout, augment=m.augment, seed=m.seed)


def train_embedding(cfg: RetrievalConfig, fn_args, tft_output: tft.TFTransformOutput,
                    num_classes: int) -> tuple[keras.Model, keras.Model | None]:
  """Trains the configured kind; returns (embedding model, autoencoder or None)."""
  m = cfg.model
  log_dir = fn_args.model_run_dir
  shape = transform.image_shape(cfg.image)
  if m.kind == "classifier":
    train_cfg = classifier_train_config(m)
    train_ds = transform.dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                                 m.batch_size, shuffle=True, seed=m.seed, shape=shape)
    eval_ds = transform.dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                                m.batch_size, shuffle=False, seed=m.seed, shape=shape)
    classifier = classification_model.build_classifier(num_classes, cfg.image, train_cfg)
    classification_model.train_classifier(classifier, train_ds, eval_ds, train_cfg,
                                          transform.count_examples(fn_args.train_files), log_dir)
    return embedding.from_classifier(classifier), None
  x, y = transform.load_arrays(fn_args.train_files, fn_args.data_accessor, tft_output, shape)
  x_val, y_val = transform.load_arrays(fn_args.eval_files, fn_args.data_accessor, tft_output,
                                       shape)
  if m.kind == "metric":
    model = embedding.embedding_network(cfg.image, m.metric_learning.embedding_dim)
    embedding.fit_metric(model, x, y, x_val, y_val, m.metric_learning, log_dir)
    return model, None
  ae, encoder = embedding.autoencoder(cfg.image, m.code_size)
  noise = m.noise_stddev if m.kind == "denoising_autoencoder" else 0.0
  embedding.fit_autoencoder(ae, x, x_val, noise, m.epochs, m.batch_size, m.learning_rate,
                            m.lr_schedule, m.early_stopping_patience, m.reduce_lr_patience,
                            m.seed, log_dir)
  return encoder, ae


@distribute.distributed
def run_fn(fn_args) -> None:
  """TFX Trainer entry point: trains the embedding model and exports serving + Keras models."""
  cfg = config_loader.from_dict(RetrievalConfig, fn_args.custom_config["retrieval"])
  keras.utils.set_random_seed(cfg.model.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  class_names = transform.class_names(tft_output)
  logging.info("training a %s embedding on %d classes", cfg.model.kind, len(class_names))
  model, ae = train_embedding(cfg, fn_args, tft_output, len(class_names))
  serving.EmbeddingServingModule(model, tft_output, autoencoder=ae).save(
      fn_args.serving_model_dir, task="retrieval")
  keras_dir = os.path.join(os.path.dirname(fn_args.serving_model_dir), keras_bundle.KERAS_DIR)
  keras_bundle.write(model, class_names, transform.preprocessing_metadata(cfg.image),
                                 keras_dir)
  if ae is not None:
    with artifact_io.local_output_dir(keras_dir) as local:
      ae.save(os.path.join(local, retrieval_eval.AUTOENCODER_FILE))
      info = {"noise_stddev": cfg.model.noise_stddev
              if cfg.model.kind == "denoising_autoencoder" else 0.0,
              "code_size": cfg.model.code_size,
              "input_size": cfg.image.height * cfg.image.width * cfg.image.channels}
      with open(os.path.join(local, retrieval_eval.AUTOENCODER_INFO), "w") as f:
        json.dump(info, f, indent=1)
