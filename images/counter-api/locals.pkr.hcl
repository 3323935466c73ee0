locals {
  # One timestamp for the whole build (timestamp() is evaluated once).
  build_time = timestamp()
  # Unique and sortable: counter-api-<sha12>-<yyyymmddThhmmss>. GCE image
  # names are lowercase, at most 63 characters.
  build_stamp = lower(formatdate("YYYYMMDD'T'hhmmss", local.build_time))
  image_name  = "${var.image_family}-${substr(var.git_sha, 0, 12)}-${local.build_stamp}"
  base_image  = var.source_image != "" ? var.source_image : var.source_image_family

  # Labels answer "what is this image?" without opening it. Label values are
  # lowercase letters, digits, '-' and '_', at most 63 characters: a SHA-256
  # (64 hex digits) is split into two halves, _hi then _lo.
  image_labels = {
    app                  = "counter-api"
    git_sha              = var.git_sha
    build_date           = local.build_stamp
    base_image           = local.base_image
    image_version        = replace(var.image_version, ".", "_")
    bundle_sha256_hi     = substr(var.bundle_tree_sha256, 0, 32)
    bundle_sha256_lo     = substr(var.bundle_tree_sha256, 32, 32)
    bundle_tar_sha256_hi = substr(var.bundle_sha256, 0, 32)
    bundle_tar_sha256_lo = substr(var.bundle_sha256, 32, 32)
    managed_by           = "packer"
  }

  repo_dir    = abspath("${path.root}/../..")
  ansible_dir = "${local.repo_dir}/ansible"
  app_bundle  = abspath(var.app_bundle)

  # The build VM is new every time, so its host key cannot be known in
  # advance; Packer's IAP tunnel already authenticates the VM.
  ansible_env = [
    "ANSIBLE_CONFIG=${local.ansible_dir}/ansible.cfg",
    "ANSIBLE_HOST_KEY_CHECKING=False",
    "ANSIBLE_FORCE_COLOR=0",
  ]
}
