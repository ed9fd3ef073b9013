#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apache httpd for the document root volume.
#
#   configure-httpd.sh install   install httpd if missing, bind it to the
#                                document-root mount (systemd drop-in), name
#                                the server after the viewer's domain and
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
SERVER_NAME_CONF="$HTTPD_CONF_DIR/server-name.conf"
# How long the previous origin token stays accepted after a rotation.
ORIGIN_TOKEN_GRACE_SECONDS=${ORIGIN_TOKEN_GRACE_SECONDS:-3600}
# A configuration file changed: a running httpd is reloaded once, at the end.
HTTPD_CONF_CHANGED=false

# The token goes into httpd's configuration: checked first, never logged.
if [[ -n $ORIGIN_VERIFY_TOKEN ]] && ! is_origin_token "$ORIGIN_VERIFY_TOKEN"; then
  die "ORIGIN_VERIFY_TOKEN is malformed: expected 16 to 64 letters, digits or dashes (got ${#ORIGIN_VERIFY_TOKEN} characters)"
fi
if [[ -n $SITE_DOMAIN ]] && ! is_dns_name "$SITE_DOMAIN"; then
  die "SITE_DOMAIN '$SITE_DOMAIN' is not a DNS name (labels of letters, digits and inner dashes, at least two)"
fi
[[ $ORIGIN_TOKEN_GRACE_SECONDS =~ ^[0-9]+$ ]] ||
  die "ORIGIN_TOKEN_GRACE_SECONDS must be a whole number of seconds: '$ORIGIN_TOKEN_GRACE_SECONDS'"

# In production the token lives in Secrets Manager; ORIGIN_VERIFY_TOKEN, when
# set, wins (tests, manual runs). The value is never logged.
read_origin_token() {
  local token
  [[ -z $ORIGIN_VERIFY_TOKEN && -n $ORIGIN_TOKEN_SECRET_ID ]] || return 0
  require_command aws
  [[ -n $AWS_REGION ]] || resolve_identity
  log "reading the origin token from Secrets Manager secret $ORIGIN_TOKEN_SECRET_ID"
  if ! origin_token_from_secret token; then
    die "could not read the origin token from Secrets Manager secret $ORIGIN_TOKEN_SECRET_ID (the AWS CLI's error is above)"
  fi
  is_origin_token "$token" ||
    die "the origin token in secret $ORIGIN_TOKEN_SECRET_ID is malformed: expected 16 to 64 letters, digits or dashes (got ${#token} characters)"
  ORIGIN_VERIFY_TOKEN=$token
}

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
    "# Written by site-boot: serve only while the document-root volume is mounted," \
    "# and come back by itself if httpd dies." \
    "[Unit]" \
    "RequiresMountsFor=$DOCROOT" \
    "" \
    "[Service]" \
    "Restart=on-failure" \
    "RestartSec=5"
  if has_content "$DROP_IN" "$content"; then
    log "systemd drop-in $DROP_IN is up to date"
  else
    write_file "$DROP_IN" 0644 "$content"
    request_daemon_reload
    log "wrote systemd drop-in $DROP_IN (RequiresMountsFor=$DOCROOT, Restart=on-failure)"
  fi
}

# Apache's own redirects (/dir -> /dir/) and self-references name the
# viewer's domain, not the origin's host name that CloudFront connects to.
write_server_name() {
  local content
  if [[ -z $SITE_DOMAIN ]]; then
    log "SITE_DOMAIN is not set; skipping the server name (an existing $SERVER_NAME_CONF is left as it is)"
    return 0
  fi
  printf -v content '%s\n' \
    "# Written by site-boot: Apache's redirects and self-references use the viewer's domain." \
    "ServerName https://$SITE_DOMAIN" \
    "UseCanonicalName On"
  if has_content "$SERVER_NAME_CONF" "$content"; then
    log "server name $SERVER_NAME_CONF is up to date"
  else
    write_file "$SERVER_NAME_CONF" 0644 "$content"
    HTTPD_CONF_CHANGED=true
    log "wrote $SERVER_NAME_CONF: ServerName https://$SITE_DOMAIN"
  fi
}

