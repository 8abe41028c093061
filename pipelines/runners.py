"""Runs task pipelines locally (LocalDagRunner on the Beam DirectRunner, SQLite MLMD, cache on)
and compiles them for Kubeflow V2 / Vertex AI (KubeflowV2DagRunner). Runners import pipelines,
never the reverse."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Callable, Iterator

from pipelines.config_loader import ConfigError
from pipelines.infra import InfraConfig
from pipelines.runtime import PipelineRuntime

@dataclasses.dataclass(frozen=True)
class LocalLayout:
  """Where a local run keeps everything, under one output folder."""
  output_dir: str

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output_dir, "pipeline_root")

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output_dir, "metadata.sqlite")

  @property
  def serving_dir(self) -> str:
    return os.path.join(self.output_dir, "serving")

  @property
  def data_dir(self) -> str:
    return os.path.join(self.output_dir, "data")

  @property
  def logs_dir(self) -> str:
    return os.path.join(self.output_dir, "logs")


def pipeline_name(task: str, infra: InfraConfig) -> str:
  return infra.pipeline_name or f"cvpipe-{task}"


def local_runtime(task: str, infra: InfraConfig, layout: LocalLayout, data_source: str,
                  input_fingerprint: str) -> PipelineRuntime:
  return PipelineRuntime(
      pipeline_name=pipeline_name(task, infra),
      pipeline_root=os.path.abspath(layout.pipeline_root),
      serving_dir=os.path.abspath(layout.serving_dir),
      data_source=data_source,
      input_fingerprint=input_fingerprint,
      metadata_path=os.path.abspath(layout.metadata_path),
      beam_pipeline_args=tuple(infra.local_beam_args()),
      enable_cache=infra.enable_cache)


def kubeflow_runtime(task: str, infra: InfraConfig, data_source: str) -> PipelineRuntime:
  kf = infra.kubeflow
  try:
    beam_args = kf.beam_args()
  except ValueError as e:  # checked when compiling: local runs never use these args
    raise ConfigError(f"infra.kubeflow: {e}") from None
  return PipelineRuntime(
      pipeline_name=pipeline_name(task, infra),
      pipeline_root=kf.pipeline_root,
      serving_dir=kf.serving_dir,
      data_source=data_source,
      # The data is not reachable at compile time; Vertex caches ingest by its parameters, so
      # change `source` (e.g. a dated folder) or disable caching when the data changes.
      input_fingerprint="",
      metadata_path=None,
      beam_pipeline_args=beam_args,
      enable_cache=infra.enable_cache,
      vertex_training=(kf.training.custom_config(kf.image, kf.kms_key_name)
                       if kf.training.enabled else {}),
      step_resources=dict(kf.resources),
      data_as_parameter=True,
      vertex_endpoint=kf.endpoint.custom_config() if kf.endpoint.enabled else {})


class RunError(RuntimeError):
  """A local run cannot start or did not finish; the message names the component, file or
  setting at fault and, once the run started, the log."""


LOCK_FILE = ".cvpipe.lock"


@contextlib.contextmanager
def output_lock(output_dir: str) -> Iterator[None]:
  """Holds an exclusive lock on `output_dir` for one run: a second run on the same folder (its
  ML Metadata store and serving directory) refuses instead of corrupting them."""
  try:
    os.makedirs(output_dir, exist_ok=True)
    handle = open(os.path.join(output_dir, LOCK_FILE), "a+")
  except OSError as e:
    raise RunError(f"{output_dir}: cannot write the output folder: {e.strerror or e}") from None
  with handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or "another process"
      raise RunError(f"{output_dir}: another cvpipe run ({holder}) is using this output folder; "
                     "wait for it to finish or pass another --output") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    try:
      yield
    finally:
      handle.truncate(0)
      fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def console_to_log(log_file: str, enabled: bool = True) -> Iterator[Callable[[str], None]]:
  """Sends everything written to stdout and stderr at the file-descriptor level (TensorFlow's
  C++ messages, Keras epoch lines, Beam and subprocess output) to `log_file`; yields a function
  that prints one line on the real console. Disabled (--verbose): both stay on the console."""
  sys.stdout.flush()
  sys.stderr.flush()
  console = os.fdopen(os.dup(1), "w", buffering=1)

  def say(line: str) -> None:
    console.write(line + "\n")

  if not enabled:
    try:
      yield say
    finally:
      console.close()
    return
  os.makedirs(os.path.dirname(log_file), exist_ok=True)
  saved = (os.dup(1), os.dup(2))
  with open(log_file, "a") as log:
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
      yield say
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os.dup2(saved[0], 1)
      os.dup2(saved[1], 2)
      os.close(saved[0])
      os.close(saved[1])
      console.close()


# ---------------------------------------------------------------------------------------------
# Progress


class _ProgressHandler(logging.Handler):
  """Turns LocalDagRunner's log lines into one progress line per component."""

  def __init__(self, node_ids: list[str], emit: Callable[[str], None]):
    super().__init__(logging.INFO)
    self._nodes = node_ids
    self._emit = emit
    self._start = 0.0
    self._cached = False
    self.current: str | None = None  # the component running now

  def emit(self, record: logging.LogRecord) -> None:
    msg, args = record.msg, record.args or ()
    if msg == "Component %s is running.":
      self._start, self._cached = time.monotonic(), False
      node = args[0]
      self.current = node
      self._emit(f"[{self._index(node)}/{len(self._nodes)}] {node} ...")
    elif msg in ("A cached execution %d is used.", "Skipping execution for %s"):
      self._cached = True
    elif msg == "Component %s is finished.":
      node = args[0]
      self.current = None
      how = "cached" if self._cached else f"done in {time.monotonic() - self._start:.1f}s"
      self._emit(f"[{self._index(node)}/{len(self._nodes)}] {node} {how}")

  def _index(self, node: str) -> int:
    return self._nodes.index(node) + 1 if node in self._nodes else 0


