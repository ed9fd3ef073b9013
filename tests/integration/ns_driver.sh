#!/usr/bin/env bash
# Runs as PID 1 of a private mount + PID namespace (see conftest.py), so that
# everything the boot scripts mount, and every process they or the tests
# start, disappears with it. Commands arrive on stdin, one per line:
#
#   run <script> <output-file>   run a script, its output to the file;
#                                answers "DONE <exit status>"
#   apache <config-file>         start apache2 in the background;
#                                answers "DONE <pid>"
#   reload                       make apache2 re-read its configuration
#                                (SIGHUP); answers "DONE <status>"
#
# End of input stops apache, unmounts the document root and exits.
set -euo pipefail
: "${FSTAB:?}" "${DOCROOT:?}"

mount --make-rprivate /
# /etc/fstab is the sandbox's fstab inside the namespace, so even a plain
# "mount <dir>" sees what the scripts wrote.
mount --bind "$FSTAB" /etc/fstab

apache_pid=""
teardown() {
  if [[ -n $apache_pid ]]; then
    kill -TERM "$apache_pid" 2>/dev/null || true
    wait "$apache_pid" 2>/dev/null || true
  fi
  while mountpoint -q "$DOCROOT"; do
    umount "$DOCROOT" || break
  done
  umount /etc/fstab 2>/dev/null || true
}
trap teardown EXIT

echo READY
while read -r cmd arg1 arg2; do
  case $cmd in
  run)
    rc=0
    bash "$arg1" </dev/null >"$arg2" 2>&1 || rc=$?
    echo "DONE $rc"
    ;;
  apache)
    apache2 -f "$arg1" -DFOREGROUND </dev/null >/dev/null 2>&1 &
    apache_pid=$!
    echo "DONE $apache_pid"
    ;;
  reload)
    rc=0
    kill -HUP "$apache_pid" || rc=$?
    echo "DONE $rc"
    ;;
  *)
    echo "DONE 127"
    ;;
  esac
done
