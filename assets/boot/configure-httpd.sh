#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apache httpd for the document root volume.
#
#   configure-httpd.sh install   install httpd if missing and bind it to the
#                                document-root mount (systemd drop-in); does
#                                not start it
#   configure-httpd.sh start     enable httpd for every boot and start it now;
#                                run only after the volume is mounted
#   configure-httpd.sh           both, in that order
#
# boot.sh runs "install" before waiting for the volume, so that during an
# instance replacement the package download is not part of the downtime.
set -euo pipefail
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR != "${BASH_SOURCE[0]}" ]] || SCRIPT_DIR=.
# shellcheck source=common.sh
source "$SCRIPT_DIR/common.sh"
mode=${1:-all}
case $mode in
install) STEP=install-httpd ;;
start) STEP=start-httpd ;;
all) STEP=configure-httpd ;;
*)
  STEP=configure-httpd
  die "unknown mode '$mode' (expected install, start or all)"
  ;;
esac
enable_error_trap

DROP_IN_DIR="$SYSTEMD_DIR/$HTTPD_SERVICE.service.d"
DROP_IN="$DROP_IN_DIR/10-document-root.conf"
DNF_ATTEMPTS=${DNF_ATTEMPTS:-3}
DNF_RETRY_SECONDS=${DNF_RETRY_SECONDS:-10}

install_httpd() {
  local attempt
  if command -v rpm >/dev/null 2>&1 && rpm -q httpd >/dev/null 2>&1; then
    log "httpd is already installed"
    return 0
  fi
  require_command dnf
  for ((attempt = 1; ; attempt++)); do
    log "installing httpd (attempt $attempt of $DNF_ATTEMPTS)"
    if dnf install -y httpd >&2; then
      return 0
    fi
    ((attempt < DNF_ATTEMPTS)) || die "dnf install -y httpd failed $DNF_ATTEMPTS times"
    sleep "$DNF_RETRY_SECONDS"
  done
}

# httpd must never serve while the document root is unmounted: the unit
# requires (and is ordered after) the mount of DOCROOT, at every boot.
write_drop_in() {
  local content current
  printf -v content '%s\n' \
    "# Written by site-boot: serve only while the document-root volume is mounted." \
    "[Unit]" \
    "RequiresMountsFor=$DOCROOT"
  if [[ -f $DROP_IN ]] && read_file current "$DROP_IN" && [[ $current == "$content" ]]; then
    log "systemd drop-in $DROP_IN is up to date"
  else
    [[ -d $DROP_IN_DIR ]] || mkdir -p "$DROP_IN_DIR"
    printf '%s' "$content" >"$DROP_IN"
    log "wrote systemd drop-in $DROP_IN (RequiresMountsFor=$DOCROOT)"
  fi
}

start_httpd() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; not starting httpd"
  [[ -f $DROP_IN ]] || die "systemd drop-in $DROP_IN is missing; run the install mode first"
  # Pick up the drop-in and the fstab entry (systemd turns it into a mount unit).
  systemctl daemon-reload
  systemctl enable --now "$HTTPD_SERVICE"
  systemctl is-active --quiet "$HTTPD_SERVICE" || die "$HTTPD_SERVICE is not active after starting it"
  log "$HTTPD_SERVICE is enabled and running, serving $DOCROOT"
}

case $mode in
install)
  install_httpd
  write_drop_in
  ;;
start)
  start_httpd
  ;;
all)
  install_httpd
  write_drop_in
  start_httpd
  ;;
esac
