#!/usr/bin/env bash
# Bake the counter-api image on Google Cloud (npm run image:build).
#
# Needs: Packer >= 1.11 (plugins are installed by `packer init`), the gcloud
# CLI (IAP tunnel, source image lookup), ansible-playbook, Node/npm (the app
# bundle), and Google credentials: Application Default Credentials
# (`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS
# for CI) for an identity allowed to create instances and images in the
# project, act as the build service account, open IAP tunnels and use OS Login
# (roles: compute.instanceAdmin.v1, compute.storageAdmin (images),
# iam.serviceAccountUser on the build account, iap.tunnelResourceAccessor,
# compute.osAdminLogin). See docs/image.md.
#
# Usage: bash images/build.sh            (variables: images/counter-api.pkrvars.hcl)
# Environment:
#   IMAGE_VAR_FILE        variables file (default: images/counter-api.pkrvars.hcl)
#   IMAGE_SOURCE_FAMILY   source image family (default: debian-13)
#   IMAGE_SOURCE_PROJECT  its project (default: debian-cloud)
#   IMAGE_ALLOW_DIRTY=1   bake from a work tree with uncommitted changes
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
var_file=${IMAGE_VAR_FILE:-$here/counter-api.pkrvars.hcl}
family=${IMAGE_SOURCE_FAMILY:-debian-13}
family_project=${IMAGE_SOURCE_PROJECT:-debian-cloud}
bundle=$repo/.cache/image/counter-api-bundle.tar.gz

die() { echo "image:build: $*" >&2; exit 1; }

for tool in packer gcloud ansible-playbook npm git; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
read -r major minor < <(packer version | sed -n 's/^Packer v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
(( major > 1 || minor >= 11 )) || die "Packer >= 1.11 is needed (found $major.$minor); see docs/image.md"
[[ -f $var_file ]] || die "no $var_file: copy images/counter-api.pkrvars.hcl.example and fill it in"

cd "$repo"
# The image is labelled with the commit: bake only what that commit holds.
if [[ -n $(git status --porcelain) && ${IMAGE_ALLOW_DIRTY:-0} != 1 ]]; then
  die "the work tree has uncommitted changes (IMAGE_ALLOW_DIRTY=1 to bake anyway)"
fi
git_sha=$(git rev-parse HEAD)

# Pin the exact source image now, so the labels and the manifest name it.
source_image=$(gcloud compute images describe-from-family "$family" \
  --project "$family_project" --format='value(name)')
[[ -n $source_image ]] || die "no image in family $family of $family_project"
echo "image:build: $git_sha on $source_image"

bash "$repo/scripts/image-bundle.sh" "$bundle"

packer init "$here/counter-api"
packer build \
  -var-file="$var_file" \
  -var "git_sha=$git_sha" \
  -var "source_image_family=$family" \
  -var "source_image_project=$family_project" \
  -var "source_image=$source_image" \
  -var "app_bundle=$bundle" \
  "$here/counter-api"

image=$(node -e '
  const m = require(process.argv[1]);
  const run = m.builds.filter((b) => b.packer_run_uuid === m.last_run_uuid).pop();
  process.stdout.write(run.custom_data.image_name);
' "$here/manifest.json")
echo "image:build: baked $image"
echo "Roll it out: npm run infra:roll -- --image $image"
