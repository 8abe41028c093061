"""EdgeExport: TFLite (float32, float16, dynamic-range, int8) and ONNX models, each measured.

Output `edge_model` (standard `Model`): `{uri}/model_{variant}.tflite`, `{uri}/model.onnx`,
`{uri}/labels.txt`, `{uri}/preprocessing.json` (input size and normalization), `{uri}/metrics.json`
(quality of each model on the eval split and agreement with Keras), `{uri}/verification.json`
(similarity models: the threshold), `{uri}/index/` (retrieval bundles: the Annoy index and its id
table) and an `EDGE_BLESSED` or `EDGE_NOT_BLESSED` marker. Custom property `edge_blessed` (1/0).
"""


import json
import os
from absl import logging
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import artifact_io
from components.edge_export import export
from components.embedding_index import bundle


@tfx.dsl.components.component
def EdgeExport(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    transformed_examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    edge_model: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
    image_key: tfx.dsl.components.Parameter[str] = "image_xf",
    label_key: tfx.dsl.components.Parameter[str] = "label_xf",
    int8_max_quality_drop: tfx.dsl.components.Parameter[float] = 0.01,
    kind: tfx.dsl.components.Parameter[str] = "classifier",
    k: tfx.dsl.components.Parameter[int] = 10,
    representative_examples: tfx.dsl.components.Parameter[int] = 200,
    onnx_opset: tfx.dsl.components.Parameter[int] = 15,
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Converts the trained Keras model for edge runtimes and blesses it only if int8 holds up.

  `code_version` only keys TFX's cache to the code that runs here.
  """
  del code_version
  keras_uri = os.path.join(model.uri, export.KERAS_DIR)
  with artifact_io.local_input_dir(keras_uri) as keras_dir, \
      artifact_io.local_output_dir(edge_model.uri) as out_dir:
    with open(os.path.join(keras_dir, export.PREPROCESSING_FILE)) as f:
      prep = json.load(f)
    images, labels = export.load_transformed_examples(
        os.path.join(transformed_examples.uri, "Split-eval", "*"), image_key, label_key,
        (prep["height"], prep["width"], prep["channels"]))
    result = export.export_edge(
        keras_dir, images, labels, out_dir,
        int8_max_quality_drop=int8_max_quality_drop,
        representative_examples=representative_examples, onnx_opset=onnx_opset, kind=kind, k=k,
        log=logging.info)
    index_dir = bundle.index_dir(path_utils.serving_model_path(model.uri))
    if artifact_io.exists(index_dir):  # a retrieval bundle: the index travels with the models
      artifact_io.copy_tree(index_dir, os.path.join(out_dir, export.INDEX_DIR))
  edge_model.set_int_custom_property("edge_blessed", int(result["edge_blessed"]))
  quality = result["quality_metric"]
  for name, metrics in result["models"].items():
    edge_model.set_float_custom_property(f"{name}_{quality}", metrics[quality])
