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
