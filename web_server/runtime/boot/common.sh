# shellcheck shell=bash
# Shared settings and helpers of the boot scripts; sourced, never executed.
# Host paths come from the environment (the tests use a loop device and a
# scratch directory), with the instance's real values as defaults. The
# deployment's values (web_server/instance_values.py) arrive in the environment.
set -euo pipefail

DOCROOT=${DOCROOT:-/var/www/html}
FSTAB=${FSTAB:-/etc/fstab}
BY_ID_DIR=${BY_ID_DIR:-/dev/disk/by-id}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
LOG_FILE=${LOG_FILE:-/var/log/site-boot.log}
LOCK_FILE=${LOCK_FILE:-/run/site-boot.lock}
INSTALL_DIR=${INSTALL_DIR:-/opt/site-boot}
ENV_FILE=${ENV_FILE:-/etc/site-boot/site.env}
DEVICE_CANDIDATES=${DEVICE_CANDIDATES:-/dev/sdf /dev/xvdf}
DEVICE_WAIT_SECONDS=${DEVICE_WAIT_SECONDS:-180}
DEVICE_POLL_SECONDS=${DEVICE_POLL_SECONDS:-1}
ATTACH_WAIT_SECONDS=${ATTACH_WAIT_SECONDS:-1800}
ATTACH_POLL_SECONDS=${ATTACH_POLL_SECONDS:-10}
IMDS_ENDPOINT=${IMDS_ENDPOINT:-http://169.254.169.254}
FS_TYPE=${FS_TYPE:-xfs}
FS_LABEL=${FS_LABEL:-site-docroot}
HTTPD_SERVICE=${HTTPD_SERVICE:-httpd}
HTTPD_CONF_DIR=${HTTPD_CONF_DIR:-/etc/httpd/conf.d}
# The served tree on the volume (site-release.sh): Apache's DocumentRoot is the
# link SERVED, which names one of the trees in RELEASES.
RELEASES=$DOCROOT/.releases
# shellcheck disable=SC2034 # for the scripts that source this
SERVED=$RELEASES/current
# The instance's identity: from IMDS unless set (boot.sh exports it for its steps).
INSTANCE_ID=${INSTANCE_ID:-}
AWS_REGION=${AWS_REGION:-}
RUN_DIR=${RUN_DIR:-/run/site-boot}
BOOT_DIR=${BOOT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
PAGE_TEMPLATE=${PAGE_TEMPLATE:-${BOOT_DIR%/*}/site/index.html.tmpl}
# The AWS CLI must never wait for a pager on a console without a terminal.
export AWS_PAGER=""
# The instance has no IPv4 route to the internet: the CLI reaches AWS's APIs at their
# dual-stack endpoints, over IPv6 (S3 also over IPv4, through the VPC's gateway endpoint).
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-endpoints.html
export AWS_USE_DUALSTACK_ENDPOINT=${AWS_USE_DUALSTACK_ENDPOINT:-true}

STEP=${STEP:-boot}
# The block device being worked on, named in error messages once known.
CURRENT_DEVICE=${CURRENT_DEVICE:-}

# Builtins only: a process per log line was most of a re-run's time.
log() {
  local line
  TZ=UTC0 printf -v line '%(%Y-%m-%dT%H:%M:%SZ)T site-boot[%s]: %s' -1 "$STEP" "$*"
  printf '%s\n' "$line" >&2
  # The log file is a convenience; failing to write it must not stop the boot.
  if [[ $LOG_FILE == */* && ! -d ${LOG_FILE%/*} ]]; then
    mkdir -p "${LOG_FILE%/*}" 2>/dev/null || true
  fi
  { printf '%s\n' "$line" >>"$LOG_FILE"; } 2>/dev/null || true
}

# die MESSAGE [STATUS]: log the error with the step, the volume and the device
# being worked on (where known), then exit with STATUS (1).
die() {
  log "ERROR: step $STEP failed${VOLUME_ID:+ for volume $VOLUME_ID}${CURRENT_DEVICE:+ (device $CURRENT_DEVICE)}: $1"
  exit "${2:-1}"
}

# Call once at the top of every executable script: any failing command stops
# the step with die (command substitutions too: inherit_errexit).
enable_error_trap() {
  set -E
  shopt -s inherit_errexit
  trap 'die "command '\''$BASH_COMMAND'\'' exited with $? (line $LINENO)" "$?"' ERR
}

# require_values NAME...: each deployment value is set, or the step stops.
require_values() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "$name is not set"
  done
}

require_command() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command '$c' is not installed"
  done
}

# IMDSv2: fetch a session token, then one metadata path.
imds_get() {
  local token curl=(curl -fsS --max-time 5 --retry 5 --retry-delay 1)
  token=$("${curl[@]}" -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
    "$IMDS_ENDPOINT/latest/api/token") || return 1
  "${curl[@]}" -H "X-aws-ec2-metadata-token: $token" "$IMDS_ENDPOINT/latest/meta-data/$1"
}

resolve_identity() {
  [[ -n $INSTANCE_ID ]] || INSTANCE_ID=$(imds_get instance-id) ||
    die "cannot read the instance id from IMDS at $IMDS_ENDPOINT"
  [[ -n $AWS_REGION ]] || AWS_REGION=$(imds_get placement/region) ||
    die "cannot read the region from IMDS at $IMDS_ENDPOINT"
  export INSTANCE_ID AWS_REGION
}

# Milliseconds since the epoch, for bounded waits (whole seconds would cut a
# short wait by up to one second).
now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  printf '%s\n' $((10#$t / 1000))
}

# wait_until COMMAND...: run COMMAND every DEVICE_POLL_SECONDS until it
# succeeds; false once DEVICE_WAIT_SECONDS have passed.
wait_until() {
  local deadline=$(($(now_ms) + DEVICE_WAIT_SECONDS * 1000))
  until "$@"; do
    (($(now_ms) < deadline)) || return 1
    sleep "$DEVICE_POLL_SECONDS"
  done
}

# read_file VAR FILE: the file byte for byte into VAR, without a subshell.
# Fails if it cannot be opened or holds a NUL byte (a variable cannot).
# shellcheck disable=SC2034 # read_file_into names the caller's variable
read_file() {
  local -n read_file_into=$1
  local read_file_rc=0
  read_file_into=""
  { IFS= read -r -d '' read_file_into || read_file_rc=$?; } 2>/dev/null <"$2" || return 2
  ((read_file_rc == 1)) # 1: end of file; 0: stopped at a NUL
}

# has_content FILE CONTENT: FILE is a regular file holding exactly CONTENT.
has_content() {
  local current
  [[ -f $1 && ! -L $1 ]] && read_file current "$1" && [[ $current == "$2" ]]
}

# write_file FILE MODE CONTENT: atomically (temporary file next to it, then
# rename), so a reader never sees half of it.
write_file() {
  local dir=${1%/*}
  [[ -d $dir ]] || mkdir -p "$dir"
  trap '[[ -z ${TMP_FILE-} ]] || rm -f "$TMP_FILE"' EXIT
  TMP_FILE=$(mktemp "$dir/.${1##*/}.XXXXXX")
  printf '%s' "$3" >"$TMP_FILE"
  chmod "$2" "$TMP_FILE"
  mv -f "$TMP_FILE" "$1"
  TMP_FILE=""
}

# update_file FILE MODE CONTENT: write_file unless FILE already holds CONTENT;
# WROTE says whether it did.
# shellcheck disable=SC2034 # WROTE is for the caller
update_file() {
  WROTE=false
  if has_content "$1" "$3"; then
    log "$1 is up to date"
  else
    write_file "$@"
    WROTE=true
    log "wrote $1"
  fi
}

# A file systemd reads changed (unit drop-in, fstab): the start step runs
# daemon-reload before starting httpd. A flag file, as each step is its own
# process; under /run, as systemd reads everything afresh at boot.
request_daemon_reload() {
  [[ -d $RUN_DIR ]] || mkdir -p "$RUN_DIR"
  : >"$RUN_DIR/daemon-reload-needed"
}
