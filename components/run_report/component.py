"""RunReport: one self-contained HTML report per run.

Output `report` (`RunReportArtifact`): `{uri}/report.html`.
"""

import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import artifact_io
from components.edge_export import export
from components.embedding_eval import outcome
from components.image_ingest import ingest
from components.run_report import report as report_lib


class RunReportArtifact(artifact.Artifact):
  """An HTML run report. Layout: `{uri}/report.html`."""
  TYPE_NAME = "cvpipe.RunReport"


def _read_lines(path: str) -> list[str]:
  if not tf.io.gfile.exists(path):
    return []
  with tf.io.gfile.GFile(path) as f:
    return [line for line in f.read().splitlines() if line]


@tfx.dsl.components.component
def RunReport(
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    evaluation: tfx.dsl.components.InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.InputArtifact[standard_artifacts.ModelBlessing],
    infra_blessing: tfx.dsl.components.InputArtifact[standard_artifacts.InfraBlessing],
    edge_model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    pushed_model: tfx.dsl.components.InputArtifact[standard_artifacts.PushedModel],
    report: tfx.dsl.components.OutputArtifact[RunReportArtifact],
    title: tfx.dsl.components.Parameter[str] = "cvpipe run",
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
  """Writes metrics, confusion matrix, sample predictions, quarantine and artifact paths.

  `code_version` only keys TFX's cache to the code that runs here.
  """
  del code_version
  class_names = _read_lines(os.path.join(model.uri, export.KERAS_DIR, export.LABELS_FILE))
  pushed = bool(pushed_model.get_int_custom_property("pushed"))
  pushed_to = pushed_model.get_string_custom_property("pushed_destination") if pushed else None
  embedding_result = outcome.read(evaluation.uri)
  figures = []
  if embedding_result is None:  # a classifier evaluated by TFMA
    evaluation_data = report_lib.read_evaluation(evaluation.uri)
    samples = report_lib.predict_samples(
        path_utils.serving_model_path(model.uri),
        [e for _, e in ingest.read_examples(examples.uri, "eval", limit=512)])
  else:
    evaluation_data, samples = embedding_result, ()
    for fig in embedding_result.get("figures", []):
      with tf.io.gfile.GFile(os.path.join(evaluation.uri, fig["file"]), "rb") as f:
        figures.append((fig, f.read()))
  edge_metrics = artifact_io.read_json(os.path.join(edge_model.uri, export.METRICS_FILE))
  edge_files = {f"edge: {m['file']}": os.path.join(edge_model.uri, m["file"])
                for m in (edge_metrics or {"models": {}})["models"].values()}
  html_text = report_lib.render(
      title=title,
      evaluation=evaluation_data,
      figures=figures,
      blessed=bool(blessing.get_int_custom_property("blessed")),
      serving_check=artifact_io.read_json(os.path.join(infra_blessing.uri,
                                                      "serving_check.json")) or {},
      class_names=class_names,
      ingest_summary=artifact_io.read_json(os.path.join(examples.uri, ingest.COUNTS_FILE)) or {},
      quarantine=ingest.read_quarantine(examples.uri),
      edge_metrics=edge_metrics,
      samples=samples,
      artifacts={"examples": examples.uri, "trained model": model.uri,
                 "evaluation": evaluation.uri, "edge models": edge_model.uri,
                 **({"serving model": pushed_to} if pushed_to else {}), **edge_files},
      pushed_to=pushed_to)
  report_lib.write_report(report.uri, html_text)
