#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The web server's boot sequence (docs/boot.md), run by site-boot.service with
# the values of site.env; a re-run changes nothing and loses nothing.
# INSTANCE_ID and AWS_REGION come from IMDSv2 unless set. The steps run with
# bash (the copy may have lost its executable bits) from BOOT_DIR, the
# physical release directory: a run finishes with the scripts it started with
# even if apply.sh installs a new release meanwhile.
set -euo pipefail
BOOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
export BOOT_DIR
# shellcheck source=common.sh
source "$BOOT_DIR/common.sh"
STEP=boot
enable_error_trap

require_values VOLUME_ID IMAGE_URL

# One boot sequence at a time (a manual re-run may overlap a running one).
[[ $LOCK_FILE != */* || -d ${LOCK_FILE%/*} ]] || mkdir -p "${LOCK_FILE%/*}"
exec 9>>"$LOCK_FILE"
flock -w 600 9 || die "another boot sequence holds $LOCK_FILE"

log "starting: volume $VOLUME_ID, image $IMAGE_URL, document root $DOCROOT"
resolve_identity
log "instance $INSTANCE_ID in $AWS_REGION"

run_step() {
  local name=$1 script=$2
  shift 2
  log "step $name: begin"
  if ! bash "$BOOT_DIR/$script" "$@"; then
    die "step $name did not complete; httpd was not started by this run"
  fi
  log "step $name: done"
}

run_step install-httpd configure-httpd.sh install
run_step attach-volume attach-volume.sh
run_step prepare-docroot prepare-docroot.sh
run_step layout-docroot site-release.sh layout
run_step seed-page seed-page.sh
run_step start-httpd configure-httpd.sh start

log "finished: $DOCROOT is mounted from volume $VOLUME_ID and httpd is serving it"
