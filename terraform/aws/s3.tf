# Pipeline root, pushed models (TF Serving base path), run reports and edge artifacts; plus the
# bucket that receives their access logs. Both get the same hardening.
resource "aws_s3_bucket" "artifacts" {
  bucket = "${var.name}-artifacts-${var.region}"
  #checkov:skip=CKV_AWS_144:cross-region replication is a per-deployment choice, not a default
  #checkov:skip=CKV2_AWS_62:no event consumers; TF Serving polls the serving prefix for new versions
}

resource "aws_s3_bucket" "access_logs" {
  bucket = "${var.name}-access-logs-${var.region}"
  #checkov:skip=CKV_AWS_144:log bucket; replication not needed
  #checkov:skip=CKV2_AWS_62:log bucket; no event consumers
}

locals {
  buckets = {
    artifacts   = { id = aws_s3_bucket.artifacts.id, expire_days = null }
    access_logs = { id = aws_s3_bucket.access_logs.id, expire_days = 365 }
  }
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = local.buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "all" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.cvpipe.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "all" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "all" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    id     = "expire-old-data"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    dynamic "expiration" {
      for_each = each.value.expire_days == null ? [] : [each.value.expire_days]
      content {
        days = expiration.value
      }
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "artifacts/"
}
