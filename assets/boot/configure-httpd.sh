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
#
# Origin check: CloudFront's origin-facing prefix list, the only source the
# security group admits, is shared by every CloudFront distribution. The
# site's distribution adds "X-Origin-Verify: $ORIGIN_VERIFY_TOKEN" to its
# origin requests; origin-verify.conf makes httpd answer 403 to any request
# without exactly that value.
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
ORIGIN_VERIFY_CONF="$HTTPD_CONF_DIR/origin-verify.conf"

# The token goes into httpd's configuration inside a quoted expression, so
# only a plain token is accepted (a UUID fits). The value itself is never
# logged. Checked first, in every mode: a bad value stops before anything is
# installed, attached or started.
if [[ -n $ORIGIN_VERIFY_TOKEN ]] &&
  [[ $ORIGIN_VERIFY_TOKEN == *[!A-Za-z0-9-]* || ${#ORIGIN_VERIFY_TOKEN} -lt 16 || ${#ORIGIN_VERIFY_TOKEN} -gt 64 ]]; then
  die "ORIGIN_VERIFY_TOKEN is malformed: expected 16 to 64 letters, digits or dashes (got ${#ORIGIN_VERIFY_TOKEN} characters); not writing it into the httpd configuration"
fi

TMP_FILE=""
trap '[[ -z $TMP_FILE ]] || rm -f "$TMP_FILE"' EXIT

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

# httpd answers 403 unless X-Origin-Verify is exactly the token. <If> is core
# and Require comes from mod_authz_core, both in httpd 2.4's default set; an
# <If> section is merged after <Directory> and <Location>, so its Require
# replaces theirs whenever the header is wrong or missing.
write_origin_verify() {
  local content current meta
  if [[ -z $ORIGIN_VERIFY_TOKEN ]]; then
    if [[ -e $ORIGIN_VERIFY_CONF ]]; then
      log "ORIGIN_VERIFY_TOKEN is not set; leaving the existing $ORIGIN_VERIFY_CONF as it is"
    else
      log "ORIGIN_VERIFY_TOKEN is not set; skipping the origin check, so httpd will not check the X-Origin-Verify header"
    fi
    return 0
  fi
  printf -v content '%s\n' \
    "# Written by site-boot: serve only requests carrying this site's CloudFront" \
    "# origin header; any other request gets 403." \
    "<If \"%{HTTP:X-Origin-Verify} != '$ORIGIN_VERIFY_TOKEN'\">" \
    "  Require all denied" \
    "</If>"
  if [[ -f $ORIGIN_VERIFY_CONF && ! -L $ORIGIN_VERIFY_CONF ]] &&
    read_file current "$ORIGIN_VERIFY_CONF" && [[ $current == "$content" ]]; then
    meta=$(stat -c '%a %u %g' "$ORIGIN_VERIFY_CONF")
    if [[ $meta != "640 0 0" ]]; then
      chown 0:0 "$ORIGIN_VERIFY_CONF"
      chmod 0640 "$ORIGIN_VERIFY_CONF"
      log "reset owner and mode of $ORIGIN_VERIFY_CONF to root:root 0640 (were: $meta)"
    fi
    log "origin check $ORIGIN_VERIFY_CONF is up to date"
    return 0
  fi
  [[ -d $HTTPD_CONF_DIR ]] || mkdir -p "$HTTPD_CONF_DIR"
  # A temporary name that httpd's conf.d/*.conf does not match, then rename.
  TMP_FILE=$(mktemp "$HTTPD_CONF_DIR/.origin-verify.conf.XXXXXX")
  printf '%s' "$content" >"$TMP_FILE"
  chown 0:0 "$TMP_FILE"
  chmod 0640 "$TMP_FILE"
  mv -f "$TMP_FILE" "$ORIGIN_VERIFY_CONF"
  TMP_FILE=""
  log "wrote origin check $ORIGIN_VERIFY_CONF: requests without the right X-Origin-Verify header get 403"
  # A running httpd (a manual re-run with a new token) must pick it up now;
  # try-reload-or-restart does nothing while httpd is not running.
  systemctl try-reload-or-restart "$HTTPD_SERVICE"
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
