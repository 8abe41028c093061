"""RunReport: one self-contained HTML report per run, with the task's own sections.

Output `report` (`RunReportArtifact`): `{uri}/report.html`.
"""

import os

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common import artifact_io
from components.common import contract
from components.common import keras_bundle
from components.common import outcome
from components.edge_export import export
from components.image_ingest import ingest
from components.run_report import report as report_lib
from components.serving_check import check


class RunReportArtifact(artifact.Artifact):
  """An HTML run report. Layout: `{uri}/report.html`."""
  TYPE_NAME = "cvpipe.RunReport"


@component
def RunReport(
    examples: InputArtifact[standard_artifacts.Examples],
    model: InputArtifact[standard_artifacts.Model],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    infra_blessing: InputArtifact[standard_artifacts.InfraBlessing],
    edge_model: InputArtifact[standard_artifacts.Model],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    report: OutputArtifact[RunReportArtifact],
    task: Parameter[str],
    title: Parameter[str] = "cvpipe run",
    pipeline_name: Parameter[str] = "",
    metadata_path: Parameter[str] = "",
    code_version: Parameter[str] = "",
) -> None:
  """Writes the verdict, gate, metrics, figures, the task's sections, training curves, edge
  models, data and quarantine, time per component (local runs, from `metadata_path`) and
  artifact paths. `task` is the registered task's dotted path; `code_version` only keys TFX's
  cache to the code that runs here."""
  del code_version
  the_task = contract.load_task(task)
  class_names = keras_bundle.read_labels(keras_bundle.keras_dir(model.uri))
  pushed = bool(pushed_model.get_int_custom_property("pushed"))
  pushed_to = pushed_model.get_string_custom_property("pushed_destination") if pushed else None
  result = outcome.read(evaluation.uri) or outcome.new("Evaluation", {}, {}, [])
  figures = []
  for fig in result.get("figures", []):
    png = artifact_io.read_bytes(os.path.join(evaluation.uri, fig["file"]))
    if png:
      figures.append((fig, png))
  inputs = report_lib.SectionInputs(
      evaluation=result, class_names=class_names,
      serving_model_dir=path_utils.serving_model_path(model.uri),
      eval_examples=[e for _, e in ingest.read_examples(examples.uri, "eval", limit=512)])
  sections = [s for s in (contract.load_object(path)(inputs) for path in the_task.report_sections)
              if s is not None]
  edge_metrics = artifact_io.read_json(os.path.join(edge_model.uri, export.METRICS_FILE))
  edge_files = {f"edge: {f}": os.path.join(edge_model.uri, f)
                for m in (edge_metrics or {}).get("models", {}).values()
                for f in m.get("files", [m.get("file")])}
  html_text = report_lib.render(
      title=title, task=the_task.name, evaluation=result, figures=figures, sections=sections,
      blessed=bool(blessing.get_int_custom_property("blessed")),
      serving_check=artifact_io.read_json(os.path.join(infra_blessing.uri,
                                                      check.REPORT_FILE)) or {},
      ingest_summary=artifact_io.read_json(os.path.join(examples.uri, ingest.COUNTS_FILE)) or {},
      quarantine=ingest.read_quarantine(examples.uri),
      edge_metrics=edge_metrics,
      history=artifact_io.read_json(os.path.join(model_run.uri, keras_bundle.HISTORY_FILE)),
      tensorboard=model_run.uri,
      timings=report_lib.component_times(metadata_path, pipeline_name),
      artifacts={"examples": examples.uri, "trained model": model.uri,
                 "training logs": model_run.uri, "evaluation": evaluation.uri,
                 "edge models": edge_model.uri,
                 **({"serving model": pushed_to} if pushed_to else {}), **edge_files},
      pushed_to=pushed_to)
  report_lib.write_report(report.uri, html_text)
