#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apache httpd for the document root volume.
#
#   configure-httpd.sh install   install httpd if missing, bind it to the
#                                document-root mount (systemd drop-in) and
#                                write the origin check; does not start it
#   configure-httpd.sh start     enable httpd for every boot and start it now;
#                                run only after the volume is mounted
#   configure-httpd.sh           both, in that order
#
# boot.sh runs "install" before waiting for the volume, so that during an
# instance replacement the package download is not part of the downtime.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
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
ORIGIN_VERIFY_CONF="$HTTPD_CONF_DIR/origin-verify.conf"

# The token goes into httpd's configuration: checked first, never logged.
if [[ -n $ORIGIN_VERIFY_TOKEN ]] &&
  [[ $ORIGIN_VERIFY_TOKEN == *[!A-Za-z0-9-]* || ${#ORIGIN_VERIFY_TOKEN} -lt 16 || ${#ORIGIN_VERIFY_TOKEN} -gt 64 ]]; then
  die "ORIGIN_VERIFY_TOKEN is malformed: expected 16 to 64 letters, digits or dashes (got ${#ORIGIN_VERIFY_TOKEN} characters)"
fi

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
  local content
  printf -v content '%s\n' \
    "# Written by site-boot: serve only while the document-root volume is mounted." \
    "[Unit]" \
    "RequiresMountsFor=$DOCROOT"
  if has_content "$DROP_IN" "$content"; then
    log "systemd drop-in $DROP_IN is up to date"
  else
    write_file "$DROP_IN" 0644 "$content"
    log "wrote systemd drop-in $DROP_IN (RequiresMountsFor=$DOCROOT)"
  fi
}

# Any CloudFront distribution can reach port 80; only ours sends the token.
# <If> is merged after <Directory> and <Location>: its Require wins.
write_origin_verify() {
  local content
  if [[ -z $ORIGIN_VERIFY_TOKEN ]]; then
    log "ORIGIN_VERIFY_TOKEN is not set; skipping the origin check (an existing $ORIGIN_VERIFY_CONF is left as it is)"
    return 0
  fi
  printf -v content '%s\n' \
    "# Written by site-boot: 403 unless the request has this site's CloudFront origin header." \
    "<If \"%{HTTP:X-Origin-Verify} != '$ORIGIN_VERIFY_TOKEN'\">" \
    "  Require all denied" \
    "</If>"
  if has_content "$ORIGIN_VERIFY_CONF" "$content"; then
    log "origin check $ORIGIN_VERIFY_CONF is up to date"
  else
    write_file "$ORIGIN_VERIFY_CONF" 0640 "$content"
    log "wrote origin check $ORIGIN_VERIFY_CONF: requests without the right X-Origin-Verify header get 403"
    # Applies it to a running httpd; does nothing while httpd is stopped.
    systemctl try-reload-or-restart "$HTTPD_SERVICE"
  fi
}

start_httpd() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; not starting httpd"
  [[ -f $DROP_IN ]] || die "systemd drop-in $DROP_IN is missing; run the install mode first"
  if [[ -n $ORIGIN_VERIFY_TOKEN && ! -f $ORIGIN_VERIFY_CONF ]]; then
    die "origin check $ORIGIN_VERIFY_CONF is missing; run the install mode first"
  fi
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
  write_origin_verify
  ;;
start)
  start_httpd
  ;;
all)
  install_httpd
  write_drop_in
  write_origin_verify
  start_httpd
  ;;
esac
