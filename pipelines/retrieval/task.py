"""The content-based image retrieval task: what generic components and the CLI ask of it."""

from components.common import contract
from components.common.contract import Evaluation
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.retrieval import config
from pipelines.vision import contracts

TASK = tasks.register(Task(
    name="retrieval",
    module=__name__,
    summary="content-based image retrieval: embeddings + Annoy index, recall/mAP@k gate",
    config=config.RetrievalConfig,
    load_config=config.load,
    pipeline="pipelines.retrieval.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.retrieval.model.run_fn",
    serving_module="pipelines.vision.serving.EmbeddingServingModule",
    trainer_sections=("image", "model"),
    features=contract.IMAGE_FEATURES,
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=contracts.EMBEDDING_SERVING,
    # The index travels with the edge models; quality: leave-one-out precision@k on eval.
    edge=contracts.embedding_edge(extra_dirs={"assets.extra/index": "index"}),
    edge_params=lambda cfg: {"k": float(cfg.evaluation.k)},
    evaluation=Evaluation(node="RetrievalEvaluator",
                          component="components.embedding_eval.component.RetrievalEvaluator"),
))
