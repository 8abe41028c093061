"""The toy task (registered only by the tests, `tests/toy_task/`) runs its whole DAG through the
shared task test kit: the contract carries a task that is neither a classifier nor an embedding,
with its own outputs, evaluator and edge metric, without an edit outside its folder."""

import json
import os

import numpy as np
import pytest

from pipelines import runners
from pipelines import tasks
from tests import kit
from tests.e2e import kill_child
from tests.conftest import digit_images, write_folder
from tests.toy_task import task as toy_task

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = {"toy": {"train": {"epochs": 40, "learning_rate": 0.02, "batch_size": 8},
                  "evaluation": {"max_mae": 0.05}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("toy")
  data = tmp / "data"
  write_folder(data, digit_images(classes=(0, 1, 7), per_class=10))
  out = tmp / "out"
  first = runners.run_task("toy", str(out), data=str(data), overrides=CONFIG, emit=print)
  second = runners.run_task("toy", str(out), data=str(data), overrides=CONFIG, emit=print)
  worse = {"toy": {**CONFIG["toy"], "train": {"epochs": 1, "learning_rate": 0.0}}}
  third = runners.run_task("toy", str(out), data=str(data), overrides=worse, emit=print)
  return {"first": first, "second": second, "worse": third, "data": data}


def test_task_kit(runs):
  assert tasks.get("toy") is toy_task.TASK
  kit.check_e2e(toy_task.TASK, runs, str(sorted((runs["data"] / "0").glob("*.png"))[0]), CONFIG)


def test_runs_leave_no_temporary_files_and_build_no_tfx_package(runs):
  out = runs["first"].layout.output_dir
  assert not os.path.exists(os.path.join(out, runners.TEMP_DIR))
  log = open(runs["first"].log_file).read()
  assert "Transform" in log and "Attempting to infer TFX Python dependency" not in log


def test_its_own_report_section_and_lower_is_better_edge_gate(runs):
  text = open(os.path.join(runs["first"].output_uri("RunReport", "report"), "report.html")).read()
  assert "Served brightness" in text and "upper bound 0.05" in text
  edge = runs["first"].output_uri("EdgeExport", "edge_model")
  metrics = json.load(open(os.path.join(edge, "metrics.json")))
  assert metrics["quality_metric"] == "mae" and metrics["edge_blessed"]
  assert metrics["int8_quality_drop"] == pytest.approx(
      metrics["models"]["tflite_int8"]["mae"] - metrics["models"]["tflite_float32"]["mae"])


# ---------------------------------------------------------------------------------------------
# Kill test: SIGKILL inside each component in turn, rerun, and the result equals an
# uninterrupted run's.


def _executed_nodes(metadata_path, pipeline_name):
  """(node, seconds) of every node with an executor, by the first run's start order."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  store = metadata_store.MetadataStore(config)
  types = {t.id: t.name for t in store.get_execution_types()}
  rows = []
  for ctx in store.get_contexts_by_type("node"):
    first = min(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    if "resolver" in types[first.type_id].lower() or "importer" in types[first.type_id].lower():
      continue
    rows.append((first.create_time_since_epoch, ctx.name.split(".", 1)[1],
                 (first.last_update_time_since_epoch - first.create_time_since_epoch) / 1000))
  return [(node, seconds) for _, node, seconds in sorted(rows)]


def _versions(serving_model_dir):
  return sorted(d for d in os.listdir(serving_model_dir) if d.isdigit()) \
      if os.path.isdir(serving_model_dir) else []


@pytest.fixture(scope="module")
def zygote():
  """`kill_child.serve`: runs the kill test's children, forked after one import of the run's
  modules."""
  import subprocess
  import sys
  proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.kill_child", "--serve"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))
  yield proc
  proc.stdin.close()
  proc.wait(timeout=60)


def _child(zygote, out, data, log, target=None, delay=0.0):
  """Runs the toy DAG in a child (killing itself inside `target`'s component, if given): its exit
  code and progress lines (written to `log`)."""
  import select
  zygote.stdin.write(json.dumps({"out": str(out), "data": str(data), "config": CONFIG,
                                 "log_path": str(log), "target": target, "delay": delay}) + "\n")
  zygote.stdin.flush()
  assert select.select([zygote.stdout], [], [], 600)[0], f"no exit code from the run ({target})"
  code = int(zygote.stdout.readline())
  lines = open(log, encoding="utf-8").read().splitlines() if os.path.exists(log) else []
  return code, lines


def _predict(version_dir, images):
  import tensorflow as tf
  fn = tf.saved_model.load(version_dir).signatures["serving_default"]
  return fn(image_bytes=tf.constant(images))["brightness"].numpy()


def test_a_run_killed_inside_each_component_resumes_to_the_uninterrupted_result(
    runs, tmp_path, zygote):
  import re
  import signal
  reference = runs["first"]
  nodes = _executed_nodes(reference.layout.metadata_path, reference.pipeline_name)
  assert {"ImageIngest", "Transform", "Trainer", "Pusher", "EdgeExport", "RunReport"} <= {
      n for n, _ in nodes}
  out = tmp_path / "out"
  serving = os.path.join(out, "serving", toy_task.TASK.config().model_name)
  kills = [(node, max(0.05, seconds / 2)) for node, seconds in nodes]
  kills.insert([n for n, _ in kills].index("Pusher"), ("Pusher@copy", 0))
  done: list[str] = []  # components that finished in an earlier (killed) run
  for i, (target, delay) in enumerate(kills):
    code, lines = _child(zygote, out, runs["data"], tmp_path / f"kill-{i}.log", target, delay)
    assert code == -signal.SIGKILL, (target, code, lines[-5:])
    cached = {m.group(1) for m in map(re.compile(r"\[\d+/\d+\] (\S+) cached").match, lines) if m}
    finished = {m.group(1) for m in map(re.compile(r"\[\d+/\d+\] (\S+) (cached|done)").match,
                                        lines) if m}
    # Evaluator, Pusher and RunReport see a new baseline once a model was blessed: they rerun.
    assert set(done) & set(kit.DETERMINED_BY_INPUTS) <= cached, (target, set(done) - cached)
    done = sorted(finished)
    for version in _versions(serving):  # never a partial version, whatever the kill
      assert os.path.exists(os.path.join(serving, version, "saved_model.pb")), version
      assert os.listdir(os.path.join(serving, version, "variables")), version
  code, lines = _child(zygote, out, runs["data"], tmp_path / "resumed.log")
  assert code == 0, lines[-5:]
  assert set(done) & set(kit.DETERMINED_BY_INPUTS) <= {m.group(1) for m in map(re.compile(r"\[\d+/\d+\] (\S+) cached").match,
                                                lines) if m}
  versions = _versions(serving)
  assert len(versions) == 1, versions  # the kill after a push did not push the model twice
  ref_serving = os.path.join(reference.layout.serving_dir, toy_task.TASK.config().model_name)
  images = [p.read_bytes() for p in sorted((runs["data"] / "1").glob("*.png"))[:4]]
  np.testing.assert_allclose(_predict(os.path.join(serving, versions[0]), images),
                             _predict(os.path.join(ref_serving, _versions(ref_serving)[0]),
                                      images), atol=1e-5)
