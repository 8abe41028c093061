"""AtomicPusher: TFX's standard Pusher (same spec, inputs and outputs) with an executor whose
version directories appear complete or not at all (see `executor.py`)."""

from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.atomic_pusher.executor import AtomicPushExecutor


class AtomicPusher(Pusher):
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
