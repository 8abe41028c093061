"""What a local run shows and refuses: the output folder's lock, an unwritable output folder, a
failing component as one `cvpipe: error:` line, and a console with cvpipe's own lines only."""

import fcntl
import os
import subprocess
import sys

import pytest

from pipelines import runners
from tests.conftest import digit_images, write_folder


def test_a_second_run_on_the_same_output_refuses(tmp_path):
  with runners.output_lock(str(tmp_path)):
    with pytest.raises(runners.RunError, match=rf"{tmp_path}: another cvpipe run \(pid "
                                              rf"{os.getpid()}\) is using this output folder"):
      runners.run_task("classification", str(tmp_path), data=str(tmp_path / "none"))
  # Released: the next run gets past the lock (and stops at the missing data folder).
  with pytest.raises(runners.RunError, match="ImageIngest failed: .*data folder does not exist"):
    runners.run_task("classification", str(tmp_path), data=str(tmp_path / "none"),
                     emit=lambda line: None)


def test_the_lock_is_held_by_a_process_not_a_file(tmp_path):
  (tmp_path / runners.LOCK_FILE).write_text("pid 1")  # a stale file from a killed run
  with runners.output_lock(str(tmp_path)):
    with open(tmp_path / runners.LOCK_FILE) as f:
      with pytest.raises(BlockingIOError):
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_an_unwritable_output_folder_is_named(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(runners.RunError, match=rf"{blocker}/out: cannot write the output folder"):
    runners.run_task("classification", str(blocker / "out"))


def test_console_to_log_sends_fd_output_to_the_log(tmp_path):
  log = tmp_path / "logs" / "run.log"
  script = (
      "import os, sys\n"
      "from pipelines import runners\n"
      f"with runners.console_to_log({str(log)!r}) as say:\n"
      "  print('python print'); os.write(2, b'C++ message\\n'); say('progress line')\n"
      "print('after')\n")
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
  assert proc.stdout == "progress line\nafter\n" and proc.stderr == ""
  assert log.read_text() == "python print\nC++ message\n"


@pytest.mark.slow
def test_a_failing_component_is_one_error_line_naming_it_and_the_log(tmp_path):
  """Every file quarantined: ImageIngest fails; the CLI prints one line, exit 2, no traceback."""
  data = tmp_path / "data"
  write_folder(data, digit_images(classes=(0, 1), per_class=3))
  for path in data.glob("*/*.png"):
    path.write_bytes(b"not an image")
  proc = subprocess.run(
      [sys.executable, "-m", "pipelines.cli", "run", "classification", "--data", str(data),
       "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
      cwd=os.path.dirname(os.path.dirname(__file__)))
  assert proc.returncode == 2
  err = proc.stderr.strip().splitlines()
  assert len(err) == 1, proc.stderr
  assert err[0].startswith("cvpipe: error: ImageIngest failed: ")
  assert "is empty" in err[0] and f"(full log: {tmp_path}/out/logs/run-" in err[0]
  assert "Traceback" not in proc.stdout + proc.stderr
  assert "cuFFT" not in proc.stdout + proc.stderr  # TensorFlow's C++ noise is in the log


def test_disk_full_reason_names_the_file_or_the_fullest_folder(tmp_path):
  import errno
  with_name = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "model.keras"))
  assert runners.disk_full_reason(with_name, [str(tmp_path)]).startswith(
      f"no space left on device writing to {tmp_path}/model.keras (")
  try:
    try:
      raise OSError(errno.ENOSPC, "No space left on device")
    except OSError as e:
      raise RuntimeError("Trainer raised") from e
  except RuntimeError as wrapped:
    reason = runners.disk_full_reason(wrapped, [str(tmp_path / "not" / "yet"), "/"])
  assert reason.startswith("no space left on device writing to ") and "MiB free there" in reason
  mlmd = RuntimeError("Error when executing query: database or disk is full query: INSERT")
  assert runners.disk_full_reason(mlmd, [str(tmp_path)]).startswith(
      f"no space left on device writing to {tmp_path} (")
  assert runners.disk_full_reason(ValueError("bad label"), [str(tmp_path)]) is None


@pytest.mark.slow
def test_a_full_disk_during_a_run_is_one_error_line_naming_the_folder(tmp_path):
  """The output folder on a 300 KiB tmpfs (a mount namespace of the test's own, `unshare -rm`)
  fills up during the run: one `cvpipe: error:` line naming it, exit 2, no traceback."""
  data = tmp_path / "data"
  write_folder(data, digit_images(classes=(0, 1), per_class=6))
  out = tmp_path / "out"
  out.mkdir()
  cli = f"{sys.executable} -m pipelines.cli run classification --data {data} --output {out}"
  proc = subprocess.run(
      ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=300k tmpfs {out} && exec {cli}"],
      capture_output=True, text=True, timeout=600, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert proc.returncode == 2, proc.stderr[-2000:]
  err = proc.stderr.strip().splitlines()
  assert len(err) == 1, proc.stderr
  assert err[0].startswith("cvpipe: error: ") and " failed: no space left on device writing to " \
      f"{out}" in err[0], err[0]
  assert "MiB free there" in err[0] and "(full log: " in err[0]
  assert "Traceback" not in proc.stdout + proc.stderr


def test_a_run_keeps_its_temporary_files_under_its_output_and_removes_them(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  before = tempfile.gettempdir()
  (tmp_path / runners.TEMP_DIR / "12345").mkdir(parents=True)  # what a killed run left
  (tmp_path / runners.TEMP_DIR / "12345" / "tfx_ephemeral.tar.gz").write_bytes(b"x")
  with runners.run_temp_dir(str(tmp_path)) as path:
    assert tempfile.gettempdir() == path and path.startswith(str(tmp_path / runners.TEMP_DIR))
    assert not (tmp_path / runners.TEMP_DIR / "12345").exists()
    made = tempfile.mkdtemp()
    child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert made.startswith(path) and child.startswith(path)  # children (Beam workers) too
  assert tempfile.gettempdir() == before
  assert not (tmp_path / runners.TEMP_DIR).exists()
