# Packer and plugin versions this template is written for. Install them with
#   packer init images/counter-api
# (images/build.sh does). Debian's packer 1.6.6 predates this block; see
# images/validate.sh for how the template is still validated with it.
packer {
  required_version = ">= 1.11.0, < 2.0.0"
  required_plugins {
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.1.6, < 2.0.0"
    }
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.1.2, < 2.0.0"
    }
  }
}
