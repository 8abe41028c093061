# GCP (primary): no google provider is mirrored offline, so CI checks this with `terraform fmt`
# and checkov only; `terraform init/validate/plan` need registry access.
terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
