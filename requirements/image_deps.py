"""The container image's dependencies: the lock without what only notebooks and tests use, and
proof that each remaining pin installs on the image's platform.

  python requirements/image_deps.py write          # lock-image.txt from lock.txt + cvpipe.in
  python requirements/image_deps.py check-wheels   # each pin: a wheel for the image, or built
  python requirements/image_deps.py pip-check      # in the image: `pip check`, allowing only
                                                   # the omissions declared below

`write` and `check` read the dependency graph from the installed distributions' metadata (run it
with the project's .venv, which install.sh made from lock.txt); `check-wheels` asks the package
index (PEP 691 JSON; --index, default PyPI) which files each pin has.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LOCK = os.path.join(HERE, "lock.txt")
TOP_LEVEL = os.path.join(HERE, "cvpipe.in")
IMAGE_LOCK = os.path.join(HERE, "lock-image.txt")

# Requirements that run time never imports, with what needs them instead. Everything reachable
# only through them (the notebook and JupyterLab servers: notebook, jupyterlab, jupyter-server,
# nbconvert, ...) stays out of the image too. ipywidgets itself stays: `import
# tensorflow_model_analysis` swallows a failed import of it and then lacks most of its API
# (`tfma.default_eval_shared_model`: the Evaluator fails), and it imports IPython and ipykernel.
DEV_ONLY = {
    "pytest": "the test suite",
    "pytest-xdist": "the test suite",
    "widgetsnbextension": "ipywidgets' classic-notebook extension (it requires notebook, which "
                          "brings JupyterLab and the Jupyter server); never imported",
}
# Imported at run time without being required by what imports them: roots of their own.
UNDECLARED = {
    "ipykernel": "ipywidgets 7 imports ipykernel.comm but requires it only via widgetsnbextension",
}
# Pins with no wheel for the image's platform on PyPI: the Dockerfile's builder stage builds
# them (it has build-essential; the runtime stage gets the finished venv and has no compiler).
BUILT_IN_BUILDER = {
    "annoy": "C++ extension, sdist only",
    "pyfarmhash": "C extension, sdist only (tensorflow-data-validation)",
    "google-apitools": "pure Python, sdist only (apache-beam[gcp])",
    "kfp": "pure Python, sdist only",
    "kfp-server-api": "pure Python, sdist only (kfp)",
    "rouge-score": "pure Python, sdist only (captioning metrics)",
}
# The image: python:3.11-slim-bookworm, x86_64, glibc 2.36.
PYTHON = (3, 11)
GLIBC = (2, 36)
ARCH = "x86_64"


def normalise(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: str = LOCK) -> dict[str, str]:
  """name -> version of every `name==version` line."""
  pins = {}
  with open(path) as f:
    for line in f:
      line = line.split("#", 1)[0].strip()
      if "==" in line:
        name, version = line.split("==", 1)
        pins[normalise(name.split("[", 1)[0])] = version.strip()
  return pins


def top_level(path: str = TOP_LEVEL) -> list[str]:
  names = []
  with open(path) as f:
    for line in f:
      line = line.split("#", 1)[0].strip()
      if line:
        names.append(normalise(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0]))
  return names


def installed_graph() -> dict[str, list[str]]:
  """name -> its requirement strings, from the installed distributions (run with the .venv
  install.sh made from lock.txt)."""
  import importlib.metadata as md  # pylint: disable=g-import-not-at-top
  graph: dict[str, list[str]] = {}
  for dist in md.distributions():  # sys.path order: the first of a name is the one imported
    graph.setdefault(normalise(dist.metadata["Name"]), list(dist.requires or []))
  return graph


def image_names(roots: list[str], graph: dict[str, list[str]]) -> set[str]:
  """Every package reachable from `roots` (with the extras the way asks for; markers evaluated
  here: Linux, Python 3.11, as in the image) without passing through a DEV_ONLY package."""
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top
  wanted = {"tfx": {"kfp"}, "apache-beam": {"gcp"}}  # cvpipe.in's extras
  seen: dict[str, set[str]] = {}
  todo = [(r, frozenset(wanted.get(r, ()))) for r in [*roots, *UNDECLARED] if r not in DEV_ONLY]
  while todo:
    name, extras = todo.pop()
    if name in seen and extras <= seen[name]:
      continue
    seen[name] = seen.get(name, set()) | extras
    for raw in graph.get(name, ()):
      req = Requirement(raw)
      dep = normalise(req.name)
      if dep in DEV_ONLY:
        continue
      if req.marker and not any(req.marker.evaluate({"extra": e})
                                for e in ("", *seen[name])):
        continue
      todo.append((dep, frozenset(req.extras)))
  return set(seen)


def image_lock_text(pins: dict[str, str], names: set[str]) -> str:
  left_out = sorted(set(pins) - names)
  lines = ["# Generated by `python requirements/image_deps.py write` from lock.txt; do not edit.",
           "# The container image's pins: lock.txt without what only tests and notebooks use",
           f"# ({len(left_out)} left out: {', '.join(left_out)}).",
           *(f"{name}=={pins[name]}" for name in sorted(pins) if name in names)]
  return "\n".join(lines) + "\n"


def image_platform_tags() -> list:
  """Wheel tags pip accepts on the image (CPython 3.11, manylinux up to glibc 2.36, x86_64)."""
  from packaging import tags  # pylint: disable=g-import-not-at-top
  platforms = [f"manylinux_{GLIBC[0]}_{minor}_{ARCH}" for minor in range(GLIBC[1], 16, -1)]
  platforms += [f"manylinux2014_{ARCH}", f"manylinux_2_12_{ARCH}", f"manylinux2010_{ARCH}",
                f"manylinux_2_5_{ARCH}", f"manylinux1_{ARCH}"]
  return [*tags.cpython_tags(PYTHON, platforms=platforms),
          *tags.compatible_tags(PYTHON, platforms=platforms)]


def has_wheel(filenames: list[str], version: str, platform_tags) -> bool:
  """Whether one of the index's `filenames` is a wheel of `version` the image can install."""
  from packaging.utils import InvalidWheelFilename  # pylint: disable=g-import-not-at-top
  from packaging.utils import parse_wheel_filename  # pylint: disable=g-import-not-at-top
  from packaging.version import Version  # pylint: disable=g-import-not-at-top
  accepted = set(platform_tags)
  for filename in filenames:
    if not filename.endswith(".whl"):
      continue
    try:
      _, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
      continue
    if wheel_version == Version(version) and wheel_tags & accepted:
      return True
  return False


