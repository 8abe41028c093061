"""k8s/: every overlay renders with kustomize, validates against the Kubernetes schema, and passes
checkov with no failed check (skips are justified in annotations). The prod overlay's files that
name a deployment's bucket and account are written by `cvpipe serving-config`, as a user does."""

import shutil
import subprocess

import pytest
import yaml

from tests.infra.tools import REPO, checkov, system_tool, tool

OVERLAYS = ["dev", "prod"]
BUCKET = "gs://acme-cvpipe/serving"
ACCOUNT = "cvpipe-serving@acme-ml.iam.gserviceaccount.com"


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tmp_path_factory):
  from pipelines import serving_config  # pylint: disable=g-import-not-at-top
  kubectl = system_tool("kubectl")
  tree = tmp_path_factory.mktemp("k8s-tree") / "k8s"
  shutil.copytree(REPO / "k8s", tree)
  if request.param == "prod":
    serving_config.write_overlay(str(tree / "overlays" / "prod"), BUCKET, ACCOUNT)
  out = subprocess.run([kubectl, "kustomize", str(tree / "overlays" / request.param)],
                       capture_output=True, text=True, check=True).stdout
  path = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
  path.write_text(out)
  return request.param, path, [d for d in yaml.safe_load_all(out) if d]


def _by_kind(docs, kind):
  return [d for d in docs if d["kind"] == kind]


def test_overlay_has_serving_resources_in_its_namespace(rendered):
  overlay, _, docs = rendered
  kinds = {d["kind"] for d in docs}
  assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "ServiceAccount",
          "Namespace"} <= kinds
  namespace = {"dev": "cvpipe-dev", "prod": "cvpipe"}[overlay]
  assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")


def test_deployment_is_hardened_and_probed(rendered):
  _, _, docs = rendered
  deployment = _by_kind(docs, "Deployment")[0]
  pod = deployment["spec"]["template"]["spec"]
  container = pod["containers"][0]
  assert container["image"].startswith("tensorflow/serving:")
  assert pod["securityContext"]["runAsNonRoot"] is True
  assert container["securityContext"]["readOnlyRootFilesystem"] is True
  assert container["securityContext"]["allowPrivilegeEscalation"] is False
  assert container["readinessProbe"]["httpGet"]["port"] == "http"
  assert "livenessProbe" in container
  assert {"cpu", "memory"} <= set(container["resources"]["requests"])
  assert {"cpu", "memory"} <= set(container["resources"]["limits"])
  assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
  assert "--model_config_file=/config/models.config" in container["args"]


def test_model_config_serves_several_models_and_versions(rendered):
  overlay, _, docs = rendered
  config = _by_kind(docs, "ConfigMap")[0]["data"]["models.config"]
  assert "model_version_policy" in config
  from pipelines import serving_config  # pylint: disable=g-import-not-at-top
  models = [name for name, _, _ in serving_config.served_models()]
  assert len(models) >= 9 and all(f'name: "{m}"' in config for m in models)
  if overlay == "prod":
    assert all(f'base_path: "{BUCKET}/{m}"' in config for m in models)
    account = _by_kind(docs, "ServiceAccount")[0]["metadata"]["annotations"]
    assert account["iam.gke.io/gcp-service-account"] == ACCOUNT
  else:
    volumes = _by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["volumes"]
    assert any("persistentVolumeClaim" in v for v in volumes)


def test_hpa_targets_the_deployment(rendered):
  _, _, docs = rendered
  hpa = _by_kind(docs, "HorizontalPodAutoscaler")[0]
  assert hpa["spec"]["scaleTargetRef"]["name"] == "tf-serving"
  assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_kubernetes_validate_passes(rendered):
  _, path, _ = rendered
  proc = subprocess.run([tool("kubernetes-validate"), "-k", "1.31.0", "--strict", "--quiet",
                         str(path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_finds_no_failed_check(rendered):
  _, path, _ = rendered
  failed, passed = checkov("-f", str(path), "--framework", "kubernetes")
  assert not failed, failed
  assert passed > 50


def test_base_models_config_is_generated_from_the_task_registry():
  from pipelines import serving_config  # pylint: disable=g-import-not-at-top
  assert (REPO / "k8s/base/models.config").read_text() == serving_config.models_config(
      "/models"), "stale: cvpipe serving-config --base-path /models > k8s/base/models.config"


def test_no_placeholders_left_in_deployable_files():
  for folder in ("k8s", "terraform"):
    for path in (REPO / folder).rglob("*"):
      if path.is_file() and ".terraform" not in path.parts:
        assert "CHANGE-ME" not in path.read_text(errors="ignore"), path


@pytest.mark.parametrize("base, account, message", [
    ("/models", ACCOUNT, "reads models from GCS"),
    (BUCKET, "cvpipe-serving", "not a GCP service account"),
])
def test_overlay_generation_refuses_wrong_values(tmp_path, base, account, message):
  from pipelines import serving_config  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=message):
    serving_config.write_overlay(str(tmp_path), base, account)


def test_cli_writes_the_overlay_or_says_what_is_missing(tmp_path, capsys):
  from pipelines import cli  # pylint: disable=g-import-not-at-top
  assert cli.main(["serving-config", "--base-path", BUCKET, "--overlay", str(tmp_path),
                   "--serving-account", ACCOUNT]) == 0
  assert (tmp_path / "models.config").exists() and (tmp_path / "serviceaccount.yaml").exists()
  assert cli.main(["serving-config", "--base-path", BUCKET, "--overlay", str(tmp_path)]) == 2
  assert "--overlay needs --serving-account" in capsys.readouterr().err
