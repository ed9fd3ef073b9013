#!/usr/bin/env bash
# Runs the test machine: real systemd as PID 1 of a systemd-nspawn container
# whose /usr is the host's own (read-only; no rootfs to download) and whose
# /etc is the host's under a writable overlay. Started by bootharness.Machine
# as PID 1 of a private mount + PID namespace, so that when it ends the kernel
# ends the container and everything in it, and the mounts below go too.
#
#   container.sh WORKDIR SHARED_DIR... [ro:SHARED_DIR]...
#
# WORKDIR/root      the container's root directory (mount points, /opt, /var...)
# WORKDIR/usr-local the container's /usr/local: the httpd unit, the device
#                   nodes, the test drop-ins and the only generator systemd
#                   runs here, for fstab (see machine/usr-local)
# WORKDIR/state/... bound over /etc/systemd/system, /etc/site-boot, /etc/httpd,
#                   /etc/fstab and /opt: what an instance writes there, kept
#                   across reboots of the container
# SHARED_DIR        bound at the same path (the tests' sandboxes; with ro:,
#                   read-only: the repository)
#
# It all stops when the container powers off, or when standard input ends,
# that is when the test process ends, however it ends. (A reboot is a power
# off and a new run: nspawn's own restart of a rebooted container fails with
# the cgroups of a host without systemd.)
set -euo pipefail
exec 3<&0
workdir=${1:?usage: container.sh WORKDIR SHARED_DIR...}
shift
root=$workdir/root
state=$workdir/state

mount --make-rprivate /
# nspawn keeps its locks there; the host's /run is on disk.
mkdir -p /run/systemd/nspawn
mount -t tmpfs tmpfs /run/systemd/nspawn

mkdir -p "$root"/{usr,etc,opt,proc,sys,dev,run,tmp,root,srv,mnt,var/tmp,var/log,var/lib} \
  "$workdir"/etc/{upper,work} "$state"/etc/{systemd/system,site-boot,httpd} "$state/opt"
touch "$state/etc/fstab"
for dir in bin sbin lib lib64; do
  [[ -e /$dir && ! -L $root/$dir ]] && ln -s "usr/$dir" "$root/$dir"
done
mount --bind /usr "$root/usr"
mount -o remount,bind,ro "$root/usr"
mount --bind "$workdir/usr-local" "$root/usr/local"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$workdir/etc/upper,workdir=$workdir/etc/work" "$root/etc"

binds=(
  # The host's device nodes, for machine/usr-local/lib/machine/devices.sh.
  "--bind-ro=/dev:/run/host-dev"
  "--bind=$state/etc/systemd/system:/etc/systemd/system"
  "--bind=$state/etc/site-boot:/etc/site-boot"
  "--bind=$state/etc/httpd:/etc/httpd"
  "--bind=$state/etc/fstab:/etc/fstab"
  "--bind=$state/opt:/opt"
)
for dir in "$@"; do
  case $dir in
  ro:*) binds+=("--bind-ro=${dir#ro:}") ;;
  *) binds+=("--bind=$dir") ;;
  esac
done

# nspawn --keep-unit puts the container in cgroups below its own: one of this
# machine's own keeps two machines on a host apart. Listed in WORKDIR/cgroups
# for whoever removes them once this has ended.
own_cgroups() {
  local line path mount dir
  while IFS= read -r line; do
    case $line in
    0::*)
      path=${line#0::}
      for mount in /sys/fs/cgroup/unified /sys/fs/cgroup ""; do
        [[ -z $mount || $(stat -f -c %T "$mount" 2>/dev/null) == cgroup2fs ]] && break
      done
      ;;
    *:name=systemd:*)
      path=${line#*:name=systemd:}
      mount=/sys/fs/cgroup/systemd
      ;;
    *) continue ;;
    esac
    [[ -n $mount && -d $mount ]] || continue
    dir=$mount${path%/}/${workdir##*/}
    mkdir -p "$dir"
    echo "$dir" >>"$workdir/cgroups"
    echo "$BASHPID" >"$dir/cgroup.procs"
  done </proc/self/cgroup
}
own_cgroups

boot() {
  local rc=0
  systemd-nspawn --quiet --boot --register=no --keep-unit --console=pipe \
    --directory="$root" --machine=site-web-server --link-journal=no \
    --resolv-conf=off --timezone=off "${binds[@]}" \
    --setenv=SYSTEMD_GENERATOR_PATH=/usr/local/lib/systemd/system-generators </dev/null || rc=$?
  echo "container ended (exit status $rc)"
}
boot &
# A background job's standard input would be /dev/null: give it ours.
read -r _ <&3 &
wait -n
