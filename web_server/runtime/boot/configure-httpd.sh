#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apache httpd for the document root volume.
#
#   configure-httpd.sh install   install httpd if missing, bind it to the
#                                document-root mount (systemd drop-in) and
#                                write the site's settings (server name,
#                                caching headers); does not start it
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
SITE_CONF="$HTTPD_CONF_DIR/site.conf"
# How long CloudFront may serve a cached page while the server answers with
# errors or not at all (stale-if-error).
STALE_IF_ERROR_SECONDS=${STALE_IF_ERROR_SECONDS:-86400}
# A configuration file changed: a running httpd is reloaded once, at the end.
HTTPD_CONF_CHANGED=false

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
# viewer's domain, not the instance's host name that CloudFront connects to.
# The caching header lets CloudFront answer from its cache through short
# outages, before it fails over to the fallback copy:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
write_site_conf() {
  local content
  require_values SITE_DOMAIN
  printf -v content '%s\n' \
    "# Written by site-boot: how Apache answers for the site behind CloudFront." \
    "ServerName https://$SITE_DOMAIN" \
    "UseCanonicalName On" \
    "Header merge Cache-Control \"stale-if-error=$STALE_IF_ERROR_SECONDS\""
  if has_content "$SITE_CONF" "$content"; then
    log "$SITE_CONF is up to date"
  else
    write_file "$SITE_CONF" 0644 "$content"
    HTTPD_CONF_CHANGED=true
    log "wrote $SITE_CONF: ServerName https://$SITE_DOMAIN, stale-if-error=$STALE_IF_ERROR_SECONDS"
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

# Everything but the start: installed, bound to the mount, configured.
prepare_httpd() {
  install_httpd
  write_drop_in
  write_site_conf
  reload_if_changed
}

case $mode in
install) prepare_httpd ;;
start) start_httpd ;;
all)
  prepare_httpd
  start_httpd
  ;;
esac
