"""Google Cloud hand-offs: submit a compiled pipeline to Vertex AI, publish run outputs to GCS.

Credentials come from Application Default Credentials; their absence is a `CloudError` with what
to do, never a traceback.
"""

from __future__ import annotations

import os
from typing import Iterable


class CloudError(RuntimeError):
  """A cloud operation could not be done; the message says why and what to do."""


def _credentials():
  import google.auth  # pylint: disable=g-import-not-at-top
  from google.auth import exceptions  # pylint: disable=g-import-not-at-top
  try:
    credentials, _ = google.auth.default(
        scopes=["https://www.googleapis.com/auth/cloud-platform"])
  except exceptions.DefaultCredentialsError as e:
    raise CloudError(
        "no Google Cloud credentials found: run `gcloud auth application-default login`, or set "
        f"GOOGLE_APPLICATION_CREDENTIALS to a service-account key file ({e})") from None
  return credentials


def submit_vertex(template_path: str, project: str, region: str, pipeline_root: str,
                  display_name: str, service_account: str | None = None,
                  enable_caching: bool = True, labels: dict[str, str] | None = None,
                  kms_key_name: str = "") -> str:
  """Submits a compiled Kubeflow V2 pipeline (YAML or JSON) as a Vertex AI PipelineJob.

  Returns:
    The job's resource name.
  Raises:
    CloudError: without credentials, or when Vertex AI rejects the job.
  """
  from google.api_core import exceptions as api_exceptions  # pylint: disable=g-import-not-at-top
  credentials = _credentials()
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  try:
    job = aiplatform.PipelineJob(
        display_name=display_name, template_path=template_path, pipeline_root=pipeline_root,
        project=project, location=region, credentials=credentials,
        enable_caching=enable_caching, labels=labels or {},
        encryption_spec_key_name=kms_key_name or None)
    job.submit(service_account=service_account)
  except api_exceptions.GoogleAPICallError as e:
    raise CloudError(f"Vertex AI rejected the pipeline job: {e}") from None
  return job.resource_name


def upload_template(template_path: str, registry: str, tags: list[str],
                    description: str = "", client=None) -> str:
  """Uploads a compiled pipeline YAML to an Artifact Registry KFP repository
  (https://REGION-kfp.pkg.dev/PROJECT/REPO: terraform/gcp output pipeline_template_registry).

  Returns:
    The template's URI in the registry (`<registry>/<package>/<version>`), which a PipelineJob or
    a schedule can run.
  Raises:
    CloudError: a registry that is not an https KFP repository, no credentials, or a refusal.
  """
  import requests  # pylint: disable=g-import-not-at-top
  if not registry.startswith("https://") or "-kfp.pkg.dev/" not in registry:
    raise CloudError(f"{registry!r} is not an Artifact Registry KFP repository "
                     "(https://REGION-kfp.pkg.dev/PROJECT/REPO)")
  if client is None:
    from kfp import registry as kfp_registry  # pylint: disable=g-import-not-at-top
    client = kfp_registry.RegistryClient(host=registry, auth=_credentials())
  try:
    package, version = client.upload_pipeline(file_name=template_path, tags=tags or None,
                                              extra_headers={"description": description}
                                              if description else None)
  except requests.HTTPError as e:
    raise CloudError(f"the registry {registry} refused the pipeline: {e}") from None
  return f"{registry.rstrip('/')}/{package}/{version}"


def schedule_vertex(template_path: str, project: str, region: str, pipeline_root: str,
                    display_name: str, cron: str, service_account: str | None = None,
                    max_concurrent_runs: int = 1, parameter_values: dict | None = None,
                    kms_key_name: str = "") -> str:
  """Creates a Vertex AI pipeline schedule (cron, e.g. "TZ=Europe/Berlin 0 3 * * *") that runs
  the template (a file or a registry URI) with `parameter_values` (e.g. {"data": gs://...}).

  Returns:
    The schedule's resource name.
  """
  from google.api_core import exceptions as api_exceptions  # pylint: disable=g-import-not-at-top
  credentials = _credentials()
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  try:
    job = aiplatform.PipelineJob(
        display_name=display_name, template_path=template_path, pipeline_root=pipeline_root,
        project=project, location=region, credentials=credentials,
        parameter_values=parameter_values or {}, encryption_spec_key_name=kms_key_name or None)
    schedule = job.create_schedule(cron=cron, display_name=f"{display_name}-schedule",
                                   max_concurrent_run_count=max_concurrent_runs,
                                   service_account=service_account)
  except api_exceptions.GoogleAPICallError as e:
    raise CloudError(f"Vertex AI rejected the schedule: {e}") from None
  return schedule.resource_name


def split_gs_uri(uri: str) -> tuple[str, str]:
  if not uri.startswith("gs://") or len(uri) <= 5:
    raise CloudError(f"{uri!r} is not a gs://bucket[/prefix] URI")
  bucket, _, prefix = uri[5:].partition("/")
  return bucket, prefix.strip("/")


def publish(files: Iterable[tuple[str, str]], destination: str, client=None) -> list[str]:
  """Uploads local files to `destination` (gs://bucket/prefix) with google-cloud-storage.

  Args:
    files: (local path, path relative to the destination) pairs.
    client: a `google.cloud.storage.Client`; by default one from Application Default Credentials.
  Returns:
    The gs:// URIs written.
  """
  from google.api_core import exceptions as api_exceptions  # pylint: disable=g-import-not-at-top
  from google.cloud import storage  # pylint: disable=g-import-not-at-top
  bucket_name, prefix = split_gs_uri(destination)
  if client is None:
    client = storage.Client(credentials=_credentials())
  bucket = client.bucket(bucket_name)
  written = []
  try:
    for local, rel in files:
      name = f"{prefix}/{rel}" if prefix else rel
      bucket.blob(name).upload_from_filename(local)
      written.append(f"gs://{bucket_name}/{name}")
  except api_exceptions.GoogleAPICallError as e:
    raise CloudError(f"cannot publish to {destination}: {e}") from None
  return written


def tree_files(folder: str, under: str) -> list[tuple[str, str]]:
  """(local path, `under`/relative path) for every file below `folder`."""
  pairs = []
  for root, _, files in os.walk(folder):
    for name in sorted(files):
      path = os.path.join(root, name)
      pairs.append((path, f"{under}/{os.path.relpath(path, folder)}"))
  return pairs
