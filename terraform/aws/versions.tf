terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
  # offline_plan = true lets `terraform plan` run with dummy credentials (CI checks); never set it
  # for a real apply.
  skip_credentials_validation = var.offline_plan
  skip_requesting_account_id  = var.offline_plan
  skip_metadata_api_check     = var.offline_plan
  default_tags {
    tags = merge(var.tags, { "app.kubernetes.io/part-of" = "cvpipe" })
  }
}
