variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix for resources (bucket, registry, cluster)."
  type        = string
  default     = "cvpipe"
}

variable "availability_zones" {
  description = "Two or more AZs for the EKS subnets."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; subnets are carved from it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "cluster_version" {
  description = "EKS Kubernetes version (TF Serving runs on it)."
  type        = string
  default     = "1.31"
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.xlarge"]
}

variable "node_count" {
  description = "Desired, min and max nodes of the managed node group."
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 2, min = 1, max = 6 }
}

variable "public_api_endpoint" {
  description = "Expose the EKS API endpoint publicly (restricted to api_allowed_cidrs)."
  type        = bool
  default     = false
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint."
  type        = list(string)
  default     = ["203.0.113.0/24"]
}

variable "serving_namespace" {
  description = "Kubernetes namespace of TF Serving (k8s/overlays/*)."
  type        = string
  default     = "cvpipe"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "offline_plan" {
  description = "Skip credential and account checks so `plan` runs with dummy credentials."
  type        = bool
  default     = false
}

variable "account_id" {
  description = "AWS account id, used in the KMS key policy (no data source: plans run offline)."
  type        = string
}
