# The pipeline image (Dockerfile at the repo root): REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG
resource "google_artifact_registry_repository" "pipeline" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption by default; set kms_key_name where policy requires CMEK
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "cvpipe pipeline images"
  labels        = var.labels
  docker_config {
    immutable_tags = true
  }
  depends_on = [google_project_service.apis]
}
