#!/usr/bin/env bash
# Lynis's hardening index of a root filesystem, measured inside it (chroot)
# with this machine's Lynis copied in, so that the tree's own tools and files
# are audited and nothing is installed into it; the copy is removed after.
#
# Usage: scripts/image-lynis.sh ROOT [OUT.json]
#        scripts/image-lynis.sh --current SCORE.json
#   Mounts ROOT's pseudo filesystems if they are not mounted (and unmounts
#   what it mounted). Lynis runs with its default profile and
#   images/lynis-custom.prf. Prints, or writes to OUT.json (atomically), a
#   JSON object: index, tests, suggestions (test ids), seconds, and scorer
#   (the Lynis version and digests of both profiles: two scores compare only
#   when their scorers are equal). --current exits 0 if SCORE.json was made
#   by the scorer a run now would use, 1 otherwise (missing, unreadable, or
#   another Lynis or profile): the one rule for reusing a recorded score.
set -euo pipefail

scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

profile=$(cd "$scripts/.." && pwd)/images/lynis-custom.prf

scorer() {
  printf 'lynis %s, default.prf %s, custom.prf %s' "$(lynis show version)" \
    "$(sha256sum /etc/lynis/default.prf | cut -c1-12)" "$(sha256sum "$profile" | cut -c1-12)"
}

if [[ ${1:-} == --current ]]; then
  file=${2:?usage: image-lynis.sh --current SCORE.json}
  recorded=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["scorer"])' "$file" 2>/dev/null) || exit 1
  [[ $recorded == "$(scorer)" ]]
  exit
fi

root=${1:?usage: image-lynis.sh ROOT [OUT.json] | --current SCORE.json}
out=${2:-}
if [[ $EUID -ne 0 ]]; then
  echo "image-lynis: must run as root" >&2
  exit 1
fi
root=$(realpath -e "$root")
work=$root/tmp/lynis-audit
output=$(mktemp)
mounted=0
cleanup() {
  rm -rf --one-file-system -- "$work" "$output"
  if ((mounted)); then bash "$scripts/image-chroot.sh" umount "$root"; fi
}
trap cleanup EXIT
# Killed (CI stops its background jobs that way): still unmount and clean up.
trap 'exit 143' TERM HUP
trap 'exit 130' INT

if ! mountpoint -q "$root/proc"; then
  mounted=1
  bash "$scripts/image-chroot.sh" mount "$root"
fi
rm -rf --one-file-system -- "$work"
mkdir -m 700 "$work"
cp -a /usr/share/lynis/. "$work/"
cp -r /etc/lynis/plugins "$work/plugins"
cp /etc/lynis/default.prf "$work/default.prf"
cp "$profile" "$work/custom.prf"
install -m 755 /usr/sbin/lynis "$work/lynis"

start=$SECONDS
code=0
timeout 720 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 chroot "$root" /bin/sh -c \
  'cd /tmp/lynis-audit && ./lynis audit system --quick --no-colors --logfile /tmp/lynis-audit/lynis.log --report-file /tmp/lynis-audit/report.dat' \
  >"$output" 2>&1 || code=$?
seconds=$((SECONDS - start))

report=$work/report.dat
if ! grep -qE '^hardening_index=[0-9]+$' "$report" 2>/dev/null || ! grep -qE '^lynis_tests_done=[0-9]+$' "$report"; then
  echo "image-lynis: Lynis produced no hardening index (exit $code):" >&2
  tail -c 2000 "$output" >&2
  exit 1
fi

json=$(python3 - "$report" "$seconds" "$(scorer)" <<'EOF'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
print(json.dumps({
    "index": int(re.search(r"^hardening_index=(\d+)$", text, re.M).group(1)),
    "tests": int(re.search(r"^lynis_tests_done=(\d+)$", text, re.M).group(1)),
    "suggestions": re.findall(r"^suggestion\[\]=([A-Z0-9-]+)\|", text, re.M),
    "seconds": int(sys.argv[2]),
    "scorer": sys.argv[3],
}))
EOF
)
if [[ -z $out ]]; then
  printf '%s\n' "$json"
else
  printf '%s\n' "$json" >"$out.partial"
  mv "$out.partial" "$out"
fi
