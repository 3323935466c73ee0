#!/bin/bash
# counter-api startup script (instance metadata "startup-script", run as root
# by the guest agent at every boot). The image carries the app; this hands it
# its configuration: the non-secret KEY=VALUE lines from the metadata attribute
# counter-api-env, the Cloud SQL server CA from counter-api-pg-server-ca, and
# PGPASSWORD read from Secret Manager with the instance's own service account.
# It then (re)starts counter-api.service. Any failure exits non-zero before
# the env file exists; the unit requires it, so the service does not start,
# /healthz fails and autohealing replaces the VM.
set -euo pipefail

readonly MD=http://metadata.google.internal/computeMetadata/v1
readonly CONF_DIR=/etc/counter-api
readonly ENV_FILE=$CONF_DIR/env
readonly CA_FILE=$CONF_DIR/pg-server-ca.pem

log() { echo "counter-api-startup: $*"; }

metadata() {
  curl -fsS --retry 10 --retry-connrefused --retry-delay 2 -H 'Metadata-Flavor: Google' "$MD/$1"
}

json_field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

secret_latest() {
  local token
  token=$(metadata instance/service-accounts/default/token | json_field access_token)
  curl -fsS --retry 10 --retry-all-errors --retry-delay 3 -H "Authorization: Bearer $token" \
    "https://secretmanager.googleapis.com/v1/$1/versions/latest:access" |
    python3 -c 'import base64, json, sys; sys.stdout.write(base64.b64decode(json.load(sys.stdin)["payload"]["data"]).decode())'
}

main() {
  install -d -m 0750 -o root -g counter "$CONF_DIR"
  local tmp secret password
  tmp=$(mktemp "$CONF_DIR/.env.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  chmod 0640 "$tmp"
  chgrp counter "$tmp"

  metadata instance/attributes/counter-api-env >"$tmp"
  echo >>"$tmp"
  if metadata instance/attributes/counter-api-pg-server-ca >"$CA_FILE.new" 2>/dev/null; then
    chmod 0644 "$CA_FILE.new"
    mv -f "$CA_FILE.new" "$CA_FILE"
  else
    rm -f "$CA_FILE.new"
  fi

  secret=$(metadata instance/attributes/counter-api-db-password-secret)
  password=$(secret_latest "$secret")
  # systemd EnvironmentFile syntax: refuse what it would mangle rather than start with a wrong password.
  if [[ ! $password =~ ^[A-Za-z0-9._~+/=-]{24,}$ ]]; then
    log "the latest version of $secret is not 24+ characters of [A-Za-z0-9._~+/=-]; not starting"
    exit 1
  fi
  printf 'PGPASSWORD=%s\n' "$password" >>"$tmp"
  mv -f "$tmp" "$ENV_FILE"
  trap - EXIT

  # --no-block: the unit is ordered after google-startup-scripts.service, the
  # very unit running this script; waiting for the restart job would deadlock.
  systemctl restart --no-block counter-api.service
  log "configuration written to $ENV_FILE; counter-api.service (re)start queued"
}

main "$@"
