"""The Keras bundle a Trainer writes beside its SavedModel: the input of the edge export.

Layout (inside a `Model` artifact): `{uri}/Format-Keras/model.keras` (the bare Keras model on
preprocessed inputs), `labels.txt` (class names in id order), `preprocessing.json` (how an edge
runtime prepares an input), plus any task files (e.g. `verification.json`).
"""

from __future__ import annotations

import json
import os

KERAS_DIR = "Format-Keras"
# In the Trainer's `ModelRun` folder (beside the TensorBoard logs): {metric: [value per epoch]}.
HISTORY_FILE = "history.json"
EPOCH_SECONDS = "seconds"  # history.json: each epoch's wall time, not a metric
KERAS_FILE = "model.keras"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"


def keras_dir(model_uri: str) -> str:
  """The Keras bundle folder of a `Model` artifact."""
  return os.path.join(model_uri, KERAS_DIR)


def write(model, class_names: list[str], preprocessing: dict, out_dir: str) -> None:
  """Saves the bare Keras model with its class names and input preprocessing (any filesystem).

  Args:
    preprocessing: at least height, width, channels, scale and offset (input = pixel*scale+offset).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.common import artifact_io  # pylint: disable=g-import-not-at-top
  tf.io.gfile.makedirs(out_dir)
  with artifact_io.local_output_dir(out_dir) as local:
    model.save(os.path.join(local, KERAS_FILE))
    with open(os.path.join(local, LABELS_FILE), "w") as f:
      f.write("\n".join(class_names) + "\n")
    with open(os.path.join(local, PREPROCESSING_FILE), "w") as f:
      json.dump(preprocessing, f, indent=1)


def read_labels(bundle_dir: str) -> list[str]:
  """The class names of a bundle ([] when it has none)."""
  from components.common import artifact_io  # pylint: disable=g-import-not-at-top
  data = artifact_io.read_bytes(os.path.join(bundle_dir, LABELS_FILE))
  return [line for line in (data or b"").decode().splitlines() if line]
