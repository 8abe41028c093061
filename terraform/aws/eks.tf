# EKS for TF Serving (k8s/ manifests) of models cvpipe pushed to S3. Pipelines do not run here:
# the compiled spec needs Vertex AI Pipelines (its resolvers query Vertex ML Metadata).
resource "aws_iam_role" "cluster" {
  name = "${var.name}-eks-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "main" {
  name     = var.name
  version  = var.cluster_version
  role_arn = aws_iam_role.cluster.arn
  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    # Private by default; set public_api_endpoint (with api_allowed_cidrs) to reach it from outside.
    endpoint_public_access = var.public_api_endpoint
    public_access_cidrs    = var.public_api_endpoint ? var.api_allowed_cidrs : null
  }
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.cvpipe.arn
    }
  }
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  depends_on                = [aws_iam_role_policy_attachment.cluster]
}

resource "aws_iam_role" "nodes" {
  name = "${var.name}-eks-nodes"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.nodes.name
  policy_arn = each.value
}

resource "aws_eks_node_group" "main" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "${var.name}-default"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = aws_subnet.private[*].id
  instance_types  = var.node_instance_types
  scaling_config {
    desired_size = var.node_count.desired
    min_size     = var.node_count.min
    max_size     = var.node_count.max
  }
  depends_on = [aws_iam_role_policy_attachment.nodes]
}

# IAM roles for service accounts (IRSA): pods get AWS permissions through their k8s account.
resource "aws_iam_openid_connect_provider" "eks" {
  url            = aws_eks_cluster.main.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  oidc_host = replace(aws_iam_openid_connect_provider.eks.url, "https://", "")
}

locals {
  # IRSA roles: who may assume them (namespace/service account) and what they may do.
  irsa_roles = {
    serving = {
      subject = "system:serviceaccount:${var.serving_namespace}:tf-serving"
      s3      = ["s3:GetObject", "s3:ListBucket"]
      objects = "${aws_s3_bucket.artifacts.arn}/serving/*"
      kms     = ["kms:Decrypt"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_roles
  name     = "${var.name}-${each.key}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringLike = { "${local.oidc_host}:sub" = each.value.subject } }
    }]
  })
}

resource "aws_iam_role_policy" "irsa" {
  for_each = local.irsa_roles
  name     = "${each.key}-artifacts"
  role     = aws_iam_role.irsa[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = each.value.s3
        Resource = [aws_s3_bucket.artifacts.arn, each.value.objects]
      },
      {
        Effect   = "Allow"
        Action   = each.value.kms
        Resource = [aws_kms_key.cvpipe.arn]
      },
    ]
  })
}
