"""The image-classification task: what generic components and the CLI ask of it."""

from components.common import edge_quality
from components.common import contract
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.classification import config


TASK = tasks.register(Task(
    name="classification",
    module=__name__,
    summary="image classification: small CNN or MobileNetV2, TFMA accuracy gate",
    config=config.ClassificationConfig,
    load_config=config.load,
    pipeline="pipelines.classification.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.classification.model.run_fn",
    serving_module="pipelines.vision.serving.ClassifierServingModule",
    trainer_sections=("image", "train"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=ServingContract(
        outputs=("classes", "scores", "predicted_class", "predicted_score"), compare="scores",
        argmax_agreement=True, describe=contract.describe_class),
    edge=EdgeContract(quality=edge_quality.class_scores, quality_metric="accuracy",
                      agreement_metric="top1_agreement_with_keras"),
    evaluation=Evaluation(node="Evaluator",
                          tfma_config="pipelines.classification.pipeline.eval_config"),
    report_sections=("components.run_report.sections.confusion_matrix",
                     "components.run_report.sections.class_predictions"),
))
