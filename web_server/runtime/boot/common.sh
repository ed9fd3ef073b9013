# shellcheck shell=bash
# Shared settings and helpers for the boot scripts. Sourced, never executed.
#
# Every host path is read from the environment so the scripts can be exercised
# against a loop device and a scratch directory; the defaults are the real
# values on the EC2 instance. The deployment's values (VOLUME_ID, IMAGE_URL and
# the rest, one row each in web_server/instance_values.py) arrive in the
# environment as they are: from the SSM document for apply.sh, from site.env
# for the units.
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
# The instance's identity: from IMDS unless set.
INSTANCE_ID=${INSTANCE_ID:-}
AWS_REGION=${AWS_REGION:-}
RUN_DIR=${RUN_DIR:-/run/site-boot}
BOOT_DIR=${BOOT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
PAGE_TEMPLATE=${PAGE_TEMPLATE:-${BOOT_DIR%/*}/site/index.html.tmpl}
export DOCROOT FSTAB BY_ID_DIR SYSTEMD_DIR LOG_FILE LOCK_FILE \
  DEVICE_CANDIDATES DEVICE_WAIT_SECONDS DEVICE_POLL_SECONDS ATTACH_WAIT_SECONDS \
  ATTACH_POLL_SECONDS IMDS_ENDPOINT FS_TYPE FS_LABEL HTTPD_SERVICE HTTPD_CONF_DIR \
  INSTANCE_ID AWS_REGION BOOT_DIR PAGE_TEMPLATE RUN_DIR INSTALL_DIR ENV_FILE
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

# What the step is working on, for error messages.
subject() {
  local s="volume ${VOLUME_ID:-<unset>}"
  if [[ -n $CURRENT_DEVICE ]]; then
    s+=" (device $CURRENT_DEVICE)"
  fi
  printf '%s' "$s"
}

die() {
  log "ERROR: step $STEP failed for $(subject): $*"
  exit 1
}

on_unexpected_error() {
  local rc=$1 line=$2 cmd=$3
  log "ERROR: step $STEP failed for $(subject): command '$cmd' exited with $rc (line $line)"
  exit "$rc"
}

# Turn on the error trap; call once at the top of every executable script.
# Command substitutions fail like any other command (inherit_errexit).
enable_error_trap() {
  set -E
  shopt -s inherit_errexit
  trap 'on_unexpected_error $? $LINENO "$BASH_COMMAND"' ERR
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
  local path=$1 token
  token=$(curl -fsS --max-time 5 --retry 5 --retry-delay 1 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
    "$IMDS_ENDPOINT/latest/api/token") || return 1
  curl -fsS --max-time 5 --retry 5 --retry-delay 1 \
    -H "X-aws-ec2-metadata-token: $token" \
    "$IMDS_ENDPOINT/latest/meta-data/$path"
}

# Fill INSTANCE_ID and AWS_REGION from the instance metadata service unless set.
resolve_identity() {
  if [[ -z $INSTANCE_ID ]]; then
    INSTANCE_ID=$(imds_get instance-id) || die "cannot read the instance id from IMDS at $IMDS_ENDPOINT"
  fi
  if [[ -z $AWS_REGION ]]; then
    AWS_REGION=$(imds_get placement/region) || die "cannot read the region from IMDS at $IMDS_ENDPOINT"
  fi
  export INSTANCE_ID AWS_REGION
}

# Milliseconds since the epoch, for bounded waits (whole seconds would cut a
# short wait by up to one second).
now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  printf '%s\n' $((10#$t / 1000))
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

# A file that systemd reads changed (unit drop-in, fstab): the start step runs
# daemon-reload before starting httpd. A flag file, because each step is its
# own process; under /run, because systemd reads everything afresh at boot.
request_daemon_reload() {
  [[ -d $RUN_DIR ]] || mkdir -p "$RUN_DIR"
  : >"$RUN_DIR/daemon-reload-needed"
}

# The AWS CLI, in the deployment's region when it is known.
aws_cli() {
  if [[ -n $AWS_REGION ]]; then
    aws --region "$AWS_REGION" "$@"
  else
    aws "$@"
  fi
}
