"""cvpipe task pipelines. tf.keras must be Keras 2 (tf-keras) for TFX 1.16, TFT and TFMA."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
