# GKE Autopilot for TF Serving (k8s/overlays/prod), private nodes in network.tf's subnetwork
# (Cloud NAT pulls TF Serving's image). Autopilot manages nodes, node pools, shielded nodes,
# Workload Identity and auto-upgrades itself.
resource "google_container_cluster" "serving" {
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain; set authenticator_groups_config per organisation
  #checkov:skip=CKV_GCP_66:Binary Authorization needs attestors per organisation; enable with your policy
  #checkov:skip=CKV_GCP_69:Autopilot always enables the GKE Metadata Server (Workload Identity)
  #checkov:skip=CKV_GCP_21:resource_labels below always holds app = var.name; checkov cannot evaluate merge() with a variable
  #checkov:skip=CKV_GCP_12:Autopilot enforces NetworkPolicy through GKE Dataplane V2 (no network_policy block)
  #checkov:skip=CKV_GCP_61:Autopilot does not take enable_intranode_visibility; the nodes' subnetwork logs flows (network.tf)
  name                = "${var.name}-serving"
  location            = var.region
  enable_autopilot    = true
  deletion_protection = true
  resource_labels     = merge({ app = var.name }, var.labels)
  network             = google_compute_network.main.id
  subnetwork          = google_compute_subnetwork.gke.id
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
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }
  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }
  networking_mode = "VPC_NATIVE"
  depends_on      = [google_project_service.apis, google_compute_router_nat.nat]
}
