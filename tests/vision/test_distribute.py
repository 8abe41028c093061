"""The Trainer's distribution: strategy and chief from TF_CONFIG, one CPU unchanged, and two
worker processes on 127.0.0.1 training one model (MultiWorkerMirroredStrategy)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipelines.vision import distribute

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tf_config(cluster, task_type, index):
  return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type,
                                                                "index": index}})}


def test_cluster_from_tf_config():
  assert not distribute.Cluster.from_env({}).multi_worker
  assert distribute.Cluster.from_env({}).is_chief
  one = distribute.Cluster.from_env(tf_config({"worker": ["a:1"]}, "worker", 0))
  assert not one.multi_worker and one.is_chief
  workers = {"worker": ["a:1", "b:2"]}
  assert distribute.Cluster.from_env(tf_config(workers, "worker", 0)).is_chief
  second = distribute.Cluster.from_env(tf_config(workers, "worker", 1))
  assert second.multi_worker and not second.is_chief and second.name == "worker:1"
  # Vertex AI's pools: pool 0 is "chief", the others "worker" from index 0.
  vertex = {"chief": ["c:1"], "worker": ["a:1", "b:2"]}
  assert distribute.Cluster.from_env(tf_config(vertex, "chief", 0)).is_chief
  assert not distribute.Cluster.from_env(tf_config(vertex, "worker", 0)).is_chief
  assert distribute.Cluster.from_env(tf_config(vertex, "worker", 1)).num_tasks == 3


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not a valid cluster"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}),
     "worker:3 is not in its cluster"),
])
def test_bad_tf_config_is_a_clear_error(raw, message):
  with pytest.raises(ValueError, match=message):
    distribute.Cluster.from_env({"TF_CONFIG": raw})


def test_one_cpu_runs_the_run_fn_unchanged(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  seen = []

  @distribute.distributed
  def run_fn(fn_args):
    seen.append((fn_args, tf.distribute.get_strategy(), tf.distribute.has_strategy()))

  args = object()
  run_fn(args)
  assert seen[0][0] is args  # the same FnArgs: same folders, same data accessor
  assert type(seen[0][1]).__name__ == "_DefaultDistributionStrategy"


def test_non_chief_waits_for_the_chiefs_export(tmp_path):
  with pytest.raises(RuntimeError, match="did not export the model to .*within 0 s"):
    distribute.wait_for_export(str(tmp_path / "Format-Serving"), timeout_s=0.0)
  (tmp_path / "Format-Serving").mkdir()
  (tmp_path / "Format-Serving" / "saved_model.pb").write_bytes(b"x")
  distribute.wait_for_export(str(tmp_path / "Format-Serving"), timeout_s=0.0)


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_two_workers_train_one_model_and_export_once(tmp_path):
  cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
  procs = []
  for index in range(2):
    env = {**os.environ, **tf_config(cluster, "worker", index),
           "PYTHONPATH": REPO, "CUDA_VISIBLE_DEVICES": ""}
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "tests.vision.mwms_worker", str(tmp_path)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  logs = [p.communicate(timeout=300)[0] for p in procs]
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  for log in logs:  # MultiWorkerMirroredStrategy is a CollectiveAllReduceStrategy
    assert "CollectiveAllReduceStrategy (2 replicas in sync" in log
  chief = np.load(tmp_path / "weights-worker-0.npz")
  other = np.load(tmp_path / "weights-worker-1.npz")
  assert len(chief.files) == len(other.files) > 4
  for key in chief.files:  # one model: the same weights on both workers after training
    np.testing.assert_array_equal(chief[key], other[key])
  # One export, by the chief, where TFX expects it; the other worker's went to a private
  # temporary folder that is gone.
  assert (tmp_path / "model" / "Format-Serving" / "saved_model.pb").exists()
  assert (tmp_path / "export-worker-0.txt").read_text() == str(
      tmp_path / "model" / "Format-Serving")
  private = (tmp_path / "export-worker-1.txt").read_text()
  assert not private.startswith(str(tmp_path)) and not os.path.exists(private)
  assert sorted(os.listdir(tmp_path / "model")) == ["Format-Serving"]
  assert os.listdir(tmp_path / "model_run")  # the chief's training logs only
