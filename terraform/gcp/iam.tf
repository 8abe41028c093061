# Least privilege: one account runs Vertex Pipelines (and the Dataflow jobs they start), one
# serves models. Bucket and registry grants are on those resources, not project-wide.
resource "google_service_account" "pipelines" {
  account_id   = "${var.name}-pipelines"
  display_name = "cvpipe Vertex AI Pipelines runner"
}

resource "google_service_account" "serving" {
  account_id   = "${var.name}-serving"
  display_name = "cvpipe TF Serving (GKE Workload Identity)"
}

resource "google_project_iam_member" "pipelines" {
  #checkov:skip=CKV_GCP_49:dataflow.developer/worker are needed to launch and run Dataflow jobs; actAs is granted on this account only (below)
  for_each = toset([
    "roles/aiplatform.user",    # create and run pipeline jobs
    "roles/dataflow.developer", # launch Dataflow jobs for Beam steps
    "roles/dataflow.worker",    # run as the Dataflow worker service account
    "roles/logging.logWriter",
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.pipelines.email}"
}

resource "google_service_account_iam_member" "pipelines_act_as_self" {
  # Vertex Pipelines and Dataflow launch workers as this same account.
  service_account_id = google_service_account.pipelines.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.pipelines.email}"
}

resource "google_storage_bucket_iam_member" "pipelines_artifacts" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.pipelines.email}"
}

resource "google_artifact_registry_repository_iam_member" "pipelines_pull" {
  location   = google_artifact_registry_repository.pipeline.location
  repository = google_artifact_registry_repository.pipeline.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.pipelines.email}"
}

resource "google_storage_bucket_iam_member" "serving_models" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.serving.email}"
}

resource "google_service_account_iam_member" "serving_workload_identity" {
  service_account_id = google_service_account.serving.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project}.svc.id.goog[${var.serving_namespace}/tf-serving]"
}
