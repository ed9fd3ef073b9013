#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Find the document-root volume's block device, mount it on DOCROOT through
# one fstab entry by UUID and grow it to the volume's size. Data safety: a
# partition table or a filesystem only on a provably blank disk or partition
# (is_blank); anything else that carries a filesystem is mounted as it is;
# anything unrecognised stops the boot without a write to the device.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=prepare-docroot
enable_error_trap

require_values VOLUME_ID
[[ $DOCROOT == /* && $DOCROOT != *[[:space:]]* ]] || die "DOCROOT must be an absolute path without whitespace: '$DOCROOT'"
require_command blkid blockdev sfdisk partx mount mountpoint "mkfs.$FS_TYPE"

# Nitro instances expose EBS volumes as NVMe; udev names them after the volume
# id without its dash. Xen instances use the requested name (/dev/sdf is a
# link to /dev/xvdf).
BY_ID_LINK="$BY_ID_DIR/nvme-Amazon_Elastic_Block_Store_${VOLUME_ID/-/}"

# device_size DEV [MIN]: SIZE is DEV's size in bytes (0 when it has no media
# or is unreadable); true when it is at least MIN (1).
device_size() {
  SIZE=$(blockdev --getsize64 "$1" 2>/dev/null) || SIZE=0
  [[ $SIZE =~ ^[0-9]+$ ]] || SIZE=0
  ((SIZE >= ${2:-1}))
}

# Set DISK to the resolved block device of the volume if it is present and
# has a non-zero size (a block node alone is not proof of a disk). An NVMe
# device whose controller serial names another volume is not ours.
probe_device() {
  local candidate dev serial_file serial
  # DEVICE_CANDIDATES is a space-separated list: word splitting is intended.
  # shellcheck disable=SC2086
  for candidate in "$BY_ID_LINK" $DEVICE_CANDIDATES; do
    [[ -e $candidate ]] || continue
    dev=$(readlink -f "$candidate")
    [[ -b $dev ]] || continue
    device_size "$dev" || continue
    serial_file="/sys/class/block/${dev##*/}/device/serial"
    if [[ -r $serial_file ]]; then
      read_file serial "$serial_file"
      serial=${serial//[[:space:]]/}
      [[ $serial != vol* || $serial == "${VOLUME_ID/-/}" ]] || continue
    fi
    DISK=$dev DISK_SIZE=$SIZE
    return 0
  done
  return 1
}

# Partition device nodes of a disk in partition-number order, from sysfs.
list_partitions() {
  local base=${1##*/} entry number by_number=()
  for entry in /sys/class/block/"$base"/"$base"*; do
    [[ -r $entry/partition ]] || continue
    read_file number "$entry/partition"
    number=${number%$'\n'}
    [[ $number =~ ^[0-9]+$ ]] || die "unexpected partition number '$number' in $entry/partition"
    by_number[10#$number]=/dev/${entry##*/}
  done
  PARTS=("${by_number[@]}")
}

# Low-level probe of the device itself (never blkid's cache) into PROBE
# (KEY=value) and PROBE_DEV. 0: a signature (filesystem, partition table, RAID
# member, swap, ...); 2: none; anything else: an error or an ambiguous result.
# A partition's table entry (PART_ENTRY_*) is not a signature of its content.
probe() {
  local out line key rc=0 signature=false
  PROBE=() PROBE_DEV=""
  out=$(blkid -p -o export "$1") || rc=$?
  ((rc == 0)) || return "$rc"
  while IFS= read -r line; do
    case $line in
    "" | DEVNAME=* | PART_ENTRY_*) continue ;;
    esac
    signature=true
    key=${line%%=*}
    if [[ $line == *=* && $key =~ ^[A-Za-z0-9_]+$ && ! -v PROBE[$key] ]]; then
      PROBE[$key]=${line#*=}
    fi
  done <<<"$out"
  [[ $signature == true ]] || return 2
  PROBE_DEV=$1
}

first_mib_is_zero() {
  local nonzero
  nonzero=$(head -c 1048576 "$1" | tr -d '\0' | wc -c) || return 1
  ((nonzero == 0))
}

# Blank means: no signature from the low-level probe, no partition table, no
# partitions known to the kernel and only zeros in the first MiB.
is_blank() {
  local dev=$1 rc=0
  probe "$dev" || rc=$?
  ((rc == 2)) || return 1
  list_partitions "$dev"
  ((${#PARTS[@]} == 0)) || return 1
  first_mib_is_zero "$dev"
}

make_filesystem() {
  local dev=$1
  CURRENT_DEVICE=$dev
  is_blank "$dev" || die "refusing to create a filesystem on $dev: it is not provably blank"
  log "creating a $FS_TYPE filesystem labelled $FS_LABEL on blank $dev"
  # No -f: mkfs itself refuses to overwrite any signature it finds.
  case $FS_TYPE in
  xfs) mkfs.xfs -q -K -L "$FS_LABEL" "$dev" >&2 ;;
  ext4) mkfs.ext4 -q -L "$FS_LABEL" "$dev" >&2 ;;
  *) die "unsupported FS_TYPE '$FS_TYPE'" ;;
  esac
}

# A disk with a partition table: use the partition labelled FS_LABEL, else the
# first partition holding a filesystem, else give the first provably blank
# partition a filesystem. Sets FSDEV.
use_partition() {
  local disk=$1 part labelled="" first_fs="" blank=""
  # The kernel may not have read the table (or cannot parse it itself).
  partx -u "$disk" >/dev/null 2>&1 || true
  list_partitions "$disk"
  ((${#PARTS[@]} > 0)) ||
    die "$disk has a partition table without partitions; refusing to modify it"
  for part in "${PARTS[@]}"; do
    if probe "$part" && [[ ${PROBE[USAGE]-} == filesystem ]]; then
      [[ -n $first_fs ]] || first_fs=$part
      [[ -n $labelled || ${PROBE[LABEL]-} != "$FS_LABEL" ]] || labelled=$part
    elif [[ -z $blank ]] && is_blank "$part"; then
      blank=$part
    fi
  done
  if [[ -n $labelled || -n $first_fs ]]; then
    FSDEV=${labelled:-$first_fs}
  elif [[ -n $blank ]]; then
    log "partition $blank of $disk is blank"
    make_filesystem "$blank"
    FSDEV=$blank
  else
    die "no partition of $disk holds a filesystem or is provably blank; refusing to modify it"
  fi
  log "using partition $FSDEV of $disk"
}

# Decide which device holds (or will hold) the document root. Sets FSDEV.
select_filesystem_device() {
  local disk=$1 rc=0
  probe "$disk" || rc=$?
  case $rc in
  0)
    if [[ ${PROBE[USAGE]-} == filesystem ]]; then
      log "$disk carries a whole-disk ${PROBE[TYPE]-} filesystem; using it as it is"
      FSDEV=$disk
    elif [[ -n ${PROBE[PTTYPE]-} ]]; then
      use_partition "$disk"
    else
      die "$disk carries a '${PROBE[TYPE]-}' signature that is not a filesystem; refusing to modify it"
    fi
    ;;
  2)
    list_partitions "$disk"
    if ((${#PARTS[@]} > 0)); then
      use_partition "$disk"
    elif ! first_mib_is_zero "$disk"; then
      die "$disk has no recognised signature but its first MiB is not all zeros; refusing to format it"
    else
      log "$disk is blank: creating a GPT partition table with one partition"
      printf 'label: gpt\ntype=L, name="%s"\n' "$FS_LABEL" |
        sfdisk --quiet --wipe never "$disk" >&2
      # Make the kernel see the new partition; sfdisk's re-read is not enough
      # everywhere. partx -a covers kernels that had no partitions yet.
      partx -u "$disk" >/dev/null 2>&1 || partx -a "$disk" >/dev/null 2>&1 || true
      # /dev/nvme1n1 -> /dev/nvme1n1p1, /dev/loop0 -> /dev/loop0p1, /dev/xvdf -> /dev/xvdf1
      FSDEV=${disk}1
      [[ $disk != *[0-9] ]] || FSDEV=${disk}p1
      wait_until device_size "$FSDEV" ||
        die "partition node $FSDEV did not appear within ${DEVICE_WAIT_SECONDS}s"
      make_filesystem "$FSDEV"
    fi
    ;;
  *) die "blkid could not classify $disk (exit $rc); refusing to modify it" ;;
  esac
}

# Keep exactly one fstab entry for DOCROOT, the wanted line, in the place of
# the first existing one. Other entries for the same mount point are dropped;
# every other line stays byte for byte. Unchanged content is not rewritten.
ensure_fstab_entry() {
  local wanted=$1 line found=false old new fields=() lines=()
  [[ -e $FSTAB ]] || : >>"$FSTAB"
  while IFS= read -r line || [[ -n $line ]]; do
    read -r -a fields <<<"$line" || true
    if ((${#fields[@]} >= 2)) && [[ ${fields[0]} != \#* && ${fields[1]%/} == "${DOCROOT%/}" ]]; then
      if [[ $found == true ]]; then
        log "dropping duplicate fstab entry for $DOCROOT: $line"
        continue
      fi
      found=true
      [[ $line == "$wanted" ]] || log "replacing stale fstab entry for $DOCROOT: $line"
      line=$wanted
    fi
    lines+=("$line")
  done <"$FSTAB"
  [[ $found == true ]] || lines+=("$wanted")
  printf -v new '%s\n' "${lines[@]}"
  read_file old "$FSTAB" || die "cannot read $FSTAB as text"
  if [[ $new == "$old" ]]; then
    log "fstab already has the entry for $DOCROOT"
    return 0
  fi
  [[ ! -s $FSTAB ]] || cp -p "$FSTAB" "$FSTAB.site-boot.bak"
  # Rewrite in place, never rename over it: the file may be a bind mount.
  printf '%s' "$new" >"$FSTAB"
  request_daemon_reload
  log "wrote fstab entry: $wanted"
}

# Right after a modification, EBS may not show the volume's new size
# (VOLUME_SIZE_GIB) yet: wait for it up to DEVICE_WAIT_SECONDS, so that this
# run grows what it can. On timeout the run goes on; a later run grows the rest.
wait_for_volume_size() {
  local wanted
  [[ ${VOLUME_SIZE_GIB:-} =~ ^[1-9][0-9]{0,4}$ ]] || return 0
  wanted=$((VOLUME_SIZE_GIB * 1024 * 1024 * 1024))
  device_size "$DISK" "$wanted" && return 0
  log "$DISK is $SIZE bytes, the volume is $VOLUME_SIZE_GIB GiB; waiting up to ${DEVICE_WAIT_SECONDS}s for the new size"
  if wait_until device_size "$DISK" "$wanted"; then
    log "$DISK is now $SIZE bytes"
  else
    log "WARNING: $DISK is still $SIZE bytes after ${DEVICE_WAIT_SECONDS}s; growing what there is"
  fi
}

# The filesystem's size as df sees it, in bytes.
filesystem_size() {
  local out
  out=$(df -B1 --output=size "$DOCROOT" 2>/dev/null) || return 1
  printf '%s' "${out##*[!0-9]}"
}

# A larger volume leaves the partition and the filesystem as they were: both
# are grown online by the stock tools, which do nothing when there is nothing
# to grow: growpart (exit 1: NOCHANGE), then xfs_growfs or resize2fs.
grow() {
  local number before after rc=0
  before=$(filesystem_size) || before=0
  if [[ $FSDEV != "$DISK" ]]; then
    read_file number "/sys/class/block/${FSDEV##*/}/partition" || return 1
    number=${number%$'\n'}
    command -v growpart >/dev/null 2>&1 ||
      { log "WARNING: growpart is not installed (package cloud-utils-growpart); not growing"; return 1; }
    growpart "$DISK" "$number" >/dev/null 2>&1 || rc=$?
    if ((rc > 1)); then
      log "WARNING: growpart $DISK $number failed (exit $rc)"
      return 1
    elif ((rc == 0)); then
      log "growing partition $number of $DISK to the end of the disk"
      # Tell the kernel the new size (growpart tries too; a loop device needs it).
      partx -u --nr "$number" "$DISK" >/dev/null 2>&1 || true
    fi
  fi
  rc=0
  case $fs_type in
  xfs) xfs_growfs "$DOCROOT" >/dev/null 2>&1 || rc=$? ;;
  ext2 | ext3 | ext4) resize2fs "$FSDEV" >/dev/null 2>&1 || rc=$? ;;
  *) return 0 ;;
  esac
  if ((rc != 0)); then
    log "WARNING: growing the filesystem on $FSDEV failed (exit $rc)"
    return 1
  fi
  after=$(filesystem_size) || after=0
  if ((after > before)); then
    log "growing the $fs_type filesystem on $FSDEV online: $before bytes, now $after bytes"
  fi
}

log "looking for the block device of volume $VOLUME_ID"
DISK="" DISK_SIZE=0 SIZE=0 FSDEV="" PROBE_DEV="" PARTS=()
declare -A PROBE=()
if ! probe_device; then
  log "no block device for $VOLUME_ID yet; waiting up to ${DEVICE_WAIT_SECONDS}s for $BY_ID_LINK or one of: $DEVICE_CANDIDATES"
  CURRENT_DEVICE="$BY_ID_LINK or one of: $DEVICE_CANDIDATES"
  wait_until probe_device || die "no non-empty block device appeared within ${DEVICE_WAIT_SECONDS}s"
fi
CURRENT_DEVICE=$DISK
log "volume $VOLUME_ID is $DISK ($DISK_SIZE bytes)"

select_filesystem_device "$DISK"
CURRENT_DEVICE=$FSDEV

# Re-probe unless the probe that chose FSDEV is current (not after mkfs).
if [[ $PROBE_DEV != "$FSDEV" ]]; then
  probe "$FSDEV" || die "cannot probe the filesystem on $FSDEV"
fi
fs_uuid=${PROBE[UUID]-}
fs_type=${PROBE[TYPE]-}
[[ -n $fs_uuid && -n $fs_type ]] || die "the filesystem on $FSDEV has no UUID or type"
log "document root filesystem: $fs_type UUID=$fs_uuid on $FSDEV"

pass=2
[[ $fs_type != xfs ]] || pass=0 # fsck.xfs is a no-op; xfs replays its log at mount time
ensure_fstab_entry "UUID=$fs_uuid $DOCROOT $fs_type defaults,nofail 0 $pass"

[[ -d $DOCROOT ]] || mkdir -p "$DOCROOT"
read_file wanted_dev "/sys/class/block/${FSDEV##*/}/dev"
wanted_dev=${wanted_dev%$'\n'}
mounted="$DOCROOT is already mounted from $FSDEV"
if ! mountpoint -q "$DOCROOT"; then
  # Mount through the fstab entry itself: proves the entry works for reboots.
  mount --fstab "$FSTAB" --target "$DOCROOT" || die "mounting $DOCROOT through $FSTAB failed"
  mounted="mounted $FSDEV on $DOCROOT"
fi
mounted_dev=$(mountpoint -d "$DOCROOT") || die "$DOCROOT is not a mount point after mounting"
[[ $mounted_dev == "$wanted_dev" ]] ||
  die "$DOCROOT is mounted from device $mounted_dev, not from $FSDEV ($wanted_dev)"
log "$mounted"

# A failure to grow is logged, never stops the site; the next run tries again.
wait_for_volume_size
grow || true

# With SELinux enforcing (AL2023 ships it permissive), the root of a new
# filesystem needs httpd's label; only the root directory is relabelled.
if command -v selinuxenabled >/dev/null && selinuxenabled && command -v restorecon >/dev/null; then
  restorecon "$DOCROOT" || log "restorecon $DOCROOT failed; continuing"
fi
