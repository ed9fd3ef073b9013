#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# In-place OS update of Amazon Linux 2023, run through SSM Run Command:
#
#   os-update.sh [RELEASEVER]   "latest" (default) or a release such as 2023.6.20241010
#
# Upgrades every package to that release (dnf upgrade --releasever), then asks
# dnf whether the running system needs a reboot (a new kernel, glibc,
# systemd). Exit 194 asks SSM Run Command to reboot the instance and run this
# script again; the second run finds nothing to upgrade and exits 0. The
# document-root volume, fstab entry and httpd come back by themselves after
# the reboot (site-boot.service runs at every boot).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=os-update
enable_error_trap

# SSM Run Command's documented "reboot, then run this script again" status.
EXIT_REBOOT=194
RELEASEVER=${1:-latest}
[[ $RELEASEVER == latest || $RELEASEVER =~ ^[0-9]{4}\.[0-9]+\.[0-9]+$ ]] ||
  die "release '$RELEASEVER' is not valid: expected latest or a release such as 2023.6.20241010"
require_command dnf

log "upgrading every package to release $RELEASEVER (dnf upgrade -y --releasever=$RELEASEVER)"
dnf upgrade -y --releasever="$RELEASEVER" || die "dnf upgrade --releasever=$RELEASEVER failed"

# needs-restarting -r: 0 no reboot needed, 1 reboot needed, anything else an error.
rc=0
dnf needs-restarting -r || rc=$?
case $rc in
0)
  log "the system is up to date at release $RELEASEVER; no reboot needed"
  ;;
1)
  log "a reboot is needed to finish the update; exiting $EXIT_REBOOT so that SSM Run Command reboots and runs this again"
  exit "$EXIT_REBOOT"
  ;;
*)
  die "dnf needs-restarting -r failed (exit $rc); cannot tell whether a reboot is needed"
  ;;
esac
