"""The container image (issue: an image that builds): its dependency set, the platform check of
every pin, the `pip check` it runs, the Dockerfile's stages and lint. No Docker engine here: what
a build would do is checked piece by piece."""

import importlib.util
import re
import subprocess
import sys

import pytest

from tests.infra.tools import REPO
from tests.infra.tools import tool

spec = importlib.util.spec_from_file_location("image_deps", REPO / "requirements/image_deps.py")
image_deps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(image_deps)

DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_image_lock_is_the_lock_without_tests_and_notebooks():
  lock, image = image_deps.read_pins(image_deps.LOCK), image_deps.read_pins(image_deps.IMAGE_LOCK)
  expected = image_deps.image_names(image_deps.top_level(), image_deps.installed_graph())
  assert set(image) == expected & set(lock), (
      "requirements/lock-image.txt is stale: run `python requirements/image_deps.py write`")
  assert all(lock[name] == version for name, version in image.items())  # same pins
  left_out = set(lock) - set(image)
  assert set(image_deps.DEV_ONLY) <= left_out
  assert {"notebook", "jupyterlab", "jupyter-server", "nbconvert"} <= left_out
  assert {"tensorflow", "tfx", "apache-beam", "opencv-python-headless", "annoy",
          "pyfarmhash", "tensorflow-model-analysis", "ipywidgets"} <= set(image)


def test_runtime_imports_without_the_left_out_packages():
  """Every cvpipe module, TFX's Kubeflow V2 entrypoint and Beam's worker main import with the
  left-out distributions' modules made unimportable (TFMA and TFDV only lose notebook views)."""
  program = """
import importlib, importlib.metadata as md, os, pkgutil, sys
sys.path.insert(0, "requirements")
import image_deps
omitted = set(image_deps.read_pins(image_deps.LOCK)) - set(image_deps.read_pins(image_deps.IMAGE_LOCK))
blocked = {m for m, d in md.packages_distributions().items()
           if all(image_deps.normalise(x) in omitted for x in d)}
assert {"notebook", "jupyterlab", "jupyter_server", "pytest"} <= blocked, blocked
class Block:
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in blocked:
      raise ModuleNotFoundError("not in the image: " + name)
sys.meta_path.insert(0, Block())
names = ["tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
         "tfx.scripts.run_executor", "apache_beam.runners.worker.sdk_worker_main",
         "tensorflow_model_analysis", "tensorflow_data_validation"]
for pkg in ("pipelines", "components"):
  names += [m.name for m in pkgutil.walk_packages([pkg], prefix=pkg + ".")]
for name in names:
  importlib.import_module(name)
import tensorflow_model_analysis as tfma
# TFMA swallows a failed import (e.g. of ipywidgets) and then lacks most of its API.
assert hasattr(tfma, "default_eval_shared_model") and hasattr(tfma, "load_metrics")
print("imported", len(names))
"""
  proc = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True,
                        text=True, timeout=600, env={"TF_USE_LEGACY_KERAS": "1",
                                                     "TF_CPP_MIN_LOG_LEVEL": "3",
                                                     "PATH": "/usr/bin:/bin"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Error importing" not in proc.stdout + proc.stderr
  assert int(re.search(r"imported (\d+)", proc.stdout).group(1)) > 100


TAGS = image_deps.image_platform_tags()


@pytest.mark.parametrize("files, ok", [
    (["x-1.0-py3-none-any.whl"], True),
    (["x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"], True),
    (["x-1.0-cp311-abi3-manylinux_2_28_x86_64.whl"], True),
    (["x-1.0-cp311-cp311-manylinux_2_39_x86_64.whl"], False),  # needs a newer glibc than 2.36
    (["x-1.0-cp312-cp312-manylinux2014_x86_64.whl"], False),  # another Python
    (["x-1.0-cp311-cp311-manylinux2014_aarch64.whl"], False),  # another architecture
    (["x-1.0-cp311-cp311-macosx_11_0_arm64.whl", "x-1.0.tar.gz"], False),
    (["x-1.1-py3-none-any.whl"], False),  # not the pinned version
])
def test_wheel_for_the_image_platform(files, ok):
  assert image_deps.has_wheel(files, "1.0", TAGS) is ok


def test_check_wheels_names_a_pin_nobody_builds():
  index = {"annoy": ["annoy-1.17.3.tar.gz"], "numpy": ["numpy-1.26.4-cp311-cp311-"
                                                        "manylinux_2_17_x86_64.whl"],
           "newthing": ["newthing-0.1.tar.gz"],
           "pyfarmhash": ["pyfarmhash-0.3.2-cp311-cp311-manylinux2014_x86_64.whl"]}
  pins = {"annoy": "1.17.3", "numpy": "1.26.4", "newthing": "0.1", "pyfarmhash": "0.3.2"}
  problems, notes = image_deps.check_wheels(pins, index.__getitem__)
  assert len(problems) == 1 and problems[0].startswith("newthing==0.1: no wheel for CPython 3.11")
  assert notes == ["pyfarmhash==0.3.2 has a wheel now; BUILT_IN_BUILDER need not build it"]


def test_pip_check_allows_only_the_declared_omissions():
  output = ("tensorflow-model-analysis 0.47.1 requires ipywidgets, which is not installed.\n"
            "tensorflow-model-analysis 0.47.1 requires ipython, which is not installed.\n"
            "tfx 1.16.0 requires docker, which is not installed.\n"
            "kfp 2.13.0 has requirement protobuf<5, but you have protobuf 5.1.\n")
  bad, allowed = image_deps.allowed_pip_check(output, {"ipywidgets", "ipython"})
  assert allowed == 2 and bad == [
      "tfx 1.16.0 requires docker, which is not installed.",
      "kfp 2.13.0 has requirement protobuf<5, but you have protobuf 5.1."]
  assert image_deps.allowed_pip_check("No broken requirements found.\n", set()) == ([], 0)


def stage(name):
  """The Dockerfile text of stage `name` (FROM ... AS name up to the next FROM)."""
  match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.S | re.M)
  assert match, f"no stage {name}"
  return match.group(1)


def test_dockerfile_stages():
  lock = image_deps.read_pins(image_deps.LOCK)
  beam = re.search(r"^ARG BEAM_VERSION=(\S+)", DOCKERFILE, re.M).group(1)
  assert beam == lock["apache-beam"], "the Beam SDK image must match the locked apache-beam"
  assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam" in DOCKERFILE
  builder, runtime = stage("builder"), stage("runtime")
  assert "build-essential" in builder and "-r requirements/lock-image.txt" in builder
  assert "image_deps.py pip-check" in builder
  assert "apt-get" not in runtime and "pip install" not in runtime  # no compilers, no builds
  assert "COPY --from=builder /opt/cvpipe/.venv /opt/cvpipe/.venv" in runtime
  assert "COPY --from=beam /opt/apache/beam /opt/apache/beam" in runtime
  assert DOCKERFILE.rstrip().endswith('ENTRYPOINT ["/opt/apache/beam/boot"]')
  assert re.search(r"^USER 10001$", runtime, re.M)


def test_dockerfile_lint():
  proc = subprocess.run([tool("hadolint"), "--failure-threshold", "info", "-"],
                        input=DOCKERFILE, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  bad = DOCKERFILE.replace("apt-get install -y --no-install-recommends", "apt-get install -y")
  assert subprocess.run([tool("hadolint"), "-"], input=bad, capture_output=True,
                        text=True).returncode != 0  # the lint does catch a bad line
