"""The `cvpipe` command.

  cvpipe run TASK [--data DIR|manifest.csv] [--config FILE.yaml] [--output DIR]
  cvpipe compile TASK --target kubeflow [--config FILE.yaml] [--data gs://...]
  cvpipe submit TASK --target vertex --project P --region R [--service-account SA]
  cvpipe predict --model SERVING_DIR [--task TASK] IMAGE...
  cvpipe query --index SERVING_DIR [-k 10] [--html FILE] IMAGE...
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

# tf.keras must be Keras 2 (tf-keras) for TFX 1.16, TFT and TFMA; set before TensorFlow loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# google-api-core warns on every import that Python 3.11 support ends in 2027: not actionable here.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)


def _parser() -> argparse.ArgumentParser:
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  task_lines = "\n".join(f"  {t.name:15s} {t.summary}" for t in tasks.all_tasks())
  parser = argparse.ArgumentParser(prog="cvpipe", description=f"{__doc__}\nTasks:\n{task_lines}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)

  run = sub.add_parser("run", help="run a task pipeline locally (Beam DirectRunner)")
  run.add_argument("task", choices=tasks.names())
  run.add_argument("--data", help="folder with one sub-folder per class, or a CSV manifest "
                   "(path,label[,split]); local or gs://. Default: the embedded digits")
  run.add_argument("--config", help="YAML overrides (unknown keys are an error)")
  run.add_argument("--output", default="cvpipe-output",
                   help="folder for pipeline root, metadata, serving models, logs "
                   "(default: ./cvpipe-output)")
  run.add_argument("--verbose", action="store_true", help="print INFO logs to the console")
  run.add_argument("--publish", metavar="GS_URI",
                   help="after the run, upload the report and edge models to gs://bucket/prefix")

  comp = sub.add_parser("compile", help="compile a task pipeline for an orchestrator")
  comp.add_argument("task", choices=tasks.names())
  comp.add_argument("--target", choices=["kubeflow"], default="kubeflow",
                    help="kubeflow: Kubeflow Pipelines V2 / Vertex AI pipeline (YAML)")
  comp.add_argument("--config", help="YAML overrides; `infra.kubeflow` sets image, "
                    "pipeline_root, serving_dir and Dataflow beam_pipeline_args")
  comp.add_argument("--data", help="data source the compiled pipeline reads (e.g. gs://...)")
  comp.add_argument("--output", help="pipeline file (default: <pipeline name>.yaml, a KFP "
                    "PipelineSpec; .json: TFX's deprecated PipelineJob JSON)")

  subm = sub.add_parser("submit", help="compile and submit a task pipeline to Vertex AI")
  sched = sub.add_parser("schedule", help="compile a task pipeline and schedule it on Vertex AI")
  for p in (subm, sched):
    p.add_argument("task", choices=tasks.names())
    p.add_argument("--project", required=True, help="GCP project id")
    p.add_argument("--region", required=True, help="Vertex AI region, e.g. europe-west4")
    p.add_argument("--config", help="YAML overrides (infra.kubeflow: image, pipeline_root, ...)")
    p.add_argument("--data", help="data source the pipeline reads (gs://...): the default of its "
                   "runtime parameter `data`")
    p.add_argument("--service-account", help="service account the job runs as "
                   "(terraform/gcp output pipelines_service_account)")
    p.add_argument("--registry", metavar="URL", help="first upload the pipeline YAML to this "
                   "Artifact Registry KFP repository (https://REGION-kfp.pkg.dev/PROJECT/REPO: "
                   "terraform/gcp output pipeline_template_registry) and run it from there")
    p.add_argument("--tag", action="append", default=[], help="registry tag (repeatable; "
                   "default: latest)")
  subm.add_argument("--target", choices=["vertex"], default="vertex")
  subm.add_argument("--no-cache", action="store_true", help="disable Vertex AI step caching")
  sched.add_argument("--cron", required=True, help='when to run, e.g. "TZ=Europe/Berlin 0 3 * * 1"')
  sched.add_argument("--run-data", metavar="GS_URI", help="the `data` each scheduled run reads "
                     "(default: --data)")
  sched.add_argument("--max-concurrent-runs", type=int, default=1)

  pred = sub.add_parser("predict", help="answer a TF Serving REST predict request locally")
  pred.add_argument("--model", required=True,
                    help="a pushed model: <serving>/<model> (latest version) or a version dir")
  pred.add_argument("--task", choices=tasks.names(),
                    help="the model's task (default: recorded in the model at training)")
  pred.add_argument("images", nargs="+")

  query = sub.add_parser("query", help="find the nearest indexed images with a pushed "
                         "retrieval model")
  query.add_argument("--index", required=True, metavar="MODEL_DIR",
                     help="a pushed retrieval model: <serving>/<model> (latest version) or a "
                     "version dir; its index is in assets.extra/index")
  query.add_argument("-k", type=int, default=10, help="results per query (default 10)")
  query.add_argument("--search-k", type=int, default=None,
                     help="Annoy nodes inspected per query (default: the index's setting; "
                     "0: 10 * n_trees * k, -1: n_trees * k)")
  query.add_argument("--html", metavar="FILE", help="also write an HTML grid of the results")
  query.add_argument("images", nargs="+")

  serve = sub.add_parser("serving-config", help="TF Serving's models.config for every task "
                         "(stdout), or a GKE overlay's files (--overlay)")
  serve.add_argument("--base-path", required=True, help="the Pusher's serving_dir: /models in "
                     "k8s/base, gs://BUCKET/serving on GKE (terraform/gcp output artifacts_bucket)")
  serve.add_argument("--overlay", metavar="DIR", help="write models.config and "
                     "serviceaccount.yaml into this kustomize overlay (k8s/overlays/prod)")
  serve.add_argument("--serving-account", help="with --overlay: the GCP service account TF "
                     "Serving reads models as (terraform/gcp output serving_service_account)")
  return parser


def _serving_config(args) -> int:
  from pipelines import serving_config  # pylint: disable=g-import-not-at-top
  from pipelines.config_loader import ConfigError  # pylint: disable=g-import-not-at-top
  if not args.overlay:
    sys.stdout.write(serving_config.models_config(args.base_path))
    return 0
  if not args.serving_account:
    raise ConfigError("--overlay needs --serving-account (terraform/gcp output "
                      "serving_service_account)")
  try:
    written = serving_config.write_overlay(args.overlay, args.base_path, args.serving_account)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  for path in written:
    print(f"wrote {path}")
  return 0


def _run(args) -> int:
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  result = runners.run_task(args.task, args.output, data=args.data, config_path=args.config,
                            verbose=args.verbose, quiet_console=True)
  print_outcome(tasks.get(args.task), result)
  if args.publish:
    for uri in runners.publish_outputs(result, args.publish):
      print(f"published:      {uri}")
  if not args.verbose:
    # TensorFlow objects collected at interpreter exit print "Exception ignored in ...
    # AtomicFunction.__del__" tracebacks: noise for the log, not the console.
    sys.stdout.flush()
    with open(result.log_file, "a") as log:
      os.dup2(log.fileno(), 2)
  return 0


def print_outcome(task, result) -> None:
  """Where the run's models and report are, and the task's gate (the same for every task)."""
  from components.common import outcome  # pylint: disable=g-import-not-at-top
  pushed = result.output_properties("Pusher", "pushed_model")
  evaluator = task.evaluation.node
  blessed = bool(result.output_properties(evaluator, "blessing").get("blessed"))
  edge = result.output_properties("EdgeExport", "edge_model")
  print(f"\nfinished in {result.wall_seconds:.0f}s")
  examples = result.output_properties("ImageIngest", "examples")
  if examples:
    print(f"data:           {examples.get('num_train', 0)} train, "
          f"{examples.get('num_eval', 0)} eval examples, "
          f"{examples.get('num_quarantined', 0)} files quarantined (reasons in the report)")
  if pushed.get("pushed"):
    print(f"serving model:  {pushed['pushed_destination']}  (TF Serving version "
          f"{pushed.get('pushed_version')})")
  else:
    infra = result.output_properties("ServingCheck", "blessing")
    why = (f"the {evaluator} did not bless it" if not blessed else
           "the serving check failed" if not infra.get("blessed") else "see the log")
    print(f"serving model:  NOT pushed ({why}); the candidate is in "
          f"{result.output_uri('Trainer', 'model')}")
  evaluation = result.output_uri(evaluator, "evaluation")
  for line in gate_lines(outcome.read(evaluation) if evaluation else None):
    print(f"gate:           {line}")
  edge_uri = result.output_uri("EdgeExport", "edge_model")
  if edge_uri:
    files = sorted(f for f in os.listdir(edge_uri) if f.endswith((".tflite", ".onnx")))
    status = ("blessed for edge" if edge.get("edge_blessed") and blessed else
              "NOT blessed for edge: the serving model was not blessed" if not blessed else
              "NOT blessed for edge")
    print(f"edge models:    {edge_uri}  ({status})")
    for f in files:
      print(f"                  {f}")
  report = result.output_uri("RunReport", "report")
  if report:
    print(f"report:         {os.path.join(report, 'report.html')}")


def gate_lines(result: dict | None) -> list[str]:
  """One line per gated metric of an evaluation outcome, with its value and bounds."""
  if not result:
    return []
  lines = []
  for name, t in sorted(result["thresholds"].items()):
    value = "n/a" if t.get("value") is None else f"{t['value']:.4f}"
    bounds = []
    if "lower_bound" in t:
      bounds.append(f"lower bound {t['lower_bound']:g}")
    if "upper_bound" in t:
      bounds.append(f"upper bound {t['upper_bound']:g}")
    if "max_drop" in t and t.get("baseline") is not None:
      bounds.append(f"at most {t['max_drop']:g} below the baseline {t['baseline']:.4f}")
    if "max_increase" in t and t.get("baseline") is not None:
      bounds.append(f"at most {t['max_increase']:g} above the baseline {t['baseline']:.4f}")
    lines.append(f"{name} = {value} ({', '.join(bounds) or 'no bound'}: "
                 f"{'ok' if t['ok'] else 'FAILED'})")
  return lines


def _compile(args) -> int:
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  out = runners.compile_task(args.task, data=args.data, config_path=args.config,
                             output_file=args.output)
  print(f"wrote {out}")
  return 0


def _template(args, tmp: str) -> str:
  """Compiles the task's pipeline YAML into `tmp`; with --registry, uploads it and returns its
  registry URI instead."""
  from pipelines import cloud  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  template = runners.compile_task(args.task, data=args.data, config_path=args.config,
                                  output_file=os.path.join(tmp, "pipeline.yaml"))
  if not args.registry:
    return template
  uri = cloud.upload_template(template, args.registry, args.tag or ["latest"],
                              description=f"cvpipe {args.task}")
  print(f"uploaded {uri}")
  return uri


def _on_vertex(args, launch, **options) -> str:
  """`launch(template, ...)` (submit or schedule) with the task's compiled template and the
  settings both take from the arguments and `infra.kubeflow`; returns what `launch` returns."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  run_cfg = tasks.get(args.task).load_config(args.config, None)
  with tempfile.TemporaryDirectory() as tmp:
    return launch(_template(args, tmp), project=args.project, region=args.region,
                  pipeline_root=run_cfg.infra.kubeflow.pipeline_root,
                  display_name=runners.pipeline_name(args.task, run_cfg.infra),
                  service_account=args.service_account,
                  kms_key_name=run_cfg.infra.kubeflow.kms_key_name, **options)


