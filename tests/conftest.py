"""Shared test setup: tf-keras for TFX, quiet TensorFlow, tiny real images built in the test."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def worker_threads(cpus: int | None, workers: int) -> int | None:
  """TensorFlow's thread pools for one of `workers` pytest-xdist processes on `cpus` cores: the
  cores shared out (at least 1), or None (TensorFlow's default: every core) when one process
  runs the tests. Two workers on 2 cores each with 2-thread pools (plus oneDNN's OpenMP threads,
  plus the processes the DAGs start) oversubscribe the cores: the four heaviest e2e modules took
  326 / 289 s with the default pools and 284 / 280 s with one thread each (two runs each, one
  session)."""
  if workers <= 1 or not cpus:
    return None
  return max(1, cpus // workers)


_THREADS = worker_threads(os.cpu_count(), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
if _THREADS:  # before TensorFlow starts its pools; processes the tests start inherit it
  for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, str(_THREADS))

import pipelines  # noqa: E402,F401  TensorFlow's environment (Keras 2, oneDNN), before TF loads

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _private_temp_dir(tmp_path_factory):
  """Everything the tests (and the processes they start) put in the system temp folder goes to
  one folder of this pytest process, removed at the end, as `runners.run_temp_dir` does for a
  run: Beam's `beam-temp*` and `beam-pipeline-temp*`, TF's and tf.Transform's `tmp*` folders of
  tests that run pipelines or libraries directly. Before this, a clean-clone suite left ~90
  folders in /tmp."""
  from pipelines import runners  # pylint: disable=g-import-not-at-top
  with runners.run_temp_dir(str(tmp_path_factory.mktemp("system-temp"))) as path:
    yield path


@pytest.fixture(autouse=True)
def _same_random_state():
  """Every test starts from the same random state (Python, numpy, TensorFlow), whichever tests
  ran before it in its process: pytest-xdist hands files to workers by timing, so the order is
  not fixed, and an unseeded training test once fell to mIoU 0.43 in one order."""
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)


def digit_images(classes=(0, 1, 7), per_class=12, size=16):
  """Real handwritten digits from scikit-learn, upscaled to `size` px, as uint8 arrays by class."""
  from sklearn.datasets import load_digits
  digits = load_digits()
  out = {}
  for c in classes:
    picks = np.flatnonzero(digits.target == c)[:per_class]
    out[str(c)] = [cv2.resize((digits.images[i] * 255 / 16).astype(np.uint8), (size, size),
                              interpolation=cv2.INTER_LINEAR) for i in picks]
  return out


def write_folder(root, images_by_class, ext=".png"):
  paths = []
  for label, images in images_by_class.items():
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
      path = folder / f"{i:03d}{ext}"
      assert cv2.imwrite(str(path), image)
      paths.append(path)
  return paths


@pytest.fixture
def digit_folder(tmp_path):
  """A folder tree of 3 classes x 12 real 16px digits."""
  root = tmp_path / "digits"
  write_folder(root, digit_images())
  return root


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
  """A gcp-storage-emulator on loopback (from .venv-tools, installed by install.sh).

  Yields a google-cloud-storage client bound to it; STORAGE_EMULATOR_HOST is set so Beam's gs://
  filesystem uses it too. tf.io.gfile cannot be pointed at it, so TF-side I/O stays local.
  """
  import pathlib
  import shutil
  import socket
  import subprocess
  import time
  from google.auth.credentials import AnonymousCredentials
  from google.cloud import storage
  repo = pathlib.Path(__file__).resolve().parents[1]
  exe = repo / ".venv-tools" / "bin" / "gcp-storage-emulator"
  exe = str(exe) if exe.exists() else shutil.which("gcp-storage-emulator")
  if not exe:
    pytest.fail("gcp-storage-emulator is not installed: run ./install.sh")
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  log = open(tmp_path_factory.mktemp("gcs") / "emulator.log", "w")
  proc = subprocess.Popen([exe, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
                          stdout=log, stderr=subprocess.STDOUT)
  host = f"http://127.0.0.1:{port}"
  deadline = time.monotonic() + 30
  while True:
    try:
      with socket.create_connection(("127.0.0.1", port), timeout=1):
        break
    except OSError:
      if time.monotonic() > deadline or proc.poll() is not None:
        proc.kill()
        pytest.fail(f"gcp-storage-emulator did not start on {host}")
      time.sleep(0.2)
  saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "NO_GCE_CHECK")}
  os.environ["STORAGE_EMULATOR_HOST"] = host
  # No credential lookup may probe a metadata server: only loopback is ever contacted.
  os.environ["NO_GCE_CHECK"] = "True"
  from unittest import mock
  # Beam's gs:// client connects anonymously to the emulator instead of retrying for credentials.
  no_credentials = mock.patch("apache_beam.internal.gcp.auth.get_service_credentials",
                              return_value=None)
  no_credentials.start()
  try:
    yield storage.Client(project="test", credentials=AnonymousCredentials(),
                         client_options={"api_endpoint": host})
  finally:
    no_credentials.stop()
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v


def shuffled_labels(images_by_class, seed=0):
  """The same images under randomly permuted labels (same class sizes): data no model can learn,
  for candidates that must fail a blessing gate."""
  names = sorted(images_by_class)
  images = [im for n in names for im in images_by_class[n]]
  labels = np.repeat(names, [len(images_by_class[n]) for n in names])
  labels = np.random.default_rng(seed).permutation(labels)
  return {n: [im for im, label in zip(images, labels) if label == n] for n in names}


def pytest_collection_modifyitems(config, items):
  """Modules with a `slow` test run first. pytest-xdist (`--dist loadfile`) hands out whole files
  in collection order (`--no-loadscope-reorder` in pyproject.toml; its default order is by test
  count, which put the few-test, minutes-long DAG modules last, one worker running them alone
  while the other idled): the long modules start early and the many short ones even out the end."""
  del config
  slow = {item.path for item in items if item.get_closest_marker("slow")}
  items.sort(key=lambda item: item.path not in slow)  # stable: each module keeps its order


def pytest_addoption(parser):
  parser.addoption("--update-goldens", action="store_true", default=False,
                   help="rewrite the golden files under tests/testdata/ from the current code "
                        "instead of comparing with them")


@pytest.fixture
def update_goldens(request):
  return request.config.getoption("--update-goldens")
