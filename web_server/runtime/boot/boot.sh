#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Boot sequence of the web server: attach the document-root volume to this
# instance, mount it (creating a filesystem only on a blank volume), seed the
# page and start httpd. Safe to run again at any time: a re-run changes
# nothing and loses nothing.
#
# Run by site-boot.service (at every boot, and by apply.sh for every
# deployment) with the values of /etc/site-boot/site.env; safe to run by hand.
# Required environment: the deployment's values (VOLUME_ID, DEVICE_NAME,
# IMAGE_URL, ...). INSTANCE_ID and AWS_REGION come from IMDSv2 unless set.
# See docs/boot.md for every variable.
#
# The step scripts sit next to this file and are run with bash, so they work
# even where the copy lost its executable bits. BOOT_DIR is the physical
# release directory, so a run finishes with the scripts it started with even
# if apply.sh installs a new release meanwhile.
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
run_step seed-page seed-page.sh
run_step start-httpd configure-httpd.sh start

log "finished: $DOCROOT is mounted from volume $VOLUME_ID and httpd is serving it"
