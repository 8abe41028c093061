variable "project" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Region for the bucket, Artifact Registry, Vertex AI, Dataflow and GKE."
  type        = string
  default     = "europe-west4"
}

variable "name" {
  description = "Name prefix for resources."
  type        = string
  default     = "cvpipe"
}

variable "serving_namespace" {
  description = "Kubernetes namespace of TF Serving (k8s/overlays/prod)."
  type        = string
  default     = "cvpipe"
}

variable "master_authorized_cidr" {
  description = "CIDR allowed to reach the GKE control plane."
  type        = string
  default     = "203.0.113.0/24"
}

variable "labels" {
  description = "Labels on every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "gke_cidr" {
  description = "Primary range of the GKE nodes' subnetwork."
  type        = string
  default     = "10.10.0.0/20"
}

variable "gke_pods_cidr" {
  description = "Secondary range for GKE pods."
  type        = string
  default     = "10.20.0.0/14"
}

variable "gke_services_cidr" {
  description = "Secondary range for GKE services."
  type        = string
  default     = "10.30.0.0/20"
}

variable "dataflow_cidr" {
  description = "Range of the Dataflow workers' subnetwork."
  type        = string
  default     = "10.40.0.0/20"
}

variable "kms_key_name" {
  description = "Optional CMEK (projects/P/locations/L/keyRings/R/cryptoKeys/K, in var.region) for the bucket, the Artifact Registry repository and Vertex AI (infra.kubeflow.kms_key_name); empty: Google-managed keys."
  type        = string
  default     = ""
}
