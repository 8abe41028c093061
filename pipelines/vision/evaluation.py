"""TFMA evaluation shared by classifiers (images and videos): the accuracy gate."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from pipelines.vision import transform as image_transform
from pipelines.vision.config import AccuracyGateConfig


def accuracy_eval_config(gate_config: AccuracyGateConfig) -> tfma.EvalConfig:
  """Accuracy lower bound and change threshold on the overall slice; metrics per class. The
  model's `serving_examples` signature gives `scores`; `transform_features` gives the label."""
  gate = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(
          lower_bound={"value": gate_config.accuracy_lower_bound}),
      change_threshold=tfma.GenericChangeThreshold(
          direction=tfma.MetricDirection.HIGHER_IS_BETTER,
          absolute={"value": -gate_config.max_accuracy_drop - 1e-9}))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name="serving_examples",
          label_key=image_transform.xf(image_transform.LABEL_KEY),
          prediction_key="scores", preprocessing_function_names=["transform_features"])],
      # Overall, and one slice per true class (its accuracy there is the class's recall).
      slicing_specs=[tfma.SlicingSpec(),
                     tfma.SlicingSpec(feature_keys=[image_transform.LABEL_KEY])],
      metrics_specs=[tfma.MetricsSpec(
          metrics=[tfma.MetricConfig(
                       class_name="SparseCategoricalAccuracy",
                       # The gate applies to the overall slice only, not to each class.
                       per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                           slicing_specs=[tfma.SlicingSpec()], threshold=gate)]),
                   tfma.MetricConfig(class_name="ExampleCount"),
                   tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")])])