class _KnownNoise(logging.Filter):
  """Drops TFX warnings that say nothing actionable about a run (they stay in the log file)."""
  _PREFIXES = ("ArtifactQuery.property_predicate is not supported",
               "Examples artifact does not have payload_format")

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(self._PREFIXES)


@contextlib.contextmanager
def _logging_for_run(node_ids: list[str], log_file: str, verbose: bool,
                     emit: Callable[[str], None]) -> Iterator[_ProgressHandler]:
  """INFO logs go to `log_file`; the console gets progress lines and warnings (all if verbose)."""
  import absl.logging  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(log_file), exist_ok=True)
  root = logging.getLogger()
  absl_logger = logging.getLogger("absl")
  file_handler = logging.FileHandler(log_file)
  file_handler.setLevel(logging.INFO)
  file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
  progress = _ProgressHandler(node_ids, emit)
  saved = (root.level, absl_logger.level, [(h, h.level) for h in root.handlers])
  if not root.handlers:
    root.addHandler(logging.StreamHandler(sys.stderr))
  noise = _KnownNoise()
  console = list(root.handlers)
  for h in console:
    h.setLevel(logging.INFO if verbose else logging.WARNING)
    h.addFilter(noise)
  root.setLevel(logging.INFO)
  absl_logger.setLevel(logging.INFO)
  absl.logging.set_verbosity(absl.logging.INFO)
  root.addHandler(file_handler)
  absl_logger.addHandler(progress)
  try:
    yield progress
  finally:
    absl_logger.removeHandler(progress)
    root.removeHandler(file_handler)
    file_handler.close()
    root.setLevel(saved[0])
    absl_logger.setLevel(saved[1])
    for h, level in saved[2]:
      h.setLevel(level)
    for h in console:
      h.removeFilter(noise)


# ---------------------------------------------------------------------------------------------
# Results from MLMD


@dataclasses.dataclass(frozen=True)
class NodeResult:
  node_id: str
  executions: int  # all executions of the node in this metadata store
  last_state: str  # COMPLETE, CACHED, FAILED, ...
  outputs: dict[str, list[dict]]  # output key -> [{"uri", "properties"}]


