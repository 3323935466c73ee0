#!/usr/bin/env bash
# Validate the Packer template without GCP credentials or network:
#   1. shell scripts of the image pipeline are shellcheck-clean;
#   2. HCL is canonically formatted (packer fmt -check);
#   3. the template declares the Packer and plugin versions it needs;
#   4. packer validate, with the example variables:
#      - Packer >= 1.11 with its plugins installed (packer init): as is;
#      - Debian's Packer 1.6.6 (bundled builders, no plugin system): on a copy
#        without the `packer {}` block (1.6.6 rejects required_plugins) and
#        without `validation {}` blocks (1.6.6 evaluates them without any
#        functions, so every regex condition fails). Everything else is
#        checked: block and argument names of the googlecompute builder, the
#        ansible provisioner and the manifest post-processor, variable types,
#        references, and that every playbook the template runs exists.
#        The stripped validation rules are exercised by test/images instead;
#   5. every playbook the template runs passes ansible-playbook --syntax-check.
# Usage: bash images/validate.sh   (npm run image:validate)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
template=$here/counter-api
example=$here/counter-api.pkrvars.hcl.example
dummy_sha=0123456789abcdef0123456789abcdef01234567
dummy_digest=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
# What build.sh passes (from git, the verified bundle artifact, the release).
passed=(-var "git_sha=$dummy_sha" -var "bundle_sha256=$dummy_digest" -var "bundle_tree_sha256=$dummy_digest" -var "image_version=1.0.0")
failed=0

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failed=1; }

for tool in packer shellcheck ansible-playbook; do
  command -v "$tool" >/dev/null || { echo "validate: $tool is not installed" >&2; exit 2; }
done

scratch=$(mktemp -d)
# The legacy copy sits two levels below the repository, like the template,
# so path.root-relative paths (../../ansible) resolve the same; .cache/ is
# git-ignored.
mkdir -p "$repo/.cache"
legacy=$(mktemp -d "$repo/.cache/packer-legacy.XXXXXX")
trap 'rm -rf -- "$scratch" "$legacy"' EXIT

step "shellcheck"
shellcheck "$here"/*.sh "$repo"/scripts/image-*.sh || fail "shellcheck"

step "packer fmt -check"
cp "$example" "$scratch/example.pkrvars.hcl"
packer fmt -check -diff "$template" || fail "template is not formatted (packer fmt $template)"
packer fmt -check -diff "$scratch/example.pkrvars.hcl" || fail "$example is not formatted"

step "version constraints"
grep -Eq '^\s*required_version\s*=' "$template/plugins.pkr.hcl" || fail "no required_version"
for plugin in googlecompute ansible; do
  grep -Eq "source\s*=\s*\"github.com/hashicorp/$plugin\"" "$template/plugins.pkr.hcl" || fail "no required_plugins entry for $plugin"
done

step "packer validate"
version=$(packer version | sed -n 's/^Packer v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r major minor <<<"$version"
if (( major > 1 || minor >= 11 )); then
  echo "Packer $major.$minor: validating the template as is"
  packer validate -var-file="$scratch/example.pkrvars.hcl" "${passed[@]}" "$template" || fail "packer validate"
else
  echo "Packer $major.$minor predates plugins: validating a copy without the packer {} and validation {} blocks"
  for file in "$template"/*.pkr.hcl; do
    [[ $(basename "$file") == plugins.pkr.hcl ]] && continue
    awk '
      /^  validation \{$/ { skipping = 1; next }
      skipping && /^  \}$/ { skipping = 0; next }
      !skipping { print }
    ' "$file" >"$legacy/$(basename "$file")"
  done
  if grep -q 'validation {' "$legacy"/*.pkr.hcl; then
    fail "could not strip every validation block (unexpected formatting)"
  fi
  (cd "$legacy" && packer validate -var-file="$scratch/example.pkrvars.hcl" "${passed[@]}" .) || fail "packer validate"
fi

step "ansible-playbook --syntax-check"
# The template names playbooks as "${local.ansible_dir}/<file>".
# shellcheck disable=SC2016
mapfile -t playbooks < <(sed -n 's/.*playbook_file *= *"${local.ansible_dir}\/\([^"]*\)".*/\1/p' "$template"/*.pkr.hcl)
(( ${#playbooks[@]} > 0 )) || fail "the template runs no playbook"
# One run for all of them (each run pays Ansible's start-up again); a
# playbook that fails stops it and is named in its output.
if (cd "$repo/ansible" && ANSIBLE_CONFIG=$repo/ansible/ansible.cfg \
  ansible-playbook -i inventories/local --syntax-check "${playbooks[@]}" >/dev/null); then
  echo "ok: ${playbooks[*]}"
else
  fail "syntax check of ${playbooks[*]}"
fi

if (( failed )); then
  printf '\nimage:validate FAILED\n' >&2
  exit 1
fi
printf '\nimage:validate passed\n'
