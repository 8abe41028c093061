# The pipeline image (Dockerfile at the repo root): REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG
resource "google_artifact_registry_repository" "pipeline" {
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "cvpipe pipeline images"
  labels        = var.labels
  kms_key_name  = var.kms_key_name == "" ? null : var.kms_key_name
  docker_config {
    immutable_tags = true
  }
  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.cmek]
}

# Compiled pipeline templates (cvpipe submit/schedule --registry): a KFP repository that Vertex AI
# Pipelines runs templates from (https://REGION-kfp.pkg.dev/PROJECT/NAME-pipelines).
resource "google_artifact_registry_repository" "templates" {
  location      = var.region
  repository_id = "${var.name}-pipelines"
  format        = "KFP"
  description   = "cvpipe pipeline templates"
  labels        = var.labels
  kms_key_name  = var.kms_key_name == "" ? null : var.kms_key_name
  depends_on    = [google_project_service.apis, google_kms_crypto_key_iam_member.cmek]
}

resource "google_artifact_registry_repository_iam_member" "pipelines_templates" {
  location   = google_artifact_registry_repository.templates.location
  repository = google_artifact_registry_repository.templates.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.pipelines.email}"
}