def node_results(metadata_path: str, pipeline: str) -> dict[str, NodeResult]:
  """The latest execution of every node of `pipeline` in a local SQLite MLMD store."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(config)
  results = {}
  prefix = f"{pipeline}."
  for ctx in store.get_contexts_by_type("node"):
    if not ctx.name.startswith(prefix):
      continue
    node_id = ctx.name[len(prefix):]
    executions = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    if not executions:
      continue
    last = executions[-1]
    outputs: dict[str, list[dict]] = {}
    events = [e for e in store.get_events_by_execution_ids([last.id])
              if e.type in (metadata_store_pb2.Event.OUTPUT,
                            metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    for e in events:
      key = e.path.steps[0].key if e.path.steps else ""
      a = artifacts[e.artifact_id]
      props = {k: getattr(v, v.WhichOneof("value")) for k, v in a.custom_properties.items()
               if v.WhichOneof("value") in ("int_value", "double_value", "string_value")}
      outputs.setdefault(key, []).append({"uri": a.uri, "properties": props})
    results[node_id] = NodeResult(
        node_id, len(executions),
        metadata_store_pb2.Execution.State.Name(last.last_known_state), outputs)
  return results


# ---------------------------------------------------------------------------------------------
# Runners


@dataclasses.dataclass(frozen=True)
class LocalRunResult:
  pipeline_name: str
  layout: LocalLayout
  nodes: dict[str, NodeResult]
  wall_seconds: float
  log_file: str = ""

  def _output(self, node: str, key: str) -> dict:
    outs = self.nodes.get(node)
    items = outs.outputs.get(key) if outs else None
    return items[0] if items else {}

  def output_uri(self, node: str, key: str) -> str | None:
    return self._output(node, key).get("uri")

  def output_properties(self, node: str, key: str) -> dict:
    return self._output(node, key).get("properties", {})


def _error_chain(error: BaseException, limit: int = 20) -> list[BaseException]:
  """`error` and what caused it (`__cause__`, else `__context__`), at most `limit` deep."""
  chain, seen = [], error
  while seen is not None and len(chain) < limit:
    chain.append(seen)
    seen = seen.__cause__ or seen.__context__
  return chain


_DISK_FULL = ("No space left on device", "database or disk is full", "Disk quota exceeded")


def disk_full_reason(error: BaseException, folders: list[str]) -> str | None:
  """If `error` (or what caused it) is a full disk, one line naming where: the file the OS
  refused, else the fullest of `folders`' filesystems, with its free space. None otherwise.

  A full disk reaches a run as an `OSError` without a file name (Keras, zipfile), a TensorFlow
  error, or ML Metadata's "database or disk is full"."""
  chain = _error_chain(error)
  if not any(m in str(e) for e in chain for m in _DISK_FULL) and not any(
      isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) for e in chain):
    return None
  named = next((e.filename for e in chain if isinstance(e, OSError) and e.filename), None)
  usage = []
  for folder in folders:
    path = folder
    while path and not os.path.exists(path):
      path = os.path.dirname(path)
    try:
      usage.append((shutil.disk_usage(path).free, folder))
    except OSError:
      continue
  if named:
    where = str(named)
  elif usage:
    where = min(usage)[1]
  else:
    where = folders[0] if folders else "?"
  free = next((f for f, folder in usage if str(where).startswith(folder)), None)
  tail = f" ({free / 1024 ** 2:.1f} MiB free there)" if free is not None else ""
  return f"no space left on device writing to {where}{tail}; free some space and rerun"


_MISSING_MODULE = re.compile(r"No module named '((?:components|pipelines)(?:\.[\w.]+)?)'")


def worker_import_reason(error: BaseException) -> str | None:
  """If `error` (or what caused it) is a Beam worker that cannot import cvpipe's own modules
  (a Flink/Spark/Dataflow/portable worker started without the cvpipe image), one line saying so
  and what to do. None otherwise."""
  match = _MISSING_MODULE.search("\n".join(str(e) for e in _error_chain(error)))
  if not match:
    return None
  return (f"the Beam workers cannot import cvpipe (No module named '{match.group(1)}'): they "
          "must run the cvpipe image (Dataflow: infra.kubeflow.image, passed as "
          "--sdk_container_image; Flink/Spark/portable runners: start the SDK workers from that "
          "image or an environment with cvpipe installed)")


def log_path(layout: LocalLayout) -> str:
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return os.path.join(layout.logs_dir, f"run-{stamp}.log")


