"""EdgeExport: TFLite (float32, float16, dynamic-range, int8) and ONNX models, each measured.

Output `edge_model` (standard `Model`): `{uri}/model_{variant}.tflite`, `{uri}/model.onnx`,
`{uri}/labels.txt`, `{uri}/preprocessing.json` (input size and normalization), `{uri}/metrics.json`
(quality of each model on the eval split and agreement with Keras), the task's extra files and
folders (its edge contract's `extra_files` / `extra_dirs`, e.g. a verification threshold or a
retrieval index) and an `EDGE_BLESSED`, `EDGE_NOT_BLESSED` or `NOT_EXPORTABLE` marker. Custom
property `edge_blessed` (1/0) and `<model>_<quality metric>` per exported model.
"""

import os
from typing import Dict

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import artifact_io
from components.common import contract as contract_lib
from components.common import keras_bundle
from components.edge_export import export


@component
def EdgeExport(
    model: InputArtifact[standard_artifacts.Model],
    transformed_examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    edge_model: OutputArtifact[standard_artifacts.Model],
    task: Parameter[str],
    edge_params: Parameter[Dict[str, float]] = None,
    int8_max_quality_drop: Parameter[float] = 0.01,
    representative_examples: Parameter[int] = 200,
    onnx_opset: Parameter[int] = 15,
    code_version: Parameter[str] = "",
) -> None:
  """Converts the trained Keras model as the task's edge contract says; blesses it only if int8
  holds up. `task` is the dotted path of the registered task; `code_version` only keys TFX's
  cache to the code that runs here."""
  del code_version
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  edge = contract_lib.load_task(task).edge
  with artifact_io.local_input_dir(keras_bundle.keras_dir(model.uri)) as keras_dir, \
      artifact_io.local_output_dir(edge_model.uri) as out_dir:
    features = {}
    if edge.quality is not None:
      spec = tft.TFTransformOutput(transform_graph.uri).transformed_feature_spec()
      features = export.load_transformed_examples(
          os.path.join(transformed_examples.uri, "Split-eval", "*"), spec)
    result = export.export_edge(
        keras_dir, features, out_dir, edge, params=edge_params or {},
        int8_max_quality_drop=int8_max_quality_drop,
        representative_examples=representative_examples, onnx_opset=onnx_opset, log=logging.info)
    serving_dir = path_utils.serving_model_path(model.uri)
    for src, dst in edge.extra_dirs.items():
      if artifact_io.exists(os.path.join(serving_dir, src)):
        artifact_io.copy_tree(os.path.join(serving_dir, src), os.path.join(out_dir, dst))
  edge_model.set_int_custom_property("edge_blessed", int(result["edge_blessed"]))
  quality = result.get("quality_metric")
  for name, metrics in result["models"].items():
    edge_model.set_float_custom_property(f"{name}_{quality}", metrics[quality])
