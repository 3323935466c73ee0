# The build VM: Shielded (Secure Boot, vTPM, integrity monitoring), no
# external IP, reached over an IAP TCP tunnel with an OS Login key, running
# as a dedicated service account.
source "googlecompute" "counter_api" {
  project_id              = var.project_id
  zone                    = var.zone
  subnetwork              = var.subnetwork
  tags                    = var.network_tags
  source_image            = var.source_image
  source_image_family     = var.source_image_family
  source_image_project_id = [var.source_image_project]

  image_name              = local.image_name
  image_family            = var.image_family
  image_description       = "counter-api ${var.git_sha} on ${local.base_image}, baked ${local.build_stamp}"
  image_labels            = local.image_labels
  image_storage_locations = var.image_storage_locations

  machine_type = var.machine_type
  disk_size    = var.disk_size_gb
  disk_type    = var.disk_type
  labels = {
    purpose      = "image-build"
    image_family = var.image_family
  }

  enable_secure_boot          = true
  enable_vtpm                 = true
  enable_integrity_monitoring = true

  omit_external_ip = true
  use_internal_ip  = true
  use_iap          = true
  use_os_login     = true
  metadata = {
    block-project-ssh-keys = "TRUE"
  }

  service_account_email = var.build_service_account
  scopes                = ["https://www.googleapis.com/auth/cloud-platform"]

  # Placeholder the SSH communicator requires: with use_os_login the builder
  # replaces it with the OS Login POSIX name of the build's identity.
  ssh_username  = "packer"
  ssh_timeout   = "10m"
  state_timeout = "10m"
}
