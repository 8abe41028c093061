output "artifacts_bucket" {
  description = "Bucket for infra.kubeflow.pipeline_root (gs://BUCKET/pipeline_root) and serving_dir (gs://BUCKET/serving)."
  value       = google_storage_bucket.artifacts.name
}

output "pipeline_image_repository" {
  description = "Push the pipeline image here; use it as infra.kubeflow.image."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.pipeline.repository_id}"
}

output "pipelines_service_account" {
  description = "Service account to submit Vertex pipeline jobs with (cvpipe submit --service-account)."
  value       = google_service_account.pipelines.email
}

output "serving_service_account" {
  description = "Annotate the tf-serving Kubernetes service account with this (Workload Identity)."
  value       = google_service_account.serving.email
}

output "gke_cluster" {
  description = "GKE Autopilot cluster for TF Serving."
  value       = google_container_cluster.serving.name
}

output "dataflow_beam_args" {
  description = "Append to infra.kubeflow.beam_pipeline_args: Dataflow workers in the private subnetwork, without public IPs, as the pipelines account."
  value = [
    "--subnetwork=regions/${var.region}/subnetworks/${google_compute_subnetwork.dataflow.name}",
    "--no_use_public_ips",
    "--service_account_email=${google_service_account.pipelines.email}",
  ]
}

output "kms_key_name" {
  description = "infra.kubeflow.kms_key_name (empty: Google-managed keys)."
  value       = var.kms_key_name
}

output "pipeline_template_registry" {
  description = "cvpipe submit/schedule --registry: the KFP repository of compiled pipeline templates."
  value       = "https://${var.region}-kfp.pkg.dev/${var.project}/${google_artifact_registry_repository.templates.repository_id}"
}
