"""terraform/: formatted; AWS initialised from the local provider mirror, validated and planned
with dummy credentials; GCP (no google provider offline) checked with fmt and checkov."""

import json
import os
import subprocess

import pytest

from tests.infra.tools import REPO, checkov, system_tool

TF = REPO / "terraform"
MIRROR = "/opt/tf-plugins"


def _terraform(*args, cwd, env=None):
  return subprocess.run([system_tool("terraform"), *args], cwd=cwd, capture_output=True,
                        text=True, env={**os.environ, **(env or {})})


def test_fmt_check():
  proc = _terraform("fmt", "-check", "-recursive", cwd=TF)
  assert proc.returncode == 0, f"unformatted: {proc.stdout}"


@pytest.fixture(scope="module")
def aws_dir(tmp_path_factory):
  system_tool("terraform")
  if not os.path.isdir(MIRROR):
    pytest.skip(f"no terraform provider mirror at {MIRROR}")
  env = {"TF_CLI_CONFIG_FILE": str(TF / "cli-config.tfrc"),
         "TF_DATA_DIR": str(tmp_path_factory.mktemp("tfdata"))}
  proc = _terraform("init", "-backend=false", "-input=false", "-no-color", cwd=TF / "aws", env=env)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  return env


def test_aws_validates(aws_dir):
  proc = _terraform("validate", "-no-color", cwd=TF / "aws", env=aws_dir)
  assert proc.returncode == 0, proc.stdout + proc.stderr


def test_aws_plans_with_dummy_credentials(aws_dir, tmp_path):
  env = {**aws_dir, "AWS_ACCESS_KEY_ID": "dummy", "AWS_SECRET_ACCESS_KEY": "dummy",
         "AWS_EC2_METADATA_DISABLED": "true"}
  plan = tmp_path / "plan.out"
  proc = _terraform("plan", "-refresh=false", "-input=false", "-lock=false", "-no-color",
                    "-var", "offline_plan=true", "-var", "account_id=123456789012",
                    f"-out={plan}", cwd=TF / "aws", env=env)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  shown = _terraform("show", "-json", str(plan), cwd=TF / "aws", env=env)
  changes = json.loads(shown.stdout)["resource_changes"]
  types = {c["type"] for c in changes}
  assert {"aws_s3_bucket", "aws_eks_cluster", "aws_eks_node_group", "aws_iam_role"} <= types
  # Scoped to serving: the compiled pipelines need Vertex AI, so nothing here runs them.
  roles = {c["change"]["after"]["name"] for c in changes if c["type"] == "aws_iam_role"}
  assert "cvpipe-serving" in roles and not any("pipelines" in r for r in roles)
  assert "aws_ecr_repository" not in types
  assert all(c["change"]["actions"] == ["create"] for c in changes)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_checkov_finds_no_failed_check(cloud):
  failed, passed = checkov("-d", str(TF / cloud), "--framework", "terraform")
  assert not failed, failed
  assert passed > 30


def test_gcp_declares_the_required_resources():
  text = "".join(p.read_text() for p in (TF / "gcp").glob("*.tf"))
  for needle in ('"google_storage_bucket" "artifacts"', "uniform_bucket_level_access = true",
                 "versioning", '"google_artifact_registry_repository"',
                 '"google_service_account" "pipelines"', '"google_service_account" "serving"',
                 "aiplatform.googleapis.com", "dataflow.googleapis.com",
                 "enable_autopilot    = true"):
    assert needle in text, needle


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_checkov_skip_hides_a_real_finding(cloud, tmp_path):
  """With the skip comments removed, checkov fails exactly the skipped checks: no skip that hides
  nothing (or names the wrong check)."""
  import re  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  copy = tmp_path / cloud
  shutil.copytree(TF / cloud, copy, ignore=shutil.ignore_patterns(".terraform*"))
  skipped = set()
  for path in copy.glob("*.tf"):
    text = path.read_text()
    skipped |= set(re.findall(r"#checkov:skip=(CKV\w+):", text))
    path.write_text(re.sub(r"[ \t]*#checkov:skip=.*\n", "", text))
  failed, _ = checkov("-d", str(copy), "--framework", "terraform")
  assert {check for check, _ in failed} == skipped


def test_gcp_network_nat_dataflow_subnetwork_and_optional_cmek():
  text = "".join(p.read_text() for p in (TF / "gcp").glob("*.tf"))
  for needle in ('"google_compute_router_nat" "nat"',
                 'source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"',
                 '"google_compute_subnetwork" "dataflow"', "private_ip_google_access = true",
                 "enable_private_nodes    = true",
                 "subnetwork          = google_compute_subnetwork.gke.id",
                 '"--no_use_public_ips"', 'variable "kms_key_name"', "default_kms_key_name",
                 "kms_key_name  = var.kms_key_name", '"google_kms_crypto_key_iam_member" "cmek"',
                 "gcp-sa-aiplatform.iam.gserviceaccount.com"):
    assert needle in text, needle
