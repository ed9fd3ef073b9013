#!/usr/bin/env bash
# The container's /dev is its own (systemd-nspawn's): the host kernel's loop
# devices (the stand-ins for the EBS volume) do not appear there by themselves
# as block devices do in an instance's devtmpfs. This gives /dev a node for
# each loop device, at start and then on each of the kernel's "add" events for
# a new one (the container shares the host's network namespace, where those
# events are broadcast).
#
# Partitions come and go (sfdisk, partx -u removes and adds them again, maybe
# under another minor number), and a copy of a node would lag behind: their
# names are links to the host's own nodes (its devtmpfs, bound read-only at
# /run/host-dev), which the kernel keeps current before partx returns, as an
# instance's devtmpfs is. A link to a partition that does not exist dangles,
# which reads as a missing node.
set -euo pipefail
HOST_DEV=/run/host-dev
# More than any layout the tests make.
PARTITIONS=8

sync_nodes() {
  local entry name numbers n links=()
  for entry in /sys/class/block/loop*; do
    [[ -r $entry/dev && ! -e $entry/partition ]] || continue
    name=${entry##*/}
    if [[ ! -b /dev/$name ]]; then
      read -r numbers <"$entry/dev"
      mknod -m 0660 "/dev/$name" b "${numbers%:*}" "${numbers#*:}"
    fi
    for ((n = 1; n <= PARTITIONS; n++)); do
      [[ -L /dev/${name}p$n ]] || links+=("$HOST_DEV/${name}p$n")
    done
  done
  # One ln for all: /dev/NAME -> $HOST_DEV/NAME.
  ((${#links[@]} == 0)) || ln -s "${links[@]}" /dev/
}

coproc EVENTS { exec udevadm monitor --kernel --subsystem-match=block; }
sync_nodes
systemd-notify --ready
while read -r event <&"${EVENTS[0]}"; do
  [[ $event == KERNEL*" add "* ]] && sync_nodes
done
