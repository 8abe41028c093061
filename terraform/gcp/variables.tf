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