def _submit(args) -> int:
  from pipelines import cloud  # pylint: disable=g-import-not-at-top
  name = _on_vertex(args, cloud.submit_vertex, enable_caching=not args.no_cache)
  print(f"submitted {name}")
  return 0


def _schedule(args) -> int:
  from pipelines import cloud  # pylint: disable=g-import-not-at-top
  name = _on_vertex(args, cloud.schedule_vertex, cron=args.cron,
                    max_concurrent_runs=args.max_concurrent_runs,
                    parameter_values={"data": args.run_data} if args.run_data else None)
  print(f"scheduled {name} ({args.cron})")
  return 0


class PredictError(ValueError):
  """`cvpipe predict` cannot answer; the message names the file or model."""


def _predict(args) -> int:
  from components.serving_check import rest as serving  # pylint: disable=g-import-not-at-top
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  images = []
  for path in args.images:
    try:
      with open(path, "rb") as f:
        images.append(f.read())
    except OSError as e:
      raise PredictError(f"{path}: cannot read image: {e.strerror or e}") from None
  model_dir = serving.latest_version_dir(args.model)
  name = args.task or serving.read_task(model_dir)
  if not name:
    raise PredictError(f"{model_dir}: the model does not record its task; pass --task")
  if name not in tasks.names():
    raise PredictError(f"{model_dir}: the model's task {name!r} is not one of {tasks.names()}")
  task = tasks.get(name)
  loaded = serving.load(model_dir)
  for path, data in zip(args.images, images):
    row = task.serving.row_from_file(path, data)
    if isinstance(row, str):
      raise PredictError(f"{path}: the {name} model cannot take this file: {row}")
    request = {"signature_name": task.serving.signature,
               "instances": task.serving.instances([row])}
    try:
      prediction = serving.predict(model_dir, request, loaded=loaded)["predictions"][0]
    except serving.RequestError as e:
      raise PredictError(f"{path}: the {name} model cannot answer for this file: {e}") from None
    print(f"{path}: {task.serving.describe(prediction)}")
  return 0


