#!/usr/bin/env bash
# systemd's own fstab generator, run as on an instance (installed as
# /usr/local/lib/systemd/system-generators/systemd-fstab-generator, which
# takes the place of /usr/lib's). Where /sys is read-only, in a container, it
# ignores fstab's device entries: the document root would have no mount unit,
# and RequiresMountsFor= makes a service require (not only follow) only a
# mount unit that comes from a unit file. In a mount namespace of its own
# with /sys writable it writes the units it writes on an instance; it writes
# nothing to /sys.
set -euo pipefail
# shellcheck disable=SC2016 # expanded by the inner bash
exec unshare --mount /usr/bin/bash -c 'mount -o remount,bind,rw /sys && exec "$0" "$@"' \
  /usr/lib/systemd/system-generators/systemd-fstab-generator "$@"
