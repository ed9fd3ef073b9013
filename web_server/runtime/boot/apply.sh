#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Apply a deployment to this instance, in place (run by the State Manager
# association as root): bash <staging>/boot/apply.sh <staging>
# <staging> is the unpacked site asset (boot/ and site/). The deployment's
# values arrive as environment variables named by SITE_VALUES. In order: make
# sure none is missing before changing anything; install
# the tree as INSTALL_DIR (new release directory, one rename of the symlink);
# write ENV_FILE and the units of boot/units/ only when they changed (then
# daemon-reload); enable the units; run site-boot.service, which runs
# boot.sh, and wait for that attempt (a run already in progress is waited
# for, never restarted in the middle); exit with its result, printing the
# journal's tail on failure. Running it again with the same tree and values
# changes nothing. See docs/boot.md.
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

# --- values -------------------------------------------------------------------

# SITE_VALUES names the deployment's values, which arrive as environment
# variables. Both come from the SSM document, which has already checked every
# value against its pattern (web_server/configuration.py, the one place
# that defines them): here it is only made sure that none is missing.
read -r -a ENV_KEYS <<<"${SITE_VALUES:-}"
((${#ENV_KEYS[@]} > 0)) || die "SITE_VALUES is not set: run apply.sh through the site's SSM document"
for key in "${ENV_KEYS[@]}"; do
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || die "SITE_VALUES holds '$key', which is not a variable name"
  [[ -n ${!key:-} ]] || die "$key is not set; nothing was changed"
done

# Whether this apply changed the scripts, the values or a unit: a boot run
# that started before it must then be followed by a fresh one.
CHANGED=false

# --- the scripts ----------------------------------------------------------------

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
  find "$release" -type d -exec chmod 0755 {} +
  find "$release" -type f -exec chmod 0644 {} +
  find "$release/boot" -maxdepth 1 -type f -name '*.sh' -exec chmod 0755 {} +
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

# --- values file ------------------------------------------------------------------

write_env_file() {
  local content="" key
  for key in "${ENV_KEYS[@]}"; do
    content+="$key=${!key}"$'\n'
  done
  if has_content "$ENV_FILE" "$content"; then
    log "$ENV_FILE is up to date"
    return 0
  fi
  # The server's configuration: root's alone.
  write_file "$ENV_FILE" 0600 "$content"
  CHANGED=true
  log "wrote $ENV_FILE"
}

# --- systemd units ------------------------------------------------------------------

UNITS_CHANGED=false

install_units() {
  local src name content
  for src in "$STAGING"/boot/units/*; do
    [[ -f $src ]] || continue
    name=${src##*/}
    read_file content "$src" || die "cannot read $src"
    if has_content "$SYSTEMD_DIR/$name" "$content"; then
      continue
    fi
    write_file "$SYSTEMD_DIR/$name" 0644 "$content"
    UNITS_CHANGED=true
    log "installed $SYSTEMD_DIR/$name"
  done
  if [[ $UNITS_CHANGED == true ]]; then
    CHANGED=true
    systemctl daemon-reload
  else
    log "systemd units are up to date"
  fi
}

ensure_enabled() {
  if ! systemctl is-enabled --quiet "$1"; then
    systemctl enable "$1"
    log "enabled $1"
  fi
}

enable_units() {
  local timer
  ensure_enabled "$BOOT_UNIT"
  for timer in "${TIMERS[@]}"; do
    [[ -f $STAGING/boot/units/$timer ]] || continue
    ensure_enabled "$timer"
    if ! systemctl is-active --quiet "$timer"; then
      systemctl start "$timer"
      log "started $timer"
    fi
  done
}

# A restart of a unit that is activating would kill the run in progress,
# possibly in the middle of mkfs or xfs_growfs. So: activating (an attempt
# runs, or systemd waits to retry) -> "start", which joins that run and
# returns its result; then, if this apply changed anything, a restart, which
# now kills nothing, for a run with the changes. Otherwise a restart (a new
# run of boot.sh, which is idempotent).
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
