#!/usr/bin/env bash
# The digests of an app bundle tarball (scripts/image-bundle.sh): the
# tarball's own sha256, and the digest of the tree the bake deploys from it,
# computed exactly as the image manifest records it (bundle_sha256):
#   LC_ALL=C find /opt/counter-api -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum
# The deployed tree is the tarball's content plus .bundle.sha256 (the
# tarball's digest, written by the app role). So the digest is known before
# any bake: CI publishes it, Packer labels the image with it, and the fleet
# audit re-hashes each host against it.
#
# Usage: scripts/image-bundle-digest.sh TARBALL [APP_DIR]   (APP_DIR default: /opt/counter-api)
# Prints two lines: "tarball <sha256>" and "tree <sha256>".
set -euo pipefail

tarball=${1:?usage: image-bundle-digest.sh TARBALL [APP_DIR]}
app_dir=${2:-/opt/counter-api}
[[ -f $tarball ]] || { echo "image-bundle-digest: no such file: $tarball" >&2; exit 1; }

tar_sha=$(sha256sum "$tarball" | cut -d' ' -f1)
tree=$(mktemp -d "${TMPDIR:-/tmp}/counter-api-bundle-tree.XXXXXX")
trap 'rm -rf -- "$tree"' EXIT
tar -C "$tree" -xzf "$tarball"
printf '%s\n' "$tar_sha" >"$tree/.bundle.sha256"

# Hash with paths relative to the tree ("./x"), then name them as the image
# does ("$app_dir/x"): byte order is the same for both, the prefix being common.
lines=$(cd "$tree" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
if grep -q '^[\]' <<<"$lines"; then
  echo "image-bundle-digest: a file name needs escaping; the digest would not match the host's" >&2
  exit 1
fi
# shellcheck disable=SC2001 # an anchored per-line rewrite
tree_sha=$(sed "s#^\([0-9a-f]\{64\}\)  \./#\1  $app_dir/#" <<<"$lines" | sha256sum | cut -d' ' -f1)
printf 'tarball %s\ntree %s\n' "$tar_sha" "$tree_sha"
