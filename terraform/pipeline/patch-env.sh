#!/usr/bin/env bash
# Sourced by every step of terraform/pipeline/patch.cloudbuild.yaml: turns the
# trigger's substitutions (automapped to _NAME variables) into the variables
# the repo's commands read (terraform/config.ts, OVERRIDES), so the pipeline
# synthesizes exactly the configuration the trigger was deployed with, and
# stops when one is missing instead of falling back to a placeholder.
set -euo pipefail

for name in INFRA_ENV GCP_PROJECT INFRA_PREFIX INFRA_DOMAIN INFRA_ALERT_EMAIL INFRA_STATE_BUCKET \
  INFRA_IMAGE_PROJECT INFRA_PIPELINE_REPO; do
  sub="_$name"
  [[ -n ${!sub:-} ]] || { echo "patch pipeline: substitution $sub is not set (the trigger sets it)" >&2; exit 1; }
  export "$name=${!sub}"
done
# Where the steps pass results to each other (the workspace persists between steps).
export PATCH_DIR=/workspace/.cache/patch
# Where each roll records the release file, so the next run can tell whether it was committed.
export PATCH_RECORD="gs://$INFRA_STATE_BUCKET/$INFRA_PREFIX/releases/$INFRA_ENV.release.json"
mkdir -p "$PATCH_DIR"
