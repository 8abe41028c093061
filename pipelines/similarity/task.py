"""The similarity-learning (verification) task: what generic components and the CLI ask of it."""

from components.common import contract
from components.common.contract import Evaluation
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.similarity import config
from pipelines.vision import contracts

TASK = tasks.register(Task(
    name="similarity",
    module=__name__,
    summary="similarity learning: Siamese contrastive / triplet verification, ROC AUC gate",
    config=config.SimilarityConfig,
    load_config=config.load,
    pipeline="pipelines.similarity.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.similarity.model.run_fn",
    serving_module="pipelines.vision.serving.EmbeddingServingModule",
    trainer_sections=("image", "train"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=contracts.EMBEDDING_SERVING,
    # The verification threshold travels with the edge models.
    edge=contracts.embedding_edge(extra_files=("verification.json",)),
    edge_params=lambda cfg: {"k": 10.0},
    evaluation=Evaluation(node="VerificationEvaluator",
                          component="components.embedding_eval.component.VerificationEvaluator"),
))
