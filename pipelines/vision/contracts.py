"""Contracts shared by the embedding tasks (retrieval, similarity): what their served models
answer and how their edge models are scored. Light: task modules import it at registration."""

from components.common import contract
from components.common import edge_quality

# serving_default(image_bytes) -> embedding [N, D], compared by value with serving_examples.
EMBEDDING_SERVING = contract.ServingContract(outputs=("embedding",), compare="embedding",
                                             describe=contract.describe_vector("embedding"))


def embedding_edge(**extra) -> contract.EdgeContract:
  """Leave-one-out precision@k on the eval split; `extra` names what travels with the models."""
  return contract.EdgeContract(quality=edge_quality.embeddings, quality_metric="precision_at_{k}",
                               agreement_metric="recall_at_{k}_vs_keras", **extra)
