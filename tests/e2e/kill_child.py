"""A `cvpipe run` of the toy task that SIGKILLs itself inside one component (the kill test).

  python -m tests.e2e.kill_child OUT DATA CONFIG_JSON [TARGET DELAY]
  python -m tests.e2e.kill_child --serve   # the kill test's zygote, see `serve`

TARGET is a node id: the process kills itself DELAY seconds after that component's executor
starts, or, if the executor returns sooner, right after it returns (its outputs written, nothing
published to ML Metadata yet). TARGET `Pusher@copy` kills the Pusher in the middle of copying the
model into the serving folder (its variables written, `saved_model.pb` not yet). No TARGET: an
uninterrupted run. Progress lines go to stdout.
"""

import importlib
import json
import os
import signal
import sys
import threading
import traceback


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


# What the zygote (`serve`) imports before it forks the children: the run's own modules and the
# libraries its components load.
PRELOAD = ["pipelines", "tensorflow", "tf_keras", "apache_beam", "tensorflow_transform",
           "tensorflow_model_analysis", "tfx.orchestration.local.local_dag_runner",
           "pipelines.runners", "tests.toy_task.task"]


def run(out: str, data: str, config: dict, log_path: str, target: str | None = None,
        delay: float = 0.0) -> None:
  """The run, its progress lines written to `log_path` as they come (a SIGKILL loses none)."""
  if target:
    _arm(target, delay)
  from components.serving_check.component import ServingCheck  # pylint: disable=g-import-not-at-top
  # Each killed run would start a spare server process (`check.warm_up`) for nothing.
  ServingCheck.warm_up = None
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  from tests.toy_task import task  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  with open(log_path, "w", encoding="utf-8") as log:
    def emit(line: str) -> None:
      log.write(line + "\n")
      log.flush()
    runners.run_task("toy", out, data=data, overrides=config, emit=emit)


def serve() -> None:
  """The kill test's zygote: imports `PRELOAD` once, then for each JSON line on stdin (`run`'s
  keyword arguments) forks a child that runs it and writes the child's exit code as a line on
  stdout (-9: killed by SIGKILL). Forking spares every kill the ~14 s of importing TensorFlow,
  Beam and TFX again; nothing here has run a TensorFlow op when it forks."""
  for module in PRELOAD:
    importlib.import_module(module)
  for line in sys.stdin:
    pid = os.fork()
    if pid == 0:  # the child: stdout is the protocol, so its own output goes to stderr
      os.dup2(2, 1)
      code = 0
      try:
        run(**json.loads(line))
      except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        code = 1
      finally:
        sys.stderr.flush()
        os._exit(code)  # pylint: disable=protected-access
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)


def main(argv: list[str]) -> int:
  if argv == ["--serve"]:
    serve()
    return 0
  out, data, config = argv[0], argv[1], json.loads(argv[2])
  target, delay = (argv[3], float(argv[4])) if len(argv) > 3 else (None, 0.0)
  run(out, data, config, "/dev/stdout", target, delay)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
