"""Distributed training for every task's Trainer: the `tf.distribute` strategy chosen from
`TF_CONFIG` and the visible GPUs, models built and compiled inside its scope, one export.

Every task's `run_fn` is wrapped by `distributed`:

- no `TF_CONFIG` cluster and at most one GPU (a laptop, CI, a one-replica Vertex job): TF's default
  strategy, so nothing changes — same graph, same numbers as without the wrapper;
- one machine with several GPUs: `MirroredStrategy`;
- a `TF_CONFIG` cluster with more than one task (Vertex AI worker pools, or two processes on
  127.0.0.1): `MultiWorkerMirroredStrategy` — every worker runs the whole `run_fn` in lockstep
  (collective all-reduce of the gradients, variables initialised from worker 0), each reads all
  examples and keeps its share (`AutoShardPolicy.DATA`: Transform writes few files, too few to
  shard by file), and only the chief writes the model and the training logs. The other workers
  export to a private temporary folder (saving takes part in collectives, so they must save too),
  delete it, and wait until the chief's model exists, since TFX's Trainer checks for it on every
  replica.

The chief is the `chief` task, or worker 0 of a cluster without one (TF's rule).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Callable

import tensorflow as tf

CHIEF_EXPORT_TIMEOUT_S = 1800.0


@dataclasses.dataclass(frozen=True)
class Cluster:
  """This process's place in a training cluster, from `TF_CONFIG`."""
  spec: dict  # task type -> ["host:port", ...]; {} when not distributed
  task_type: str = ""
  task_index: int = 0

  @classmethod
  def from_env(cls, environ=None) -> "Cluster":
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
      return cls({})
    try:
      config = json.loads(raw)
      spec = {k: list(v) for k, v in (config.get("cluster") or {}).items()}
      task = config.get("task") or {}
      task_type, task_index = str(task.get("type", "")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as e:
      raise ValueError(f"TF_CONFIG is not a valid cluster description ({e}): {raw[:200]}"
                       ) from None
    if spec and (task_type not in spec or not 0 <= task_index < len(spec[task_type])):
      raise ValueError(f"TF_CONFIG's task {task_type}:{task_index} is not in its cluster "
                       f"{sorted(spec)}")
    return cls(spec, task_type, task_index)

  @property
  def num_tasks(self) -> int:
    return sum(len(v) for k, v in self.spec.items() if k in ("chief", "worker", "master"))

  @property
  def multi_worker(self) -> bool:
    return self.num_tasks > 1

  @property
  def is_chief(self) -> bool:
    if not self.multi_worker:
      return True
    if self.task_type in ("chief", "master"):
      return True
    has_chief = bool(self.spec.get("chief") or self.spec.get("master"))
    return self.task_type == "worker" and self.task_index == 0 and not has_chief

  @property
  def name(self) -> str:
    return f"{self.task_type}:{self.task_index}" if self.spec else "single"


_STRATEGY: tf.distribute.Strategy | None = None


def strategy(cluster: Cluster | None = None) -> tf.distribute.Strategy:
  """The process's strategy (made once: `MultiWorkerMirroredStrategy` must be created before the
  first collective op and only once per process)."""
  global _STRATEGY
  if _STRATEGY is None:
    cluster = cluster or Cluster.from_env()
    if cluster.multi_worker:
      _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    elif len(tf.config.list_logical_devices("GPU")) > 1:
      _STRATEGY = tf.distribute.MirroredStrategy()
    else:
      _STRATEGY = tf.distribute.get_strategy()
    logging.info("training with %s (%d replicas in sync, task %s)",
                 type(_STRATEGY).__name__, _STRATEGY.num_replicas_in_sync, cluster.name)
  return _STRATEGY


class _ShardedDataAccessor:
  """A TFX DataAccessor whose datasets shard by element across workers."""

  def __init__(self, accessor):
    self._accessor = accessor

  def __getattr__(self, name):
    return getattr(self._accessor, name)

  def tf_dataset_factory(self, *args, **kwargs) -> tf.data.Dataset:
    ds = self._accessor.tf_dataset_factory(*args, **kwargs)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _evolve(fn_args, **changes):
  """A copy of TFX's FnArgs (an attrs class) with `changes`."""
  import attr  # pylint: disable=g-import-not-at-top
  return attr.evolve(fn_args, **changes)


def wait_for_export(serving_model_dir: str, timeout_s: float = CHIEF_EXPORT_TIMEOUT_S,
                    poll_s: float = 1.0) -> None:
  """Blocks until the chief's SavedModel is complete (`saved_model.pb` is written last)."""
  marker = os.path.join(serving_model_dir, "saved_model.pb")
  deadline = time.monotonic() + timeout_s
  while not tf.io.gfile.exists(marker):
    if time.monotonic() > deadline:
      raise RuntimeError(f"the chief did not export the model to {serving_model_dir} within "
                         f"{timeout_s:.0f} s; see the chief replica's log")
    time.sleep(poll_s)


def distributed(run_fn: Callable) -> Callable:
  """Wraps a TFX `run_fn` to run under `strategy()` (see the module doc)."""

  @functools.wraps(run_fn)
  def wrapped(fn_args) -> None:
    cluster = Cluster.from_env()
    chosen = strategy(cluster)
    if not cluster.multi_worker:
      with chosen.scope():
        return run_fn(fn_args)
    private = tempfile.mkdtemp(prefix=f"cvpipe-{cluster.task_type}-{cluster.task_index}-")
    args = fn_args if cluster.is_chief else _evolve(
        fn_args, serving_model_dir=os.path.join(private, "Format-Serving"),
        model_run_dir=os.path.join(private, "model_run"))
    if getattr(fn_args, "data_accessor", None) is not None:
      args = _evolve(args, data_accessor=_ShardedDataAccessor(fn_args.data_accessor))
    try:
      with chosen.scope():
        result = run_fn(args)
    finally:
      shutil.rmtree(private, ignore_errors=True)
    if not cluster.is_chief:
      wait_for_export(fn_args.serving_model_dir)
    return result

  return wrapped