def _query(args) -> int:
  from components.embedding_index import query  # pylint: disable=g-import-not-at-top
  results = query.search(args.index, args.images, k=args.k, search_k=args.search_k)
  for r in results:
    print(f"{r['query']}:")
    for rank, x in enumerate(r["results"], 1):
      print(f"  {rank:3d}. {x['source']}  label={x['label']}  distance={x['distance']:.4f}")
  if args.html:
    print(f"wrote {query.write_html(results, args.html)}")
  return 0


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  # Light imports only: TensorFlow and Beam load inside the command (a run logs their noise).
  from components.common.errors import IngestError  # pylint: disable=g-import-not-at-top
  from components.common.errors import QueryError  # pylint: disable=g-import-not-at-top
  from pipelines.cloud import CloudError  # pylint: disable=g-import-not-at-top
  from pipelines.config_loader import ConfigError  # pylint: disable=g-import-not-at-top
  from pipelines.runners import RunError  # pylint: disable=g-import-not-at-top
  try:
    return {"run": _run, "compile": _compile, "submit": _submit, "predict": _predict,
            "query": _query, "serving-config": _serving_config,
            "schedule": _schedule}[args.command](args)
  except (ConfigError, IngestError, CloudError, QueryError, PredictError, RunError,
          FileNotFoundError) as e:
    print(f"cvpipe: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
