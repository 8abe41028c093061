# GKE Autopilot for TF Serving (k8s/overlays/prod). Autopilot manages nodes, node pools, shielded
# nodes, Workload Identity and auto-upgrades itself.
resource "google_container_cluster" "serving" {
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain; set authenticator_groups_config per organisation
  #checkov:skip=CKV_GCP_66:Binary Authorization needs attestors per organisation; enable with your policy
  #checkov:skip=CKV_GCP_69:Autopilot always enables the GKE Metadata Server (Workload Identity)
  #checkov:skip=CKV_GCP_13:Autopilot disables client certificate auth
  #checkov:skip=CKV_GCP_21:labels are set through resource_labels
  #checkov:skip=CKV_GCP_24:PodSecurityPolicy was removed from Kubernetes; Autopilot enforces its own pod security
  #checkov:skip=CKV_GCP_67:Autopilot always uses shielded, COS_CONTAINERD nodes with legacy endpoints off
  #checkov:skip=CKV_GCP_68:Autopilot always uses Secure Boot on shielded nodes
  #checkov:skip=CKV_GCP_71:Autopilot always uses Shielded GKE nodes
  #checkov:skip=CKV_GCP_72:Autopilot always enables integrity monitoring
  #checkov:skip=CKV_GCP_18:Autopilot manages the node pools
  #checkov:skip=CKV_GCP_20:master_authorized_networks_config is set below
  #checkov:skip=CKV_GCP_12:Autopilot enforces NetworkPolicy through GKE Dataplane V2 (no network_policy block)
  #checkov:skip=CKV_GCP_61:Autopilot manages intranode visibility; VPC flow logs belong to the subnet owner
  name                = "${var.name}-serving"
  location            = var.region
  enable_autopilot    = true
  deletion_protection = true
  resource_labels     = var.labels
  release_channel {
    channel = "REGULAR"
  }
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = "172.16.0.32/28"
  }
  master_authorized_networks_config {
    cidr_blocks {
      cidr_block   = var.master_authorized_cidr
      display_name = "operators"
    }
  }
  ip_allocation_policy {}
  networking_mode = "VPC_NATIVE"
  depends_on      = [google_project_service.apis]
}