def check_wheels(pins: dict[str, str], files_of) -> tuple[list[str], list[str]]:
  """(problems, notes): a pin with no installable wheel that the builder does not build is a
  problem; a built pin that has a wheel after all is a note (the build could be dropped)."""
  platform_tags = image_platform_tags()
  with concurrent.futures.ThreadPoolExecutor(16) as pool:
    files = dict(zip(pins, pool.map(files_of, pins)))
  problems, notes = [], []
  for name, version in sorted(pins.items()):
    wheel = has_wheel(files[name], version, platform_tags)
    if not wheel and name not in BUILT_IN_BUILDER:
      problems.append(f"{name}=={version}: no wheel for CPython 3.11 manylinux {ARCH} "
                      f"(glibc <= {GLIBC[0]}.{GLIBC[1]}) on the index, and the builder stage "
                      "does not build it: add it to BUILT_IN_BUILDER or pin another version")
    elif wheel and name in BUILT_IN_BUILDER:
      notes.append(f"{name}=={version} has a wheel now; BUILT_IN_BUILDER need not build it")
  return problems, notes


def index_files(index: str):
  """A function name -> the index's file names for it (PEP 691 JSON simple API)."""

  def files_of(name: str) -> list[str]:
    request = urllib.request.Request(f"{index.rstrip('/')}/{name}/", headers={
        "Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
      return [f["filename"] for f in json.load(response)["files"]]

  return files_of


def allowed_pip_check(output: str, omitted: set[str]) -> tuple[list[str], int]:
  """(problems, omissions): the lines of `pip check` that are not "X requires Y, which is not
  installed" for a Y the image leaves out on purpose, and how many are."""
  bad, allowed = [], 0
  for line in output.splitlines():
    line = line.strip()
    m = re.match(r"^\S+ [\w.!+-]+ requires ([\w.-]+), which is not installed\.$", line)
    if m and normalise(m.group(1)) in omitted:
      allowed += 1
    elif line and line != "No broken requirements found.":
      bad.append(line)
  return bad, allowed


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  sub.add_parser("write")
  wheels = sub.add_parser("check-wheels")
  wheels.add_argument("--index", default="https://pypi.org/simple")
  sub.add_parser("pip-check")
  args = parser.parse_args(argv)
  if args.command == "write":
    pins = read_pins()
    with open(IMAGE_LOCK, "w") as f:
      f.write(image_lock_text(pins, image_names(top_level(), installed_graph())))
    print(f"wrote {IMAGE_LOCK}")
    return 0
  if args.command == "check-wheels":
    pins = read_pins(IMAGE_LOCK)
    problems, notes = check_wheels(pins, index_files(args.index))
    for line in notes:
      print(f"note: {line}")
    for line in problems:
      print(f"error: {line}", file=sys.stderr)
    print(f"{len(pins)} pins: {len(pins) - len(problems)} install on the image "
          f"({len(BUILT_IN_BUILDER)} built in the builder stage), {len(problems)} cannot")
    return 1 if problems else 0
  # pip-check
  proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
  omitted = set(read_pins(LOCK)) - set(read_pins(IMAGE_LOCK))
  bad, allowed = allowed_pip_check(proc.stdout, omitted)
  for line in bad:
    print(f"error: {line}", file=sys.stderr)
  print(f"pip check: {allowed} requirement(s) left out on "
        f"purpose (requirements/image_deps.py DEV_ONLY), {len(bad)} problem(s)")
  return 1 if bad else 0


if __name__ == "__main__":
  sys.exit(main())
