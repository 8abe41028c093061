"""ImageIngest: a Beam ExampleGen for image folders and CSV manifests.

Output `examples` (standard `Examples`): `{uri}/Split-train/`, `{uri}/Split-eval/` (gzipped
TFRecords of tf.Example with image, height, width, channels, label, source), plus
`{uri}/quarantine.jsonl` (one `{"path", "label", "reason"}` per rejected file) and
`{uri}/ingest_counts.json`. Custom properties: `num_train`, `num_eval`, `num_quarantined`.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.image_ingest import ingest


class ImageIngestSpec(ComponentSpec):
  PARAMETERS = {
      "source": ExecutionParameter(type=str),
      "labels": ExecutionParameter(type=List[str]),  # allowed class names ([]: all)
      # The registered reader that lists `source` (`readers.py`).
      "reader": ExecutionParameter(type=str),
      "train_percent": ExecutionParameter(type=int),
      "max_file_bytes": ExecutionParameter(type=int),
      "max_pixels": ExecutionParameter(type=int),
      # The channels Transform decodes to: files are validated with that same decoder.
      "channels": ExecutionParameter(type=int),
      # faces.AlignConfig fields; absent: no face detection.
      "face_align": ExecutionParameter(type=Dict[str, float], optional=True),
      # Keyword options of the reader (e.g. {"unannotated": "quarantine"}); absent: none.
      "reader_options": ExecutionParameter(type=Dict[str, str], optional=True),
      # "file" (hash of the path) or "label" (hash of the class: whole classes held out).
      "split_by": ExecutionParameter(type=str),
      # Fingerprint of the files behind `source`: changed data invalidates TFX's cache.
      "input_fingerprint": ExecutionParameter(type=str),
      # Hash of the ingest code (`components.common.fingerprint`): changed code re-runs it.
      "code_version": ExecutionParameter(type=str),
  }
  INPUTS: dict[str, ChannelParameter] = {}
  OUTPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}


def _json(value):
  """Typed (list/dict) execution properties reach executors as JSON text."""
  return json.loads(value) if isinstance(value, str) and value else value


class ImageIngestExecutor(base_beam_executor.BaseBeamExecutor):

  def Do(self, input_dict: dict[str, list[types.Artifact]],
         output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(output_dict["examples"])
    examples.split_names = artifact_utils.encode_split_names(list(ingest.SPLITS))
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples.set_string_custom_property(example_gen_utils.FINGERPRINT_PROPERTY_NAME,
                                        exec_properties["input_fingerprint"])
    summary = ingest.run_ingest(
        self._make_beam_pipeline(), exec_properties["source"], examples.uri,
        labels=_json(exec_properties["labels"]) or [],
        train_percent=exec_properties["train_percent"],
        max_file_bytes=exec_properties["max_file_bytes"],
        max_pixels=exec_properties["max_pixels"],
        face_align=_json(exec_properties.get("face_align")),
        split_by=exec_properties.get("split_by") or "file",
        reader=exec_properties.get("reader") or "",
        channels=exec_properties.get("channels") or 0,
        reader_options=_json(exec_properties.get("reader_options")) or None)
    examples.set_int_custom_property("num_train", summary["examples"]["train"])
    examples.set_int_custom_property("num_eval", summary["examples"]["eval"])
    examples.set_int_custom_property("num_quarantined", summary["quarantined"])


class ImageIngest(base_beam_component.BaseBeamComponent):
  """Validates images with OpenCV and writes tf.Examples split by path hash; quarantines the rest."""

  SPEC_CLASS = ImageIngestSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(ImageIngestExecutor)

  def __init__(self, source: str, reader: str, labels: tuple[str, ...] = (),
               train_percent: int = 80, max_file_bytes: int = 20 << 20,
               max_pixels: int = 40_000_000, face_align: dict | None = None,
               split_by: str = "file", channels: int = 0, input_fingerprint: str = "",
               code_version: str = "", reader_options: dict | None = None):
    super().__init__(ImageIngestSpec(
        source=source, reader=reader, labels=list(labels), train_percent=train_percent,
        max_file_bytes=max_file_bytes, max_pixels=max_pixels, channels=channels,
        face_align={k: float(v) for k, v in face_align.items()} if face_align else None,
        split_by=split_by, input_fingerprint=input_fingerprint, code_version=code_version,
        reader_options={k: str(v) for k, v in reader_options.items()} if reader_options else None,
        examples=types.Channel(type=standard_artifacts.Examples)))
