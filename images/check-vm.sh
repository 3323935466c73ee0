#!/usr/bin/env bash
# Boot a freshly baked (sealed) image once on a throwaway VM and check what
# the Packer smoke test, which runs before the seal, cannot: the first boot
# of the captured disk. The VM has no external IP and no service account;
# its startup script writes a placeholder env file (as the fleet's startup
# script writes the real one) and schedules a check that, once the unit had
# its chance to start, reports through guest attributes:
#   the unit is active and /healthz answers 200; no unit failed; a new
#   machine id and SSH host keys; AppArmor enforcing; /tmp and /dev/shm
#   noexec; the image manifest (image name, bundle digest).
# Passed: the image gets the label boot_check=passed. Failed: the report and
# the serial console are printed, the image is deprecated and labelled
# boot_check=failed, and the script exits 1. The VM is deleted either way.
#
# Usage: images/check-vm.sh IMAGE VAR_FILE TREE_SHA256   (called by images/build.sh)
# Environment: IMAGE_CHECK_TIMEOUT seconds to wait for the report (default 600).
set -euo pipefail

image=${1:?usage: check-vm.sh IMAGE VAR_FILE TREE_SHA256}
var_file=${2:?usage: check-vm.sh IMAGE VAR_FILE TREE_SHA256}
tree_sha=${3:?usage: check-vm.sh IMAGE VAR_FILE TREE_SHA256}
timeout=${IMAGE_CHECK_TIMEOUT:-600}

die() { echo "image:check: $*" >&2; exit 1; }
# A string variable of the Packer variables file: key = "value".
hcl_get() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$var_file" | head -n1; }
project=$(hcl_get project_id)
zone=$(hcl_get zone)
subnetwork=$(hcl_get subnetwork)
[[ -n $project && -n $zone && -n $subnetwork ]] || die "project_id, zone and subnetwork must be set in $var_file"
vm="counter-api-check-$(date -u +%Y%m%d%H%M%S)"
gc=(--project "$project" --zone "$zone")

work=$(mktemp -d)
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  local code=$?
  gcloud compute instances delete "$vm" "${gc[@]}" --quiet --delete-disks=all >/dev/null 2>&1 || true
  rm -rf -- "$work"
  exit "$code"
}
trap cleanup EXIT

cat >"$work/startup.sh" <<'STARTUP'
#!/bin/bash
# Throwaway-VM check of a counter-api image (images/check-vm.sh).
set -u
install -m 0640 -o root -g counter /dev/null /etc/counter-api/env
# No database: the unit must still start and answer /healthz (liveness).
printf 'DATABASE_URL=postgres://check@127.0.0.1:9/check\n' >/etc/counter-api/env
cat >/run/counter-api-check.sh <<'CHECK'
#!/bin/bash
set -u
put() {
  curl -sf -m 5 -X PUT -H 'Metadata-Flavor: Google' --data-binary "$2" \
    "http://metadata.google.internal/computeMetadata/v1/instance/guest-attributes/counter-api-check/$1" >/dev/null
}
health=0
for _ in $(seq 1 48); do
  health=$(node -e "fetch('http://127.0.0.1:8080/healthz',{signal:AbortSignal.timeout(3000)}).then(r=>console.log(r.status),()=>console.log(0))")
  [[ $health == 200 ]] && break
  sleep 5
done
sleep 10 # let late units settle before listing failures
export health
export unit=$(systemctl is-active counter-api.service)
export failed=$(systemctl --failed --plain --no-legend | awk '{print $1}' | paste -sd, -)
export machine_id=$(cat /etc/machine-id)
export hostkey=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub 2>&1)
export apparmor=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo missing)
export tmp_opts=$(findmnt -no OPTIONS /tmp) shm_opts=$(findmnt -no OPTIONS /dev/shm)
report=$(node -e '
  const m = JSON.parse(require("fs").readFileSync("/usr/local/share/counter-api/image-manifest.json", "utf8"));
  const e = process.env;
  console.log(JSON.stringify({ health: Number(e.health), unit: e.unit, failed: e.failed, machine_id: e.machine_id,
    hostkey: e.hostkey, apparmor: e.apparmor, tmp: e.tmp_opts, shm: e.shm_opts,
    image_name: m.image_name, bundle_sha256: m.bundle_sha256, node_version: m.node_version }));')
put report "$report"
ok=fail
if [[ $health == 200 && $unit == active && -z $failed && $machine_id =~ ^[0-9a-f]{32}$ && $apparmor == Y \
  && $tmp_opts == *noexec* && $shm_opts == *noexec* ]]; then ok=ok; fi
put result "$ok"
CHECK
chmod 0700 /run/counter-api-check.sh
# The unit starts after this script (google-startup-scripts.service): check
# from outside this script's run.
systemd-run --unit counter-api-check --on-active=20 /run/counter-api-check.sh
STARTUP

echo "image:check: booting $image on $vm"
gcloud compute instances create "$vm" "${gc[@]}" \
  --image "$image" --image-project "$project" \
  --machine-type e2-small --subnet "$subnetwork" --no-address \
  --no-service-account --no-scopes \
  --shielded-secure-boot --shielded-vtpm --shielded-integrity-monitoring \
  --labels purpose=image-check \
  --metadata enable-guest-attributes=TRUE,block-project-ssh-keys=TRUE \
  --metadata-from-file startup-script="$work/startup.sh" >/dev/null

deadline=$((SECONDS + timeout))
result=
while (( SECONDS < deadline )); do
  result=$(gcloud compute instances get-guest-attributes "$vm" "${gc[@]}" \
    --query-path=counter-api-check/result --format='value(value)' 2>/dev/null || true)
  [[ -n $result ]] && break
  sleep 15
done
report=$(gcloud compute instances get-guest-attributes "$vm" "${gc[@]}" \
  --query-path=counter-api-check/report --format='value(value)' 2>/dev/null || true)
echo "image:check: report: ${report:-none}"

# shellcheck disable=SC2016 # JavaScript template literals
verdict=$(REPORT=${report:-'{}'} RESULT=$result IMAGE=$image TREE=$tree_sha node -e '
  const r = JSON.parse(process.env.REPORT); const e = process.env; const why = [];
  if (e.RESULT !== "ok") why.push(`on-VM checks: ${e.RESULT || "no report in time"}`);
  if (r.image_name !== e.IMAGE) why.push(`manifest image_name ${r.image_name}, expected ${e.IMAGE}`);
  if (r.bundle_sha256 !== e.TREE) why.push(`manifest bundle_sha256 ${r.bundle_sha256}, expected ${e.TREE}`);
  console.log(why.length === 0 ? "passed" : why.join("; "));')

if [[ $verdict == passed ]]; then
  gcloud compute images add-labels "$image" --project "$project" --labels boot_check=passed >/dev/null
  echo "image:check: $image booted sealed: passed"
  exit 0
fi
echo "image:check: $image FAILED: $verdict" >&2
gcloud compute instances get-serial-port-output "$vm" "${gc[@]}" 2>/dev/null | tail -n 60 >&2 || true
gcloud compute images add-labels "$image" --project "$project" --labels boot_check=failed >/dev/null || true
gcloud compute images deprecate "$image" --project "$project" --state DEPRECATED >/dev/null || true
die "do not roll out $image"
