"""A `cvpipe run` of the toy task that SIGKILLs itself inside one component (the kill test).

  python -m tests.e2e.kill_child OUT DATA CONFIG_JSON [TARGET DELAY]

TARGET is a node id: the process kills itself DELAY seconds after that component's executor
starts, or, if the executor returns sooner, right after it returns (its outputs written, nothing
published to ML Metadata yet). TARGET `Pusher@copy` kills the Pusher in the middle of copying the
model into the serving folder (its variables written, `saved_model.pb` not yet). No TARGET: an
uninterrupted run. Progress lines go to stdout.
"""

import json
import os
import signal
import sys
import threading


def _die() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _arm(target: str, delay: float) -> None:
  from tfx.orchestration.portable import python_executor_operator  # pylint: disable=g-import-not-at-top
  if target == "Pusher@copy":
    from components.atomic_pusher import executor  # pylint: disable=g-import-not-at-top

    def copy_file(*args, **kwargs):  # the last copy: saved_model.pb
      _die()
    executor.io_utils = type("io_utils", (), {"copy_dir": staticmethod(executor.io_utils.copy_dir),
                                              "copy_file": staticmethod(copy_file)})
    return
  run_with_executor = python_executor_operator.run_with_executor

  def run(execution_info, executor):
    if execution_info.pipeline_node.node_info.id != target:
      return run_with_executor(execution_info, executor)
    threading.Timer(delay, _die).start()
    run_with_executor(execution_info, executor)
    _die()

  python_executor_operator.run_with_executor = run


def main(argv: list[str]) -> int:
  out, data, config = argv[0], argv[1], json.loads(argv[2])
  if len(argv) > 3:
    _arm(argv[3], float(argv[4]))
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  from tests.toy_task import task  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  runners.run_task("toy", out, data=data, overrides=config,
                   emit=lambda line: print(line, flush=True))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
