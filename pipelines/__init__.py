"""cvpipe task pipelines. Importing the package sets TensorFlow's environment, so import it before
TensorFlow loads: tf.keras must be Keras 2 (tf-keras) for TFX 1.16, TFT and TFMA, and TF's oneDNN
kernels are on (TF 2.16 leaves them off on x86 CPUs without AVX-512; measured in the README's
Benchmarks section). `TF_ENABLE_ONEDNN_OPTS=0` turns them off.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
