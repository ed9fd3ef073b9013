#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apply a deployment to this instance, in place (docs/boot.md). The State
# Manager association runs it as root: bash <staging>/boot/apply.sh <staging>,
# <staging> being the unpacked site asset (boot/ and site/), with the
# deployment's values in the environment variables SITE_VALUES names. It
# changes nothing unless every value is set; run again with the same tree and
# values, it changes nothing.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=apply
enable_error_trap

BOOT_UNIT=site-boot.service
TIMERS=(site-sync.timer site-health.timer)
JOURNAL_LINES=${JOURNAL_LINES:-80}

STAGING=${1:-}
[[ -n $STAGING ]] || die "usage: apply.sh <staging-dir>"
STAGING=$(cd "$STAGING" && pwd) || die "staging directory '$1' does not exist"
[[ -f $STAGING/boot/boot.sh && -f $STAGING/site/index.html.tmpl ]] ||
  die "$STAGING does not hold boot/boot.sh and site/index.html.tmpl"
[[ -f $STAGING/boot/units/$BOOT_UNIT ]] || die "$STAGING/boot/units/$BOOT_UNIT is missing"

# The SSM document has already checked every value against its pattern
# (web_server/configuration.py): here it is only made sure that none is missing.
read -r -a ENV_KEYS <<<"${SITE_VALUES:-}"
((${#ENV_KEYS[@]} > 0)) || die "SITE_VALUES is not set: run apply.sh through the site's SSM document"
for key in "${ENV_KEYS[@]}"; do
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || die "SITE_VALUES holds '$key', which is not a variable name"
  [[ -n ${!key:-} ]] || die "$key is not set; nothing was changed"
done

# Whether this apply changed the scripts, the values or a unit: a boot run
# that started before it must then be followed by a fresh one.
CHANGED=false

# The tree as a new release directory behind the INSTALL_DIR symlink.
install_tree() {
  local releases=$INSTALL_DIR.releases release keep="" entry
  if diff -r -q "$STAGING/boot" "$INSTALL_DIR/boot" >/dev/null 2>&1 &&
    diff -r -q "$STAGING/site" "$INSTALL_DIR/site" >/dev/null 2>&1; then
    log "$INSTALL_DIR is up to date"
    return 0
  fi
  [[ -d $releases ]] || mkdir -p "$releases"
  release=$(mktemp -d "$releases/XXXXXXXX")
  cp -R "$STAGING/boot" "$STAGING/site" "$release/"
  # The archive may not carry modes: scripts executable, the rest readable.
  chmod -R a-x,u=rwX,go=rX "$release"
  chmod 0755 "$release"/boot/*.sh
  if [[ -L $INSTALL_DIR ]]; then
    keep=$(readlink "$INSTALL_DIR")
  elif [[ -e $INSTALL_DIR ]]; then
    # A copy from before releases existed: kept as the previous release.
    keep=$releases/previous-$EPOCHSECONDS
    mv -T "$INSTALL_DIR" "$keep"
    log "moved the earlier copy of the scripts to $keep"
  fi
  # One rename: a run that starts now sees either the old tree or the new one.
  ln -s "$release" "$INSTALL_DIR.new-link"
  mv -T "$INSTALL_DIR.new-link" "$INSTALL_DIR"
  CHANGED=true
  log "installed the scripts as $release ($INSTALL_DIR points there)"
  # Keep the previous release (a run may still be reading it); drop older ones.
  for entry in "$releases"/*; do
    [[ $entry == "$release" || $entry == "$keep" ]] || rm -rf "$entry"
  done
}

write_env_file() {
  local content="" key
  for key in "${ENV_KEYS[@]}"; do
    content+="$key=${!key}"$'\n'
  done
  # The server's configuration: root's alone.
  update_file "$ENV_FILE" 0600 "$content"
  [[ $WROTE == false ]] || CHANGED=true
}

install_units() {
  local src content units_changed=false
  for src in "$STAGING"/boot/units/*; do
    [[ -f $src ]] || continue
    read_file content "$src" || die "cannot read $src"
    update_file "$SYSTEMD_DIR/${src##*/}" 0644 "$content"
    [[ $WROTE == false ]] || units_changed=true
  done
  if [[ $units_changed == true ]]; then
    CHANGED=true
    systemctl daemon-reload
  else
    log "systemd units are up to date"
  fi
}

# The boot unit and the timers the tree has, enabled; the timers started.
enable_units() {
  local unit
  for unit in "$BOOT_UNIT" "${TIMERS[@]}"; do
    [[ -f $STAGING/boot/units/$unit ]] || continue
    if ! systemctl is-enabled --quiet "$unit"; then
      systemctl enable "$unit"
      log "enabled $unit"
    fi
    if [[ $unit == *.timer ]] && ! systemctl is-active --quiet "$unit"; then
      systemctl start "$unit"
      log "started $unit"
    fi
  done
}

# A restart of a unit that is activating (an attempt runs, or systemd waits to
# retry) would kill the run in progress, possibly in mkfs or xfs_growfs. So
# "start" joins that run; then, if this apply changed anything, a restart
# (which now kills nothing) runs with the changes.
run_boot_unit() {
  local rc=0 state
  state=$(systemctl show --property ActiveState --value "$BOOT_UNIT") || state=unknown
  if [[ $state == activating ]]; then
    log "$BOOT_UNIT is already running (or waiting to retry); waiting for that run to end instead of restarting it"
    systemctl start "$BOOT_UNIT" || rc=$?
    if [[ $CHANGED == true ]]; then
      log "that run started before this deployment's changes (it ended with exit $rc); restarting $BOOT_UNIT to run with them"
      rc=0
      systemctl restart "$BOOT_UNIT" || rc=$?
    fi
  else
    log "restarting $BOOT_UNIT: runs $INSTALL_DIR/boot/boot.sh and waits for it"
    systemctl restart "$BOOT_UNIT" || rc=$?
  fi
  if ((rc == 0)); then
    log "$BOOT_UNIT succeeded: the deployment is applied"
    return 0
  fi
  log "ERROR: $BOOT_UNIT failed (exit $rc); systemd retries it. The last $JOURNAL_LINES lines of its journal:"
  journalctl --unit "$BOOT_UNIT" --lines "$JOURNAL_LINES" --no-pager 2>&1 ||
    tail -n "$JOURNAL_LINES" "$LOG_FILE" 2>&1 || true
  exit "$rc"
}

log "applying $STAGING: volume $VOLUME_ID, image $IMAGE_URL"
install_tree
write_env_file
install_units
enable_units
run_boot_unit
