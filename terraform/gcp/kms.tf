# Optional CMEK: with var.kms_key_name set, the artifacts bucket and the image repository are
# encrypted with it, and the service agents that encrypt for them (Cloud Storage, Artifact
# Registry, Vertex AI — pipeline jobs and custom training given infra.kubeflow.kms_key_name) may
# use it. The key itself is the organisation's (its rotation and IAM are governed there).
data "google_project" "this" {}

data "google_storage_project_service_account" "gcs" {}

locals {
  cmek = var.kms_key_name == "" ? {} : {
    storage          = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    artifactregistry = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    aiplatform       = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
  }
}

resource "google_kms_crypto_key_iam_member" "cmek" {
  for_each      = local.cmek
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
