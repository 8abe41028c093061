"""ImageIngest and Transform on Beam's portable Fn API (what Dataflow Runner v2, Flink and Spark
use), offline: a local job service and an external worker pool on loopback. Workers whose Python
has cvpipe run the data half of a DAG; workers whose Python lacks it fail with one clear line."""

import dataclasses
import os
import socket
import subprocess
import sys
import time

import pytest

from pipelines import runners
from pipelines import tasks
from pipelines.vision import dag
from tests.conftest import digit_images, write_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A worker Python without cvpipe: the same interpreter with cvpipe's packages unimportable.
NO_CVPIPE = """
import sys
class _NoCvpipe:
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("components", "pipelines"):
      raise ModuleNotFoundError(f"No module named '{name}'")
sys.meta_path.insert(0, _NoCvpipe())
"""


def _port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _wait_for(port, proc, timeout=60):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    assert proc.poll() is None, proc.stdout.read()
    with socket.socket() as s:
      if s.connect_ex(("127.0.0.1", port)) == 0:
        return
    time.sleep(0.2)
  raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def beam_services(tmp_path):
  """Starts a job service and a worker pool whose workers run `python` from a bin folder that
  points at this interpreter (with `site` dir prepended to its path: a sitecustomize may
  remove cvpipe). Yields a function (with_cvpipe: bool) -> Beam args."""
  procs = []

  def start(with_cvpipe: bool):
    bin_dir = tmp_path / f"bin-{with_cvpipe}"
    site = tmp_path / f"site-{with_cvpipe}"
    bin_dir.mkdir()
    site.mkdir()
    if not with_cvpipe:
      (site / "sitecustomize.py").write_text(NO_CVPIPE)
    python = bin_dir / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(site)}
    job_port, pool_port = _port(), _port()
    for args, port in (
        (["-m", "apache_beam.runners.portability.local_job_service_main", "--port",
          str(job_port)], job_port),
        (["-m", "apache_beam.runners.worker.worker_pool_main", "--service_port",
          str(pool_port)], pool_port)):
      proc = subprocess.Popen([sys.executable, *args], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      procs.append(proc)
      _wait_for(port, proc)
    return ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}",
            "--sdk_location=container"]

  def pool_output() -> str:
    outputs = []
    for proc in procs:
      proc.kill()
      outputs.append(proc.communicate()[0])
    return outputs[-1]

  start.pool_output = pool_output
  yield start
  for proc in procs:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def _data_half(tmp_path, name, beam_args):
  """The classification task's ImageIngest -> ... -> Transform alone, with `beam_args`."""
  data = tmp_path / "digits"
  if not data.exists():
    write_folder(data, digit_images(per_class=8))
  task = tasks.get("classification")
  run_cfg = task.load_config(None, {"classification": {"image": {"height": 16, "width": 16}}})
  cfg = task.task_config(run_cfg)
  layout = runners.LocalLayout(str(tmp_path / name))
  runtime = dataclasses.replace(
      runners.local_runtime("classification", run_cfg.infra, layout, str(data), name),
      beam_pipeline_args=tuple(beam_args))
  half = dag.data_half(task, cfg.data, cfg.image, runtime)
  return dag.pipeline(runtime, half.components), layout


def test_workers_with_cvpipe_run_ingest_and_transform(tmp_path, beam_services):
  pipeline, layout = _data_half(tmp_path, "good", beam_services(with_cvpipe=True))
  result = runners.run_local(pipeline, layout, emit=print)
  assert {n: r.last_state for n, r in result.nodes.items()} == {
      n: "COMPLETE" for n in ("ImageIngest", "StatisticsGen", "SchemaGen", "ExampleValidator",
                              "Transform")}
  transformed = result.output_uri("Transform", "transformed_examples")
  assert any(f.startswith("transformed_examples")
             for f in os.listdir(os.path.join(transformed, "Split-train")))
  # The work ran in SDK workers the pool started (as Dataflow's and Flink's workers are).
  assert "Starting worker with command" in beam_services.pool_output()


def test_workers_without_cvpipe_fail_with_a_clear_message(tmp_path, beam_services):
  pipeline, layout = _data_half(tmp_path, "bad", beam_services(with_cvpipe=False))
  with pytest.raises(runners.RunError) as failure:
    runners.run_local(pipeline, layout, emit=print)
  message = str(failure.value)
  assert message.startswith("ImageIngest failed: the Beam workers cannot import cvpipe "
                            "(No module named 'components"), message
  assert "--sdk_container_image" in message and "full log:" in message
