"""cvpipe task pipelines. Importing the package sets TensorFlow's environment, so import it before
TensorFlow loads: tf.keras must be Keras 2 (tf-keras) for TFX 1.16, TFT and TFMA, and TF's oneDNN
kernels are on.

oneDNN: TF 2.16 leaves them off on x86 CPUs without AVX-512 (this machine's AMD EPYC). Measured
here, side by side: the 1k classification run's Trainer 100.5 s -> 63.1 s (command to report 159 s
-> 114 s), a detection train step 377 -> 255 ms, the U-Net unchanged. Results differ from the
Eigen kernels by floating-point rounding only. `TF_ENABLE_ONEDNN_OPTS=0` turns them off.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
