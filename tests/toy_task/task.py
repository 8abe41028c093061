"""The toy task's registration: everything task-specific, in its own folder."""

import numpy as np

from components.common import contract
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from tests.toy_task import config


def brightness_quality(outputs, features, reference) -> dict:
  """Mean absolute error against the true mean pixel value (lower is better)."""
  true = features["image_xf"].mean(axis=(1, 2, 3))
  pred = np.reshape(outputs, [-1])
  return {"mae": float(np.abs(pred - true).mean()),
          "max_abs_diff_vs_keras": float(np.abs(pred - np.reshape(reference, [-1])).max())}


TASK = tasks.register(Task(
    name="toy",
    module=__name__,
    summary="toy brightness regression (tests only)",
    config=config.ToyConfig,
    load_config=config.load,
    pipeline="tests.toy_task.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="tests.toy_task.model.run_fn",
    serving_module="tests.toy_task.model.BrightnessServingModule",
    trainer_sections=("image", "train"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders",),
    default_data=datasets.write_digits,
    serving=ServingContract(outputs=("brightness",), compare="brightness",
                            describe=lambda p: f"brightness {p['brightness']:.3f}"),
    edge=EdgeContract(quality=brightness_quality, quality_metric="mae", higher_is_better=False,
                      agreement_metric="max_abs_diff_vs_keras"),
    evaluation=Evaluation(node="BrightnessEvaluator",
                          component="tests.toy_task.evaluator.BrightnessEvaluator"),
    report_sections=("tests.toy_task.report.brightness_samples",),
))
