# The VPC the GKE nodes and the Dataflow workers live in. Both are private (no external IPs):
# Private Google Access reaches Google APIs (GCS, Artifact Registry, Vertex AI), and Cloud NAT
# everything else — TF Serving's image on Docker Hub (k8s/base/deployment.yaml), package mirrors.
resource "google_compute_network" "main" {
  name                    = var.name
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_subnetwork" "gke" {
  name                     = "${var.name}-gke"
  region                   = var.region
  network                  = google_compute_network.main.id
  ip_cidr_range            = var.gke_cidr
  private_ip_google_access = true
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.gke_pods_cidr
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.gke_services_cidr
  }
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers of the Beam steps: beam_pipeline_args get --subnetwork and --no_use_public_ips
# (output dataflow_beam_args).
resource "google_compute_subnetwork" "dataflow" {
  name                     = "${var.name}-dataflow"
  region                   = var.region
  network                  = google_compute_network.main.id
  ip_cidr_range            = var.dataflow_cidr
  private_ip_google_access = true
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers shuffle and stream between each other on TCP 12345-12346, and nothing else.
resource "google_compute_firewall" "dataflow_internal" {
  name          = "${var.name}-dataflow-internal"
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_tags   = ["dataflow"]
  target_tags   = ["dataflow"]
  source_ranges = []
  allow {
    protocol = "tcp"
    ports    = ["12345-12346"]
  }
}

resource "google_compute_router" "nat" {
  name    = "${var.name}-nat"
  region  = var.region
  network = google_compute_network.main.id
}

resource "google_compute_router_nat" "nat" {
  name                               = "${var.name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
