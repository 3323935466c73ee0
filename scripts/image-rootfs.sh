#!/usr/bin/env bash
# Make a fresh Debian root filesystem for a local image bake: the same release
# as the Packer source image, unpacked from a cached tarball when there is one,
# debootstrapped (and cached) otherwise. Needs root and debootstrap; verifies
# the archive's signatures with the Debian archive keyring.
#
# Usage: scripts/image-rootfs.sh DEST
#   DEST must not exist or be an empty directory.
# Environment:
#   IMAGE_RELEASE         Debian codename (default: trixie)
#   IMAGE_MIRROR          archive URL (default: http://deb.debian.org/debian)
#   IMAGE_CACHE_DIR       where tarballs are kept (default: <repo>/.cache/image)
#   IMAGE_CACHE_MAX_AGE   days before a cached tarball is rebuilt (default: 7)
#   IMAGE_ROOTFS_LYNIS    1: also score the fresh tree with Lynis
#                         (scripts/image-lynis.sh) and keep the score beside
#                         the tarball as TARBALL.lynis.json, unless one by the
#                         same scorer is there: the untouched tree's score is a
#                         property of the tarball, which image:test compares
#                         the baked tree with. Lynis refreshes DEST's apt
#                         lists: use it on a tree that is baked next or thrown
#                         away (CI's background step)
set -euo pipefail

dest=${1:?usage: image-rootfs.sh DEST}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
release=${IMAGE_RELEASE:-trixie}
mirror=${IMAGE_MIRROR:-http://deb.debian.org/debian}
cache_dir=${IMAGE_CACHE_DIR:-$repo/.cache/image}
max_age=${IMAGE_CACHE_MAX_AGE:-7}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# What the GCE Debian image has and a bake needs before Ansible can run:
# Python with apt bindings. Everything else comes from the bake itself.
include=python3,python3-apt,ca-certificates

if [[ $EUID -ne 0 ]]; then
  echo "image-rootfs: must run as root" >&2
  exit 1
fi
if [[ -e $dest && -n $(ls -A "$dest") ]]; then
  echo "image-rootfs: $dest exists and is not empty" >&2
  exit 1
fi

key=$(printf '%s|%s|%s' "$release" "$mirror" "$include" | sha256sum | cut -c1-12)
tarball=$cache_dir/rootfs-$release-$key.tar.zst
mkdir -p "$cache_dir" "$dest"
start=$SECONDS

baseline() {
  [[ ${IMAGE_ROOTFS_LYNIS:-0} == 1 ]] || return 0
  if bash "$repo/scripts/image-lynis.sh" --current "$tarball.lynis.json"; then
    echo "image-rootfs: Lynis baseline already beside the tarball, by the current scorer" >&2
    return 0
  fi
  bash "$repo/scripts/image-lynis.sh" "$dest" "$tarball.lynis.json"
  echo "image-rootfs: Lynis baseline $(cat "$tarball.lynis.json")" >&2
}

if [[ -f $tarball ]] && [[ -z $(find "$tarball" -mtime +"$max_age") ]]; then
  zstd -q -d -c "$tarball" | tar -C "$dest" --numeric-owner --xattrs --xattrs-include='*' -xpf -
  echo "image-rootfs: restored $release from cache ($(basename "$tarball")) in $((SECONDS - start))s" >&2
  echo "image-rootfs: tarball $tarball" >&2
  baseline
  exit 0
fi

debootstrap --keyring="$keyring" --include="$include" "$release" "$dest" "$mirror" >&2
# debootstrap leaves the downloaded .debs in apt's cache; a cloud image does not.
chroot "$dest" apt-get clean
echo "image-rootfs: debootstrapped $release in $((SECONDS - start))s" >&2

# Cache the pristine tree; write then rename, so a crash never leaves half a
# tarball behind.
rm -f "$cache_dir"/rootfs-"$release"-*.tar.zst.partial "$tarball.lynis.json"
tar -C "$dest" --numeric-owner --xattrs --xattrs-include='*' -cpf - . \
  | zstd -q -T0 -3 -o "$tarball.partial"
mv "$tarball.partial" "$tarball"
echo "image-rootfs: cached as $tarball ($(du -h "$tarball" | cut -f1))" >&2
echo "image-rootfs: tarball $tarball" >&2
baseline
