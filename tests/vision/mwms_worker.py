"""One worker of a two-process MultiWorkerMirroredStrategy cluster on 127.0.0.1 (TF_CONFIG set by
the test): runs the classification task's own build/compile/fit code through the `distributed`
run_fn wrapper, then writes its final weights to OUT/weights-<task>.npz for the test to compare.

  python -m tests.vision.mwms_worker OUT
"""

import logging
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pipelines  # noqa: E402,F401  TensorFlow's environment (Keras 2, oneDNN), before TF loads

import numpy as np  # noqa: E402
from tfx.components.trainer import fn_args_utils  # noqa: E402

from pipelines import config_loader  # noqa: E402
from pipelines.classification import model as classification  # noqa: E402
from pipelines.classification.config import ClassificationConfig  # noqa: E402
from pipelines.vision import distribute  # noqa: E402
from tests.conftest import digit_images  # noqa: E402


@distribute.distributed
def run_fn(fn_args) -> None:
  """What `pipelines.classification.model.run_fn` does, on in-memory digits instead of TFXIO."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  cfg = config_loader.from_dict(ClassificationConfig, fn_args.custom_config["classification"])
  keras.utils.set_random_seed(cfg.train.seed)
  by_class = digit_images(per_class=16)
  x = np.concatenate([np.stack(v) for v in by_class.values()])[..., None].astype(np.float32) / 255
  y = np.repeat(np.arange(len(by_class)), 16)
  train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(
      cfg.train.batch_size)
  model = classification.build_classifier(len(by_class), cfg.image, cfg.train)
  classification.train_classifier(model, train, train, cfg.train, len(x),
                                  log_dir=fn_args.model_run_dir)
  model.save(fn_args.serving_model_dir)
  out = fn_args.custom_config["out"]
  cluster = distribute.Cluster.from_env()
  np.savez(os.path.join(out, f"weights-{cluster.task_type}-{cluster.task_index}.npz"),
           *model.get_weights())
  with open(os.path.join(out, f"export-{cluster.task_type}-{cluster.task_index}.txt"), "w") as f:
    f.write(fn_args.serving_model_dir)


def main(out: str) -> None:
  logging.basicConfig(level=logging.INFO, force=True)
  sections = {"image": {"height": 16, "width": 16, "channels": 1},
              "train": {"epochs": 2, "batch_size": 8, "early_stopping_patience": 0}}
  run_fn(fn_args_utils.FnArgs(
      serving_model_dir=os.path.join(out, "model", "Format-Serving"),
      model_run_dir=os.path.join(out, "model_run"),
      custom_config={"classification": sections, "out": out}))


if __name__ == "__main__":
  main(sys.argv[1])
