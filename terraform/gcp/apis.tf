resource "google_project_service" "apis" {
  for_each = toset([
    "aiplatform.googleapis.com",
    "dataflow.googleapis.com",
    "artifactregistry.googleapis.com",
    "container.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "compute.googleapis.com",
    "cloudkms.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}
