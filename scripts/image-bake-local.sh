#!/usr/bin/env bash
# One command for a local image: a Debian root filesystem (scripts/image-rootfs.sh,
# cached), ansible/bake.yml through the chroot connection, then ansible/seal.yml:
# DEST ends as the sealed tree that Packer would capture, ready to boot with
# systemd-nspawn. The image tests run the same steps through this script, so
# there is one local bake path. Mounts below DEST are removed whatever happens;
# on failure a DEST this run created is deleted too (IMAGE_BAKE_KEEP=1 keeps it).
#
# Usage: scripts/image-bake-local.sh DEST [EXTRA_VARS_JSON]
#   EXTRA_VARS_JSON  Ansible extra vars for bake.yml and seal.yml, e.g.
#                    '{"bake_image_version": "1.2.0", "bake_package_pins": [{"name": "openssl", "version": "3.5.1-1"}]}'
# Environment:
#   IMAGE_BUNDLE      app bundle to bake (default: .cache/image/counter-api-bundle.tar.gz,
#                     built by scripts/image-bundle.sh when missing)
#   IMAGE_BAKE_STEPS  subset of "rootfs bake seal", in that order (default: all three);
#                     without rootfs, DEST must already hold a tree
#   IMAGE_BAKE_LOG_DIR  where each playbook's full output goes (default: .cache/image/logs)
#   IMAGE_CACHE_DIR, IMAGE_RELEASE, IMAGE_MIRROR: see scripts/image-rootfs.sh
set -euo pipefail

dest=${1:?usage: image-bake-local.sh DEST [EXTRA_VARS_JSON]}
extra=${2:-'{}'}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=${IMAGE_BAKE_STEPS:-rootfs bake seal}
bundle=${IMAGE_BUNDLE:-$repo/.cache/image/counter-api-bundle.tar.gz}
log_dir=${IMAGE_BAKE_LOG_DIR:-$repo/.cache/image/logs}
chroot_sh=$repo/scripts/image-chroot.sh

die() { echo "image-bake-local: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, chroot, mounts)"
for step in $steps; do
  [[ $step =~ ^(rootfs|bake|seal)$ ]] || die "unknown step '$step' in IMAGE_BAKE_STEPS"
done
has_step() { [[ " $steps " == *" $1 "* ]]; }
python3 -c 'import json, sys; v = json.loads(sys.argv[1]); assert isinstance(v, dict)' "$extra" 2>/dev/null \
  || die "EXTRA_VARS_JSON is not a JSON object: $extra"
dest=$(realpath -m "$dest")
[[ $dest != / ]] || die "refusing to bake into /"

created=0
finish() {
  local code=$?
  if [[ -d $dest ]]; then bash "$chroot_sh" umount "$dest" || true; fi
  if (( code != 0 )); then
    if (( created )) && [[ ${IMAGE_BAKE_KEEP:-0} != 1 ]]; then
      bash "$chroot_sh" remove "$dest" || true
      echo "image-bake-local: failed (exit $code); removed $dest" >&2
    else
      echo "image-bake-local: failed (exit $code); tree left at $dest, unmounted" >&2
    fi
  fi
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

playbook() {
  local name=$1 label=$2
  shift 2
  mkdir -p "$log_dir"
  local log=$log_dir/$label.log
  local start=$SECONDS
  if ! (cd "$repo/ansible" && ANSIBLE_CONFIG=$repo/ansible/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
    IMAGE_ROOTFS=$dest ansible-playbook -i inventories/local "$name" "$@") >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "$name failed after $((SECONDS - start))s (full log: $log)"
  fi
  echo "image-bake-local: $name in $((SECONDS - start))s (log: $log)" >&2
}

if has_step rootfs; then
  created=1
  bash "$repo/scripts/image-rootfs.sh" "$dest"
fi
[[ -f $dest/etc/os-release ]] || die "$dest holds no root filesystem (run the rootfs step)"

if has_step bake; then
  if [[ ! -f $bundle ]]; then
    [[ -z ${IMAGE_BUNDLE:-} ]] || die "IMAGE_BUNDLE=$bundle does not exist"
    bash "$repo/scripts/image-bundle.sh" "$bundle"
  fi
  bash "$chroot_sh" mount "$dest"
  playbook bake.yml bake --extra-vars "{\"bake_app_bundle\": \"$bundle\"}" --extra-vars "$extra"
  bash "$chroot_sh" umount "$dest"
fi

if has_step seal; then
  bash "$chroot_sh" mount "$dest"
  playbook seal.yml seal --extra-vars "$extra"
  bash "$chroot_sh" umount "$dest"
fi
echo "image-bake-local: $steps done: $dest" >&2
