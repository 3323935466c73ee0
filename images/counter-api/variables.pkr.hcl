# Inputs of the counter-api image build. Copy images/counter-api.pkrvars.hcl.example
# to images/counter-api.pkrvars.hcl (git-ignored) and fill it in; build.sh
# passes git_sha, source_image and app_bundle itself.

variable "project_id" {
  type        = string
  description = "GCP project that runs the build VM and stores the image."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a GCP project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "zone" {
  type        = string
  description = "Zone of the build VM, in the region of its subnetwork."
}

variable "subnetwork" {
  type        = string
  description = "Subnetwork (name or self link) of the build VM: private, with Cloud NAT or Private Google Access to reach Debian's mirrors and Google APIs."
}

variable "network_tags" {
  type        = list(string)
  description = "Network tags of the build VM; the VPC firewall admits SSH from IAP's range (35.235.240.0/20) to this tag only."
  default     = ["packer-build"]
}

variable "build_service_account" {
  type        = string
  description = "Dedicated service account of the build VM (no roles needed beyond logging; never the default compute account)."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.build_service_account))
    error_message = "The build_service_account must be a service account email (name@project.iam.gserviceaccount.com)."
  }
}

variable "source_image_family" {
  type        = string
  description = "Image family the bake starts from: Debian 13 (trixie), the first Debian with Node.js >= 20.11."
  default     = "debian-13"
}

variable "source_image_project" {
  type        = string
  description = "Project that publishes source_image_family."
  default     = "debian-cloud"
}

variable "source_image" {
  type        = string
  description = "Exact source image, pinned by build.sh from source_image_family so the labels name what was used. Empty: the family's latest."
  default     = ""
}

variable "image_family" {
  type        = string
  description = "Family of the baked image; the instance template pins an exact image from it."
  default     = "counter-api"
}

variable "git_sha" {
  type        = string
  description = "Full git commit the image is baked from (build.sh passes `git rev-parse HEAD`)."
  validation {
    condition     = can(regex("^[0-9a-f]{40}$", var.git_sha))
    error_message = "The git_sha must be a full 40-character lowercase commit hash."
  }
}

variable "app_bundle" {
  type        = string
  description = "Path of the app bundle CI built and tested (scripts/image-bundle.sh), fetched and checked against bundle_sha256 by build.sh."
  default     = ".cache/image/counter-api-bundle.tar.gz"
}

variable "bundle_sha256" {
  type        = string
  description = "SHA-256 of the bundle tarball as CI published it; build.sh verifies the file against it, the image is labelled with it."
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.bundle_sha256))
    error_message = "The bundle_sha256 must be 64 lowercase hex digits."
  }
}

variable "bundle_tree_sha256" {
  type        = string
  description = "Digest of the deployed app tree (the manifest's bundle_sha256, scripts/image-bundle-digest.sh); labels the image."
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.bundle_tree_sha256))
    error_message = "The bundle_tree_sha256 must be 64 lowercase hex digits."
  }
}

variable "image_version" {
  type        = string
  description = "Release of the image (e.g. 1.4.0), recorded in the image manifest and as a label (dots become underscores)."
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9a-z.]+)?$", var.image_version))
    error_message = "The image_version must look like 1.4.0 or 1.4.0-rc.1."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of the build VM."
  default     = "e2-standard-2"
}

variable "disk_size_gb" {
  type        = number
  description = "Boot disk size of the build VM, and so of the image, in GB."
  default     = 20
  validation {
    condition     = var.disk_size_gb >= 10 && var.disk_size_gb <= 100
    error_message = "The disk_size_gb must be between 10 and 100."
  }
}

variable "disk_type" {
  type        = string
  description = "Boot disk type of the build VM."
  default     = "pd-balanced"
}

variable "image_storage_locations" {
  type        = list(string)
  description = "Where the image is stored (one region or multi-region), near the fleet."
  default     = ["eu"]
}
