#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# In-place OS update of Amazon Linux 2023, run through SSM Run Command:
#   os-update.sh [RELEASEVER]   "latest" (default) or a release such as 2023.6.20241010
# dnf upgrade --releasever, then exit 194 (SSM reboots the instance and runs
# this again; site-boot.service brings the site back at boot) only when dnf
# needs-restarting -r says a reboot is required. No answer from dnf, or a
# reboot that did not help, fails the script instead: never a reboot loop.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=os-update
enable_error_trap

# SSM Run Command's documented "reboot, then run this script again" status.
EXIT_REBOOT=194
STATE_DIR=${STATE_DIR:-/var/lib/site-boot}
BOOT_ID_FILE=${BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}
REBOOT_MARKER=$STATE_DIR/os-update-reboot
RELEASEVER=${1:-latest}
[[ $RELEASEVER == latest || $RELEASEVER =~ ^[0-9]{4}\.[0-9]+\.[0-9]+$ ]] ||
  die "release '$RELEASEVER' is not valid: expected latest or a release such as 2023.6.20241010"
require_command dnf
boot_id=""
read -r boot_id 2>/dev/null <"$BOOT_ID_FILE" || true
[[ -n $boot_id ]] || die "cannot read this boot's id from $BOOT_ID_FILE"

log "upgrading every package to release $RELEASEVER (dnf upgrade -y --releasever=$RELEASEVER)"
dnf upgrade -y --releasever="$RELEASEVER" || die "dnf upgrade --releasever=$RELEASEVER failed"

# The reboot asked for last time, if any: "<release> <boot id>", good for
# the next run only. If the run after that reboot (another boot id) still
# hears "Reboot is required" for the same release, the reboot did not help:
# it fails instead of asking again.
asked_release="" asked_boot=""
read -r asked_release asked_boot 2>/dev/null <"$REBOOT_MARKER" || true
rm -f "$REBOOT_MARKER"

# needs-restarting -r: 0 and "Reboot should not be necessary", or 1 and
# "Reboot is required". dnf also exits 1 for an unknown command (the plugin
# is missing) and for its own errors: those are no answer.
rc=0
answer=$(dnf needs-restarting -r 2>&1) || rc=$?
if ((rc == 0)); then
  printf '%s\n' "$answer"
  log "the system is up to date at release $RELEASEVER; no reboot needed"
  exit 0
fi
if ((rc == 1)) && [[ $answer == *"Reboot is required"* ]]; then
  printf '%s\n' "$answer"
  if [[ $asked_release == "$RELEASEVER" && -n $asked_boot && $asked_boot != "$boot_id" ]]; then
    die "dnf still says a reboot is required after the reboot this script asked for (release $RELEASEVER); not asking for another, so that the instance does not reboot in a loop (see dnf needs-restarting -r on the instance)"
  fi
  write_file "$REBOOT_MARKER" 0600 "$RELEASEVER $boot_id"$'\n'
  log "a reboot is needed to finish the update; exiting $EXIT_REBOOT so that SSM Run Command reboots and runs this again"
  exit "$EXIT_REBOOT"
fi
first=${answer#"${answer%%[!$'\n']*}"} # the first line that is not empty
first=${first%%$'\n'*}
die "dnf needs-restarting -r gave no answer (exit $rc: ${first:-no output}); cannot tell whether a reboot is needed, so none is asked for (needs-restarting comes from dnf-plugins-core)"
