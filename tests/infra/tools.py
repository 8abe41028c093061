"""Finds the infrastructure tools the infra tests drive (installed by install.sh)."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOLS_VENV = REPO / os.environ.get("CVPIPE_TOOLS_VENV", ".venv-tools") / "bin"
# Checkov must not try to reach its SaaS from a sandbox.
OFFLINE_ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}


def tool(name: str) -> str:
  """Path of a tool from .venv-tools (installed by ./install.sh); fails clearly when missing."""
  candidate = TOOLS_VENV / name
  if candidate.exists():
    return str(candidate)
  found = shutil.which(name)
  if found:
    return found
  pytest.fail(f"{name} is not installed: run ./install.sh (it installs requirements/tools.txt "
              f"into {TOOLS_VENV.parent})")


def system_tool(name: str) -> str:
  """A tool from the OS (kubectl, terraform): skipped with the reason when absent."""
  found = shutil.which(name)
  if not found:
    pytest.skip(f"{name} is not on this machine")
  return found


def checkov(*args: str) -> tuple[list[tuple[str, str]], int]:
  """Runs checkov offline; returns (failed (check id, resource) pairs, number passed)."""
  proc = subprocess.run([tool("checkov"), *args, "--skip-download", "--quiet", "-o", "json"],
                        capture_output=True, text=True, env=OFFLINE_ENV)
  report = json.loads(proc.stdout)
  report = report[0] if isinstance(report, list) else report
  failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
  return failed, report["summary"]["passed"]
