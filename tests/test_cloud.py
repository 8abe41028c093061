"""Vertex AI submission and GCS publishing (against gcp-storage-emulator on loopback)."""

import os
import subprocess
import sys
from unittest import mock

import pytest

from pipelines import cli, cloud


def test_submit_without_credentials_is_a_clear_error_not_a_traceback(tmp_path):
  env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
  # No ADC file, no gcloud config, and no probe of a metadata server.
  env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="True")
  proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "submit", "classification",
                         "--project", "p", "--region", "europe-west4", "--data", "gs://b/data"],
                        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
  assert proc.returncode == 2
  assert "cvpipe: error: no Google Cloud credentials found" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_submit_builds_a_pipeline_job_from_the_compiled_json(tmp_path):
  seen = {}
  job = mock.MagicMock()
  job.resource_name = "projects/p/locations/r/pipelineJobs/cvpipe-1"

  def fake_job(**kwargs):
    seen.update(kwargs)
    seen["template_exists"] = os.path.exists(kwargs["template_path"])
    return job

  config = tmp_path / "c.yaml"
  config.write_text("infra:\n  kubeflow:\n    pipeline_root: gs://b/root\n")
  with mock.patch("google.auth.default", return_value=(mock.MagicMock(), "p")), \
      mock.patch("google.cloud.aiplatform.PipelineJob", side_effect=fake_job):
    rc = cli.main(["submit", "classification", "--project", "p", "--region", "r",
                   "--data", "gs://b/data", "--config", str(config),
                   "--service-account", "sa@p.iam.gserviceaccount.com"])
  assert rc == 0
  assert seen["template_exists"]
  assert (seen["project"], seen["location"], seen["pipeline_root"]) == ("p", "r", "gs://b/root")
  assert seen["display_name"] == "cvpipe-classification"
  job.submit.assert_called_once_with(service_account="sa@p.iam.gserviceaccount.com")


def test_publish_uploads_files_to_the_bucket(gcs_emulator, tmp_path):
  gcs_emulator.create_bucket("reports")
  (tmp_path / "r").mkdir()
  (tmp_path / "r" / "report.html").write_text("<html>ok</html>")
  (tmp_path / "r" / "sub").mkdir()
  (tmp_path / "r" / "sub" / "model.tflite").write_bytes(b"\x00tfl")
  written = cloud.publish(cloud.tree_files(str(tmp_path / "r"), "run1"), "gs://reports/cvpipe",
                          client=gcs_emulator)
  assert sorted(written) == ["gs://reports/cvpipe/run1/report.html",
                             "gs://reports/cvpipe/run1/sub/model.tflite"]
  blob = gcs_emulator.bucket("reports").blob("cvpipe/run1/report.html")
  assert blob.download_as_bytes() == b"<html>ok</html>"


def test_publish_to_a_missing_bucket_is_a_cloud_error(gcs_emulator, tmp_path):
  (tmp_path / "f").write_text("x")
  with pytest.raises(cloud.CloudError, match="cannot publish to gs://no-such-bucket"):
    cloud.publish([(str(tmp_path / "f"), "f")], "gs://no-such-bucket", client=gcs_emulator)


def test_bad_destination_uri():
  with pytest.raises(cloud.CloudError, match="not a gs://"):
    cloud.split_gs_uri("s3://x")


def _fake_pipeline_job(seen, job):
  def make(**kwargs):
    seen.update(kwargs)
    path = kwargs["template_path"]
    seen["template"] = open(path).read() if os.path.exists(path) else path
    return job
  return make


def test_submit_uploads_the_yaml_to_the_registry_and_runs_it_from_there(tmp_path):
  seen, uploads = {}, []
  job = mock.MagicMock()
  job.resource_name = "projects/p/locations/r/pipelineJobs/cvpipe-2"

  class FakeRegistry:
    def __init__(self, host, auth):
      uploads.append({"host": host, "auth": auth})

    def upload_pipeline(self, file_name, tags, extra_headers):
      uploads[-1].update(text=open(file_name).read(), tags=tags, headers=extra_headers)
      return "cvpipe-classification", "sha256:abc"

  registry = "https://europe-west4-kfp.pkg.dev/p/cvpipe-pipelines"
  with mock.patch("google.auth.default", return_value=(mock.MagicMock(), "p")), \
      mock.patch("kfp.registry.RegistryClient", FakeRegistry), \
      mock.patch("google.cloud.aiplatform.PipelineJob", side_effect=_fake_pipeline_job(seen, job)):
    rc = cli.main(["submit", "classification", "--project", "p", "--region", "europe-west4",
                   "--data", "gs://b/data", "--registry", registry, "--tag", "v1"])
  assert rc == 0
  assert uploads[0]["host"] == registry and uploads[0]["tags"] == ["v1"]
  assert uploads[0]["text"].startswith("# cvpipe pipeline cvpipe-classification")
  assert "defaultPipelineRoot" in uploads[0]["text"]  # the YAML PipelineSpec, not the JSON job
  assert seen["template_path"] == f"{registry}/cvpipe-classification/sha256:abc"


def test_schedule_creates_a_vertex_schedule_with_the_runs_data(tmp_path):
  seen = {}
  job = mock.MagicMock()
  job.create_schedule.return_value.resource_name = "projects/p/locations/r/schedules/7"
  config = tmp_path / "c.yaml"
  config.write_text("infra:\n  kubeflow:\n    pipeline_root: gs://b/root\n"
                    "    kms_key_name: projects/p/locations/r/keyRings/k/cryptoKeys/c\n")
  with mock.patch("google.auth.default", return_value=(mock.MagicMock(), "p")), \
      mock.patch("google.cloud.aiplatform.PipelineJob", side_effect=_fake_pipeline_job(seen, job)):
    rc = cli.main(["schedule", "classification", "--project", "p", "--region", "r",
                   "--config", str(config), "--data", "gs://b/data", "--run-data",
                   "gs://b/incoming/", "--cron", "TZ=Europe/Berlin 0 3 * * 1",
                   "--service-account", "sa@p.iam.gserviceaccount.com"])
  assert rc == 0
  assert "componentInputParameter: data" in seen["template"]  # compiled YAML
  assert seen["parameter_values"] == {"data": "gs://b/incoming/"}
  assert seen["encryption_spec_key_name"] == "projects/p/locations/r/keyRings/k/cryptoKeys/c"
  job.create_schedule.assert_called_once_with(
      cron="TZ=Europe/Berlin 0 3 * * 1", display_name="cvpipe-classification-schedule",
      max_concurrent_run_count=1, service_account="sa@p.iam.gserviceaccount.com")


def test_a_registry_that_is_not_kfp_is_a_clear_error(tmp_path):
  from pipelines import cloud  # pylint: disable=g-import-not-at-top
  with pytest.raises(cloud.CloudError, match="not an Artifact Registry KFP repository"):
    cloud.upload_template(str(tmp_path / "p.yaml"), "https://europe-docker.pkg.dev/p/r", [])
