"""The similarity-learning (verification) task: what generic components and the CLI ask of it."""

from components.common import contract
from components.common import edge_quality
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.similarity import config


TASK = tasks.register(Task(
    name="similarity",
    module=__name__,
    summary="similarity learning: Siamese contrastive / triplet verification, ROC AUC gate",
    config=config.SimilarityConfig,
    load_config=config.load,
    pipeline="pipelines.similarity.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.similarity.model.run_fn",
    trainer_sections=("image", "train"),
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=ServingContract(outputs=("embedding",), compare="embedding",
                            describe=contract.describe_vector("embedding")),
    # The verification threshold travels with the edge models.
    edge=EdgeContract(quality=edge_quality.embeddings, quality_metric="precision_at_{k}",
                      agreement_metric="recall_at_{k}_vs_keras",
                      extra_files=("verification.json",)),
    edge_params=lambda cfg: {"k": 10.0},
    evaluation=Evaluation(node="VerificationEvaluator",
                          component="components.embedding_eval.component.VerificationEvaluator"),
))