def run_local(pipeline, layout: LocalLayout, verbose: bool = False,
              emit: Callable[[str], None] = print, log_file: str | None = None
              ) -> LocalRunResult:
  """Runs a TFX pipeline with LocalDagRunner, printing a progress line per component.

  Raises:
    RunError: naming the component that failed, the first line of its error and the log.
  """
  # Not `tfx.v1`: its `extensions` import google-cloud-aiplatform (3.5 s per process).
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top
  from pipelines import beam_signatures  # pylint: disable=g-import-not-at-top
  beam_signatures.cache_function_signatures()
  beam_signatures.cache_option_views()
  for component in pipeline.components:  # work a component can start ahead (a process's start)
    warm_up = getattr(component, "warm_up", None)
    if callable(warm_up):
      warm_up()
  node_ids = [c.id for c in pipeline.components]
  log_file = log_file or log_path(layout)
  emit(f"running {pipeline.pipeline_info.pipeline_name}: {len(node_ids)} components "
       f"(full log: {log_file})")
  start = time.monotonic()
  with _logging_for_run(node_ids, log_file, verbose, emit) as progress:
    try:
      LocalDagRunner().run(pipeline)
    except Exception as e:  # pylint: disable=broad-except  # every failure: one clear line
      logging.exception("the run failed")
      lines = str(e).strip().splitlines()
      reason = (disk_full_reason(e, [layout.output_dir, tempfile.gettempdir()])
                or worker_import_reason(e) or (lines[0] if lines else type(e).__name__))
      where = f"{progress.current} failed" if progress.current else "the run failed"
      raise RunError(f"{where}: {reason} (full log: {log_file})") from e
  return LocalRunResult(pipeline.pipeline_info.pipeline_name, layout,
                        node_results(os.path.abspath(layout.metadata_path),
                                     pipeline.pipeline_info.pipeline_name),
                        time.monotonic() - start, log_file)


def compile_kubeflow(pipeline, image: str, output_file: str) -> str:
  """Writes the Kubeflow V2 / Vertex AI pipeline for `pipeline`, run in `image`: a PipelineSpec
  YAML (`.yaml`/`.yml`: what KFP registries, Vertex AI and open-source KFP take; the runtime
  parameters' defaults and the pipeline root are in it) or TFX's PipelineJob JSON (deprecated
  by TFX 1.16, kept for older tooling)."""
  import json  # pylint: disable=g-import-not-at-top
  import yaml  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_v2  # pylint: disable=g-import-not-at-top
  out_dir = os.path.dirname(os.path.abspath(output_file))
  os.makedirs(out_dir, exist_ok=True)
  runner = kfp_v2.KubeflowV2DagRunner(
      config=kfp_v2.KubeflowV2DagRunnerConfig(default_image=image),
      output_dir=out_dir, output_filename=os.path.basename(output_file))
  job = runner.run(pipeline, parameter_values=runtime_parameter_defaults(pipeline),
                   write_out=False)
  path = os.path.join(out_dir, os.path.basename(output_file))
  with open(path, "w") as f:
    if path.endswith((".yaml", ".yml")):
      f.write(f"# cvpipe pipeline {pipeline.pipeline_info.pipeline_name}, compiled by TFX "
              "KubeflowV2DagRunner\n")
      yaml.safe_dump(pipeline_spec(job), f, sort_keys=True)
    else:
      json.dump(job, f, sort_keys=True)
  return path


def pipeline_spec(job: dict) -> dict:
  """The PipelineSpec of TFX's PipelineJob dict, with what its runtimeConfig held: the pipeline
  root as `defaultPipelineRoot` and each runtime parameter's default as its `defaultValue`."""
  import copy  # pylint: disable=g-import-not-at-top
  spec = copy.deepcopy(job["pipelineSpec"])
  runtime = job.get("runtimeConfig", {})
  if runtime.get("gcsOutputDirectory"):
    spec["defaultPipelineRoot"] = runtime["gcsOutputDirectory"]
  values = {**{k: next(iter(v.values())) for k, v in runtime.get("parameters", {}).items()},
            **runtime.get("parameterValues", {})}
  inputs = spec["root"].get("inputDefinitions", {}).get("parameters", {})
  for name, value in values.items():
    inputs[name]["defaultValue"] = value
    inputs[name]["isOptional"] = True
  return spec


def runtime_parameter_defaults(pipeline) -> dict:
  """{name: default} of every RuntimeParameter of `pipeline`'s components: the values a run of
  the compiled pipeline uses unless it is given others (TFX leaves them out otherwise)."""
  from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
  defaults = {}
  for component in pipeline.components:
    for value in getattr(component, "exec_properties", {}).values():
      if isinstance(value, data_types.RuntimeParameter) and value.default is not None:
        defaults[value.name] = value.default
  return defaults


def _load(task_name: str, config_path: str | None, overrides: dict | None, data: str | None):
  """(task, run config, task config, data source from `data` or the config; "" if none)."""
  from pipelines import tasks  # pylint: disable=g-import-not-at-top
  task = tasks.get(task_name)
  run_cfg = task.load_config(config_path, overrides)
  cfg = task.task_config(run_cfg)
  return task, run_cfg, cfg, data or cfg.data.source