# Any CloudFront distribution can reach port 80; only ours sends the token.
# <If> is merged after <Directory> and <Location>: its Require wins.
#
# After a rotation CloudFront keeps sending the old token until the new
# configuration has reached every edge, so the previous token stays accepted
# until a deadline in %{TIME}'s form (YYYYMMDDhhmmss, the server's local time,
# which is what the printf below writes too). The file's <If> line is matched
# by ORIGIN_IF_RE (common.sh), which site-health.sh reads the token with too.

write_origin_verify() {
  local content line current="" previous="" until="" now condition
  if [[ -z $ORIGIN_VERIFY_TOKEN ]]; then
    log "ORIGIN_VERIFY_TOKEN is not set; skipping the origin check (an existing $ORIGIN_VERIFY_CONF is left as it is)"
    return 0
  fi
  if [[ -f $ORIGIN_VERIFY_CONF ]]; then
    while IFS= read -r line; do
      if [[ $line =~ $ORIGIN_IF_RE ]]; then
        current=${BASH_REMATCH[1]} previous=${BASH_REMATCH[3]} until=${BASH_REMATCH[4]}
      fi
    done <"$ORIGIN_VERIFY_CONF"
  fi
  printf -v now '%(%Y%m%d%H%M%S)T' -1
  if [[ -n $current && $current != "$ORIGIN_VERIFY_TOKEN" ]] && ((ORIGIN_TOKEN_GRACE_SECONDS > 0)); then
    previous=$current
    printf -v until '%(%Y%m%d%H%M%S)T' $((EPOCHSECONDS + ORIGIN_TOKEN_GRACE_SECONDS))
    log "the origin token changed; the previous one stays accepted until $until (server time)"
  elif [[ -z $current || $current != "$ORIGIN_VERIFY_TOKEN" || $previous == "$ORIGIN_VERIFY_TOKEN" || ! $until > $now ]]; then
    previous="" until=""
  fi
  condition="%{HTTP:X-Origin-Verify} != '$ORIGIN_VERIFY_TOKEN'"
  if [[ -n $previous ]]; then
    condition+=" && !(%{HTTP:X-Origin-Verify} == '$previous' && %{TIME} < '$until')"
  fi
  printf -v content '%s\n' \
    "# Written by site-boot: 403 unless the request has this site's CloudFront origin header." \
    "<If \"$condition\">" \
    "  Require all denied" \
    "</If>"
  if has_content "$ORIGIN_VERIFY_CONF" "$content"; then
    log "origin check $ORIGIN_VERIFY_CONF is up to date"
  else
    write_file "$ORIGIN_VERIFY_CONF" 0640 "$content"
    HTTPD_CONF_CHANGED=true
    log "wrote origin check $ORIGIN_VERIFY_CONF: requests without the right X-Origin-Verify header get 403"
  fi
}

# Applies changed configuration to a running httpd; does nothing while it is stopped.
reload_if_changed() {
  if [[ $HTTPD_CONF_CHANGED == true ]]; then
    systemctl try-reload-or-restart "$HTTPD_SERVICE"
  fi
}

start_httpd() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; not starting httpd"
  [[ -f $DROP_IN ]] || die "systemd drop-in $DROP_IN is missing; run the install mode first"
  if [[ -n $ORIGIN_VERIFY_TOKEN && ! -f $ORIGIN_VERIFY_CONF ]]; then
    die "origin check $ORIGIN_VERIFY_CONF is missing; run the install mode first"
  fi
  # Pick up a changed drop-in or fstab entry (systemd turns it into a mount
  # unit); when nothing changed there is nothing to reload.
  if [[ -e $RUN_DIR/daemon-reload-needed ]]; then
    systemctl daemon-reload
    rm -f "$RUN_DIR/daemon-reload-needed"
  fi
  systemctl enable --now "$HTTPD_SERVICE"
  systemctl is-active --quiet "$HTTPD_SERVICE" || die "$HTTPD_SERVICE is not active after starting it"
  log "$HTTPD_SERVICE is enabled and running, serving $DOCROOT"
}

case $mode in
install)
  read_origin_token
  install_httpd
  write_drop_in
  write_server_name
  write_origin_verify
  reload_if_changed
  ;;
start)
  start_httpd
  ;;
all)
  read_origin_token
  install_httpd
  write_drop_in
  write_server_name
  write_origin_verify
  reload_if_changed
  start_httpd
  ;;
esac
