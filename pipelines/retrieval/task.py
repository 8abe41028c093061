"""The content-based image retrieval task: what generic components and the CLI ask of it."""

from components.common import contract
from components.common import edge_quality
from components.common.contract import EdgeContract
from components.common.contract import Evaluation
from components.common.contract import ServingContract
from components.common.contract import Task
from pipelines import datasets
from pipelines import tasks
from pipelines.retrieval import config


TASK = tasks.register(Task(
    name="retrieval",
    module=__name__,
    summary="content-based image retrieval: embeddings + Annoy index, recall/mAP@k gate",
    config=config.RetrievalConfig,
    load_config=config.load,
    pipeline="pipelines.retrieval.pipeline.create_pipeline",
    preprocessing_fn="pipelines.vision.transform.preprocessing_fn",
    run_fn="pipelines.retrieval.model.run_fn",
    trainer_sections=("image", "model"),
    readers=("class_folders", "csv_manifest"),
    default_data=datasets.write_digits,
    serving=ServingContract(outputs=("embedding",), compare="embedding",
                            describe=contract.describe_vector("embedding")),
    # The index travels with the edge models; quality: leave-one-out precision@k on eval.
    edge=EdgeContract(quality=edge_quality.embeddings, quality_metric="precision_at_{k}",
                      agreement_metric="recall_at_{k}_vs_keras",
                      extra_dirs={"assets.extra/index": "index"}),
    edge_params=lambda cfg: {"k": float(cfg.evaluation.k)},
    evaluation=Evaluation(node="RetrievalEvaluator",
                          component="components.embedding_eval.component.RetrievalEvaluator"),
))
