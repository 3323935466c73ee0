#!/usr/bin/env bash
# Mount and unmount the pseudo filesystems a chroot bake needs, and remove a
# root filesystem safely (never through a mount point: /dev is bind-mounted).
#
# Usage: scripts/image-chroot.sh mount|umount|mounts|remove ROOT
#   mount   /proc, /sys, /dev, /dev/pts inside ROOT (idempotent)
#   umount  unmount everything below ROOT, deepest first
#   mounts  print the mount points below ROOT (exit 1 if there are any)
#   remove  umount, check nothing is left mounted, delete ROOT
set -euo pipefail

action=${1:?usage: image-chroot.sh mount|umount|mounts|remove ROOT}
root=${2:?usage: image-chroot.sh mount|umount|mounts|remove ROOT}
root=$(realpath -m "$root")
if [[ $root == / ]]; then
  echo "image-chroot: refusing to work on /" >&2
  exit 1
fi

# Mount points at or below ROOT, deepest first (from the kernel's table, with
# octal escapes such as \040 decoded).
mounts_below() {
  awk '{ print $2 }' /proc/self/mounts \
    | while IFS= read -r m; do printf '%b\n' "$m"; done \
    | awk -v r="$root" '$0 == r || index($0, r "/") == 1' \
    | sort -r
}

do_mount() {
  [[ -d $root/proc && -d $root/sys && -d $root/dev ]] || {
    echo "image-chroot: $root is not a root filesystem" >&2
    exit 1
  }
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/sys" || mount -t sysfs -o ro sysfs "$root/sys"
  mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
  mkdir -p "$root/dev/pts"
  mountpoint -q "$root/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
}

do_umount() {
  local m tries
  for tries in 1 2 3; do
    while IFS= read -r m; do
      [[ -n $m && $m != "$root" ]] || continue
      umount "$m" 2>/dev/null || umount -l "$m"
    done < <(mounts_below)
    [[ -z $(mounts_below | grep -vxF "$root" || true) ]] && return 0
    sleep "$tries"
  done
  echo "image-chroot: still mounted below $root:" >&2
  mounts_below >&2
  return 1
}

case $action in
  mount) do_mount ;;
  umount) do_umount ;;
  mounts)
    left=$(mounts_below | grep -vxF "$root" || true)
    [[ -z $left ]] || { echo "$left"; exit 1; }
    ;;
  remove)
    [[ -e $root ]] || exit 0
    do_umount
    # --one-file-system: even if a mount appeared meanwhile, never cross it.
    rm -rf --one-file-system -- "$root"
    ;;
  *)
    echo "image-chroot: unknown action $action" >&2
    exit 2
    ;;
esac
