# Bake, check, seal, capture. The same playbooks the local tests run into a
# debootstrap tree: bake.yml, then the audit (at rest: nothing serves yet),
# then a smoke test of the real unit, then seal.yml. Any failure aborts the
# build and no image is created.
build {
  name    = "counter-api"
  sources = ["source.googlecompute.counter_api"]

  provisioner "ansible" {
    playbook_file    = "${local.ansible_dir}/bake.yml"
    user             = build.User
    use_proxy        = false
    groups           = ["counter_api"]
    ansible_env_vars = local.ansible_env
    extra_arguments = [
      "--extra-vars", "bake_app_bundle=${local.app_bundle}",
      "--extra-vars", "bake_image_version=${var.image_version}",
      "--extra-vars", "bake_image_name=${local.image_name}",
      "--extra-vars", "bake_image_family=${var.image_family}",
      "--extra-vars", "bake_git_sha=${var.git_sha}",
      "--extra-vars", "bake_build_date=${local.build_time}",
      "--extra-vars", "bake_base_image=${local.base_image}",
    ]
  }

  provisioner "ansible" {
    playbook_file    = "${local.ansible_dir}/audit.yml"
    user             = build.User
    use_proxy        = false
    groups           = ["counter_api"]
    ansible_env_vars = concat(local.ansible_env, ["AUDIT_REPORT_DIR=${local.repo_dir}/.cache/audit/${local.image_name}"])
    extra_arguments = [
      "--extra-vars", "audit_live=false",
      "--extra-vars", "audit_expected_image=${local.image_name}",
    ]
  }

  provisioner "ansible" {
    playbook_file    = "${local.ansible_dir}/smoke.yml"
    user             = build.User
    use_proxy        = false
    groups           = ["counter_api"]
    ansible_env_vars = local.ansible_env
    # No database on the build VM: the service must start and answer
    # /healthz; the POST against a database is proven by npm run image:test.
    extra_arguments = [
      "--extra-vars", "{\"smoke_env\": {\"DATABASE_URL\": \"postgres://smoke@127.0.0.1:9/smoke\"}}",
    ]
  }

  provisioner "ansible" {
    playbook_file    = "${local.ansible_dir}/seal.yml"
    user             = build.User
    use_proxy        = false
    groups           = ["counter_api"]
    ansible_env_vars = local.ansible_env
  }

  post-processor "manifest" {
    output     = "${path.root}/../manifest.json"
    strip_path = true
    custom_data = {
      image_name        = local.image_name
      image_version     = var.image_version
      bundle_sha256     = var.bundle_tree_sha256
      bundle_tar_sha256 = var.bundle_sha256
      image_family      = var.image_family
      git_sha           = var.git_sha
      build_date        = local.build_time
      base_image        = local.base_image
    }
  }
}
