output "artifacts_bucket" {
  description = "S3 bucket TF Serving reads models from (s3://BUCKET/serving/<model>/<version>/: copy pushed versions there)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.main.name
}

output "serving_role_arn" {
  description = "Annotate the tf-serving service account with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.irsa["serving"].arn
}