def _create_pipeline(task, cfg, runtime):
  from components.common import contract  # pylint: disable=g-import-not-at-top
  return contract.load_object(task.pipeline)(cfg, runtime)


TEMP_DIR = ".tmp"


@contextlib.contextmanager
def run_temp_dir(output_dir: str) -> Iterator[str]:
  """Points Python's and child processes' temporary folder (TFX, Beam, TF Transform and Keras
  write there and do not all clean up) at `<output>/.tmp/<pid>` for one run, and removes it
  after. Held under the output folder's lock, so what a killed earlier run left there is
  removed first."""
  base = os.path.join(output_dir, TEMP_DIR)
  shutil.rmtree(base, ignore_errors=True)
  path = os.path.join(base, str(os.getpid()))
  os.makedirs(path)
  saved = (tempfile.tempdir, os.environ.get("TMPDIR"))
  tempfile.tempdir = path
  os.environ["TMPDIR"] = path
  try:
    yield path
  finally:
    tempfile.tempdir = saved[0]
    if saved[1] is None:
      os.environ.pop("TMPDIR", None)
    else:
      os.environ["TMPDIR"] = saved[1]
    shutil.rmtree(base, ignore_errors=True)


def run_task(task_name: str, output_dir: str, data: str | None = None,
             config_path: str | None = None, overrides: dict | None = None,
             verbose: bool = False, emit: Callable[[str], None] | None = None,
             quiet_console: bool = False) -> LocalRunResult:
  """Runs a task's pipeline locally: config, data (embedded default if none), fingerprint, run.

  Holds the output folder's lock for the whole run. With `quiet_console` (the CLI without
  --verbose), everything TensorFlow, Beam and Keras write goes to the run's log and the console
  shows `emit`'s lines only (default `emit`: the console).

  Raises:
    RunError: the output folder is locked by another run or not writable, or a component failed.
  """
  task, run_cfg, cfg, source = _load(task_name, config_path, overrides, data)
  layout = LocalLayout(os.path.abspath(output_dir))
  with output_lock(layout.output_dir), run_temp_dir(layout.output_dir):
    log_file = log_path(layout)
    with console_to_log(log_file, enabled=quiet_console and not verbose) as say:
      # Imported here: TensorFlow's and Beam's import-time messages belong in the log.
      from components.image_ingest import ingest  # pylint: disable=g-import-not-at-top
      from pipelines.vision import dag  # pylint: disable=g-import-not-at-top
      emit = emit or say
      if not source:
        source = task.default_data(layout.data_dir)
        emit(f"data: embedded default, written to {source}")
      elif "://" not in source:
        source = os.path.abspath(source)
      runtime = local_runtime(task_name, run_cfg.infra, layout, source,
                              ingest.input_fingerprint(source,
                                                       dag.reader_for(task, cfg.data, source)))
      return run_local(_create_pipeline(task, cfg, runtime), layout, verbose=verbose, emit=emit,
                       log_file=log_file)


def compile_task(task_name: str, data: str | None = None, config_path: str | None = None,
                 overrides: dict | None = None, output_file: str | None = None) -> str:
  """Compiles a task's pipeline for Kubeflow V2 / Vertex AI (YAML PipelineSpec, or PipelineJob
  JSON for a .json `output_file`); returns the file written."""
  task, run_cfg, cfg, source = _load(task_name, config_path, overrides, data)
  if not source:
    raise ConfigError("compile needs a data source the cluster can read: --data gs://... or "
                     f"{task_name}.data.source in the config")
  runtime = kubeflow_runtime(task_name, run_cfg.infra, source)
  return compile_kubeflow(_create_pipeline(task, cfg, runtime), run_cfg.infra.kubeflow.image,
                          output_file or f"{runtime.pipeline_name}.yaml")


def publish_outputs(result: LocalRunResult, destination: str, client=None) -> list[str]:
  """Uploads a local run's report and edge models to gs://bucket/prefix/<pipeline>/<report id>/."""
  from pipelines import cloud  # pylint: disable=g-import-not-at-top
  report_dir = result.output_uri("RunReport", "report")
  edge_dir = result.output_uri("EdgeExport", "edge_model")
  run_id = os.path.basename(report_dir.rstrip("/")) if report_dir else "run"
  files = []
  if report_dir:
    files += cloud.tree_files(report_dir, "report")
  if edge_dir:
    files += cloud.tree_files(edge_dir, "edge")
  return cloud.publish(files, f"{destination.rstrip('/')}/{result.pipeline_name}/{run_id}",
                       client=client)
