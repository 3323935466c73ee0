#!/usr/bin/env bash
# Ansible "chroot_exe" for a booted root filesystem: the chroot connection
# calls `<exe> ROOT /bin/sh -c CMD`; this runs CMD inside the namespaces of
# the systemd-nspawn container booted from ROOT (pid in IMAGE_NSENTER_PID), so
# systemctl, ss and HTTP checks see the running image as on a real VM.
#
# Usage (by Ansible): IMAGE_NSENTER_PID=<container init pid> image-nsenter.sh ROOT CMD...
set -euo pipefail

root=${1:?usage: image-nsenter.sh ROOT CMD...}
shift
pid=${IMAGE_NSENTER_PID:?IMAGE_NSENTER_PID must name the container init}

# Refuse to run anything if that pid is not the init of a container booted
# from ROOT (a stale pid could be any process on the host).
# Same directory = same device and inode (nspawn bind-mounts ROOT as the
# container's /).
want=$(stat -L -c %d:%i "$root/")
have=$(stat -L -c %d:%i "/proc/$pid/root/" 2>/dev/null || true)
if [[ $have != "$want" ]]; then
  echo "image-nsenter: pid $pid is not the init of a container rooted at $root" >&2
  exit 1
fi
exec nsenter --target "$pid" --mount --uts --ipc --net --pid --cgroup --root --wd -- "$@"
