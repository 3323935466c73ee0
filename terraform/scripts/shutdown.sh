#!/bin/bash
# counter-api shutdown script (instance metadata "shutdown-script"). Runs when
# Compute Engine stops or deletes the VM: a rolling replace, a scale-in, an
# autohealing repair. By then the MIG has taken the VM out of the backend
# service and the load balancer has drained it, so no new request arrives.
#
# Compute Engine gives an on-demand VM about 90 s here, spent in order:
#   1. up to counter-api-journal-wait-seconds (default 20) while the app is
#      still running and replaying its degraded-mode journal into Cloud SQL;
#   2. systemctl stop: the unit's ExecStop waits up to 25 s more for the
#      replay, then pm2 drains the workers on SIGTERM (about 30 s);
#   3. a last count of unreplayed increments. Any left are logged with the
#      line the ops stack alerts on: the boot disk goes with the VM.
# Pending increments are counted by the image's helper, which uses the app's
# own journal parser (ansible/roles/service).
set -uo pipefail

readonly MD=http://metadata.google.internal/computeMetadata/v1
readonly ENV_FILE=/etc/counter-api/env
readonly DRAIN_HELPER=/usr/local/libexec/counter-api-wait-journal-drained

log() { echo "counter-api-shutdown: $*"; }

journal_dir() {
  local dir
  dir=$(sed -n 's/^JOURNAL_DIR=//p' "$ENV_FILE" 2>/dev/null | tail -n 1)
  if [[ -z $dir ]]; then dir=/var/lib/counter-api/journal; fi
  echo "$dir"
}

main() {
  local dir wait report
  dir=$(journal_dir)
  if [[ ! -x $DRAIN_HELPER ]]; then
    log "WARNING $DRAIN_HELPER missing: stopping without waiting for the journal"
    systemctl stop counter-api.service
    exit 0
  fi
  wait=$(curl -fsS -m 2 -H 'Metadata-Flavor: Google' "$MD/instance/attributes/counter-api-journal-wait-seconds" || echo 20)
  "$DRAIN_HELPER" "$dir" "$wait"
  systemctl stop counter-api.service
  report=$("$DRAIN_HELPER" "$dir" 0 2>&1)
  if [[ $report == *"still holds"* ]]; then
    log "ERROR journal not drained: $report"
    exit 1
  fi
  log "journal drained; counter-api stopped"
}

main "$@"
