"""The image-to-image translation task (pix2pix: edges -> image, denoising): what generic
components and the CLI ask of it.

A mode of the generative family with its own serving contract (image bytes in, not a class and
a seed), hence its own task: it shares the generative task's judge classifier, FID/KID and GAN
training pattern.
"""

from __future__ import annotations

from typing import Sequence

from components.common import contract
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.generative.task import describe_image
from pipelines.translation import config
from pipelines.translation import edge


def condition_inputs(rows: Sequence[tuple]) -> dict[str, list]:
  """The in-process reference of the serving check: serving_default on the same image bytes."""
  return {contract.IMAGE_BYTES: [r[1]["image"] for r in rows]}


TASK = tasks.register(Task(
    name="translation",
    module=__name__,
    summary="image-to-image translation (pix2pix: edges -> image, or denoising): U-Net + "
            "PatchGAN, PSNR / FID gate",
    config=config.TranslationConfig,
    load_config=config.load,
    pipeline="pipelines.translation.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.translation.model.run_fn",
    serving_module="pipelines.translation.model.TranslationServingModule",
    trainer_sections=("image", "train", "judge"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=ServingContract(outputs=("image", "png"), compare="image",
                            reference_signature="serving_default",
                            reference_inputs=condition_inputs, describe=describe_image),
    edge=EdgeContract(quality=edge.translation_scores, quality_metric="psnr",
                      agreement_metric="pixel_mae_vs_keras", inputs=("image_xf",),
                      edge_model=edge.parts, run_parts=edge.translate, scoring_parts=("judge",)),
    evaluation=Evaluation(node="TranslationEvaluator",
                          component="components.gen_eval.component.TranslationEvaluator"),
    report_sections=("pipelines.translation.report.translations",),
))
