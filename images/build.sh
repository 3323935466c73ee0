#!/usr/bin/env bash
# Bake the counter-api image on Google Cloud (npm run image:build), from the
# app bundle CI built and tested, then boot the sealed image once on a
# throwaway VM before anyone rolls it out.
#
# Needs: Packer >= 1.11 (plugins are installed by `packer init`), the gcloud
# CLI (IAP tunnel, source image lookup, artifact download, the check VM),
# ansible-playbook, and Google credentials: Application Default Credentials
# (`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS
# for CI) for an identity allowed to create instances and images in the
# project, act as the build service account, open IAP tunnels and use OS Login
# (roles: compute.instanceAdmin.v1, compute.storageAdmin (images),
# iam.serviceAccountUser on the build account, iap.tunnelResourceAccessor,
# compute.osAdminLogin), and to read the artifact bucket. See docs/image.md.
#
# Usage: IMAGE_BUNDLE=gs://bucket/counter-api-bundle-<sha>.tar.gz \
#        IMAGE_BUNDLE_SHA256=<digest CI printed> IMAGE_VERSION=1.4.0 bash images/build.sh
# Environment:
#   IMAGE_BUNDLE          the bundle CI built and tested (.ci/run): a gs:// URL or a
#                         local path. Required: the image bakes that artifact,
#                         never a rebuild on this machine.
#   IMAGE_BUNDLE_SHA256   its SHA-256 as CI published it; a mismatch stops the build
#   IMAGE_VERSION         release of the image (1.4.0, 1.4.0-rc.1)
#   IMAGE_VAR_FILE        variables file (default: images/counter-api.pkrvars.hcl)
#   IMAGE_SOURCE_FAMILY   source image family (default: debian-13)
#   IMAGE_SOURCE_PROJECT  its project (default: debian-cloud)
#   IMAGE_ALLOW_DIRTY=1   bake from a work tree with uncommitted changes
#   IMAGE_SKIP_CHECK_VM=1 skip the throwaway-VM boot check (not for release images)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
var_file=${IMAGE_VAR_FILE:-$here/counter-api.pkrvars.hcl}
family=${IMAGE_SOURCE_FAMILY:-debian-13}
family_project=${IMAGE_SOURCE_PROJECT:-debian-cloud}
artifacts=$repo/.cache/image/artifact

die() { echo "image:build: $*" >&2; exit 1; }

# --- the artifact: checked before anything is created --------------------
[[ -n ${IMAGE_BUNDLE:-} ]] || die "IMAGE_BUNDLE is not set: bake the bundle CI built and tested (gs:// URL or path), see docs/image.md"
[[ ${IMAGE_BUNDLE_SHA256:-} =~ ^[0-9a-f]{64}$ ]] || die "IMAGE_BUNDLE_SHA256 must be the 64-hex digest CI published for $IMAGE_BUNDLE"
[[ ${IMAGE_VERSION:-} =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9a-z.]+)?$ ]] || die "IMAGE_VERSION must look like 1.4.0 (got '${IMAGE_VERSION:-}')"

cd "$repo"
# The image is labelled with the commit: bake only what that commit holds.
if [[ -n $(git status --porcelain) && ${IMAGE_ALLOW_DIRTY:-0} != 1 ]]; then
  die "the work tree has uncommitted changes (IMAGE_ALLOW_DIRTY=1 to bake anyway)"
fi
git_sha=$(git rev-parse HEAD)

mkdir -p "$artifacts"
bundle=$artifacts/counter-api-bundle-$IMAGE_BUNDLE_SHA256.tar.gz
if [[ $IMAGE_BUNDLE == gs://* ]]; then
  command -v gcloud >/dev/null || die "gcloud is not installed (needed to fetch $IMAGE_BUNDLE)"
  gcloud storage cp "$IMAGE_BUNDLE" "$bundle.partial" >&2
  mv "$bundle.partial" "$bundle"
else
  [[ -f $IMAGE_BUNDLE ]] || die "no bundle at $IMAGE_BUNDLE"
  cp "$IMAGE_BUNDLE" "$bundle"
fi
digests=$(bash "$repo/scripts/image-bundle-digest.sh" "$bundle")
bundle_sha=$(sed -n 's/^tarball //p' <<<"$digests")
tree_sha=$(sed -n 's/^tree //p' <<<"$digests")
[[ $bundle_sha == "$IMAGE_BUNDLE_SHA256" ]] \
  || die "the bundle's SHA-256 is $bundle_sha, not the $IMAGE_BUNDLE_SHA256 CI published: refusing to bake it"
bundle_git=$(tar -xzOf "$bundle" ./bundle.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).gitSha))')
[[ $bundle_git == "$git_sha" ]] \
  || die "the bundle was built from $bundle_git, this checkout is $git_sha: check out the commit CI tested"
echo "image:build: bundle $bundle_sha (deployed tree $tree_sha) from $git_sha"

# --- tools and settings ---------------------------------------------------
for tool in packer gcloud ansible-playbook node git; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
read -r major minor < <(packer version | sed -n 's/^Packer v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
(( major > 1 || minor >= 11 )) || die "Packer >= 1.11 is needed (found $major.$minor); see docs/image.md"
[[ -f $var_file ]] || die "no $var_file: copy images/counter-api.pkrvars.hcl.example and fill it in"

# Pin the exact source image now, so the labels and the manifest name it.
source_image=$(gcloud compute images describe-from-family "$family" \
  --project "$family_project" --format='value(name)')
[[ -n $source_image ]] || die "no image in family $family of $family_project"
echo "image:build: $git_sha on $source_image"

packer init "$here/counter-api"
packer build \
  -var-file="$var_file" \
  -var "git_sha=$git_sha" \
  -var "source_image_family=$family" \
  -var "source_image_project=$family_project" \
  -var "source_image=$source_image" \
  -var "app_bundle=$bundle" \
  -var "bundle_sha256=$bundle_sha" \
  -var "bundle_tree_sha256=$tree_sha" \
  -var "image_version=$IMAGE_VERSION" \
  "$here/counter-api"

image=$(node -e '
  const m = require(process.argv[1]);
  const run = m.builds.filter((b) => b.packer_run_uuid === m.last_run_uuid).pop();
  process.stdout.write(run.custom_data.image_name);
' "$here/manifest.json")
echo "image:build: baked $image"

# --- the sealed image, booted once ------------------------------------------
# The Packer smoke test ran before the seal; this boots what was captured.
if [[ ${IMAGE_SKIP_CHECK_VM:-0} == 1 ]]; then
  echo "image:build: IMAGE_SKIP_CHECK_VM=1: the sealed image was NOT booted; do not roll it out" >&2
else
  bash "$here/check-vm.sh" "$image" "$var_file" "$tree_sha"
fi
echo "Roll it out: npm run infra:roll -- --image $image"
