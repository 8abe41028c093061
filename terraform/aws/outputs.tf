output "artifacts_bucket" {
  description = "S3 bucket: pipeline root (s3://BUCKET/pipeline_root) and TF Serving base (s3://BUCKET/serving)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "pipeline_image_repository" {
  description = "ECR repository URL to push the pipeline image to."
  value       = aws_ecr_repository.pipeline.repository_url
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.main.name
}

output "serving_role_arn" {
  description = "Annotate the tf-serving service account with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.irsa["serving"].arn
}

output "pipelines_role_arn" {
  description = "IAM role for Kubeflow Pipelines pods (IRSA)."
  value       = aws_iam_role.irsa["pipelines"].arn
}
