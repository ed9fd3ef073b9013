#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apache httpd for the document-root volume, in two modes:
#   install  install httpd if missing, bind it to the document-root mount
#            (systemd drop-in) and write the site's settings. boot.sh runs it
#            before waiting for the volume: during an instance replacement
#            the package download is not part of the downtime.
#   start    enable and start httpd, only on a mounted document root.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=configure-httpd
[[ ${1:-} == install || ${1:-} == start ]] || die "unknown mode '${1:-}' (expected install or start)"
STEP=$1-httpd
enable_error_trap

DROP_IN="$SYSTEMD_DIR/$HTTPD_SERVICE.service.d/10-document-root.conf"
DNF_ATTEMPTS=${DNF_ATTEMPTS:-3}
DNF_RETRY_SECONDS=${DNF_RETRY_SECONDS:-10}
SITE_CONF="$HTTPD_CONF_DIR/site.conf"
# How long CloudFront may serve a cached page while the server answers with
# errors or not at all (stale-if-error).
STALE_IF_ERROR_SECONDS=${STALE_IF_ERROR_SECONDS:-86400}

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
  update_file "$DROP_IN" 0644 "$content"
  [[ $WROTE == false ]] || request_daemon_reload
}

# ServerName: Apache's own redirects (/dir -> /dir/) name the viewer's domain,
# not the host CloudFront connects to. stale-if-error lets CloudFront answer
# from its cache through short outages (docs/fallback.md). A running httpd is
# reloaded when the file changed; a stopped one stays stopped.
write_site_conf() {
  local content
  require_values SITE_DOMAIN
  printf -v content '%s\n' \
    "# Written by site-boot: how Apache answers for the site behind CloudFront." \
    "ServerName https://$SITE_DOMAIN" \
    "UseCanonicalName On" \
    "Header merge Cache-Control \"stale-if-error=$STALE_IF_ERROR_SECONDS\""
  update_file "$SITE_CONF" 0644 "$content"
  [[ $WROTE == false ]] || systemctl try-reload-or-restart "$HTTPD_SERVICE"
}

start_httpd() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; not starting httpd"
  [[ -f $DROP_IN ]] || die "systemd drop-in $DROP_IN is missing; run the install mode first"
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

if [[ $STEP == install-httpd ]]; then
  install_httpd
  write_drop_in
  write_site_conf
else
  start_httpd
fi
