#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The served tree on the document-root volume (docs/boot.md, "The served
# tree"): .releases/current -> <id> is Apache's DocumentRoot, <id>.previous ->
# the tree <id> replaced (its restore point). A change is built beside the
# served tree and ends in one rename of current, the only commit point.
#   layout                     boot step: the first tree, Apache pointed at it
#   inventory                  the served tree and the free space (make publish)
#   status                     the served tree, its restore point, the page at /
#   publish ID                 the tree uploaded as ID becomes the served one
#   previous                   back to the restore point
#   snapshot ID VOLUME DEVICE  the tree on VOLUME (from a snapshot) copied as ID
# Every action but layout (run under boot.sh's lock) takes the boot's lock;
# after a switch the mirror (MIRROR_UNIT) runs at once.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ACTION=${1:-}
STEP=release-$ACTION
[[ $ACTION != layout ]] || STEP=layout-docroot
enable_error_trap
shopt -s nullglob dotglob

DOCROOT_CONF=$HTTPD_CONF_DIR/site-docroot.conf
SAMPLE=$DOCROOT/index.html.sample-new
# How long a graceful reload of Apache may take to reach every worker.
SETTLE_SECONDS=${SETTLE_SECONDS:-5}
LOCK_WAIT_SECONDS=${LOCK_WAIT_SECONDS:-300}
MIRROR_UNIT=${MIRROR_UNIT:-site-sync.service}
TRANSFER_BUCKET=${TRANSFER_BUCKET:-}
TRANSFER_PREFIX=${TRANSFER_PREFIX:-site-transfer/}

# root_entries ARRAY DIR NAME...: the entries of DIR but the NAMEs and the
# link DIR/current to the served tree.
root_entries() {
  local -n root_entries_into=$1
  local dir=$2 path name skip
  shift 2
  root_entries_into=()
  for path in "$dir"/*; do
    name=${path##*/}
    for skip in "$@"; do [[ $name != "$skip" ]] || continue 2; done
    [[ $name != current || ! -L $path || ! $path -ef $SERVED ]] || continue
    root_entries_into+=("$name")
  done
}

# A new tree's name: when it was made, then what it came from.
release_id() {
  TZ=UTC0 printf '%(%Y%m%dT%H%M%SZ)T-%s' -1 "$1"
}

replace_link() {
  ln -sfn -- "$2" "$1.new"
  mv -T -- "$1.new" "$1"
}

# switch_to ID: the tree ID becomes the served one, the served one its restore
# point. ID.previous is written first, while ID is not served: the rename of
# current commits both.
switch_to() {
  local from
  from=$(readlink "$SERVED") || from=""
  [[ $from != "$1" ]] || return 0
  # The tree's data on the disk before a name points at it.
  sync -f "$RELEASES/$1"
  if [[ -n $from ]]; then
    replace_link "$RELEASES/$1.previous" "$from"
  else
    rm -f "$RELEASES/$1.previous"
  fi
  replace_link "$SERVED" "$1"
  sync -f "$RELEASES"
  log "serving $1${from:+; restore point: $from}"
}

# Everything in RELEASES but the served tree and its restore point: trees
# replaced earlier, and what an interrupted run left. What cannot be removed
# is named and left for the next run.
prune() {
  local served previous entry
  served=$(readlink "$SERVED") || served=""
  [[ -n $served && -d $RELEASES/$served ]] || die "$SERVED names no tree; nothing was removed"
  previous=$(readlink "$RELEASES/$served.previous") || previous=""
  for entry in "$RELEASES"/*; do
    case ${entry##*/} in current | "$served" | "$served.previous" | "$previous") continue ;; esac
    if rm -rf -- "$entry"; then
      log "removed $entry: neither the served tree nor its restore point"
    else
      log "WARNING: could not remove $entry; the next change or boot tries again"
    fi
  done
}

# The volume's first tree: empty on a new volume, else made of hard links to
# the files at its root (no data is copied; a file edited in place stays one
# file), which served them until now.
first_tree() {
  local entries id new
  root_entries entries "$DOCROOT" .releases lost+found
  if ((${#entries[@]} == 0)); then
    id=$(release_id initial)
    rm -rf "${RELEASES:?}/$id"
    mkdir -m 0755 "$RELEASES/$id"
  else
    id=$(release_id migrated)
    new=$RELEASES/.new-$id
    # What an interrupted run of this second left: nothing names it.
    rm -rf "$new" "${RELEASES:?}/$id"
    mkdir -m 0755 "$new"
    cp -al -- "${entries[@]/#/$DOCROOT/}" "$new/"
    mv -T "$new" "$RELEASES/$id"
    log "moved ${#entries[@]} entries of $DOCROOT into the tree $id"
  fi
  switch_to "$id"
}

reload_httpd() {
  systemctl try-reload-or-restart "$HTTPD_SERVICE"
}

point_httpd_at_served() {
  local content
  printf -v content '%s\n' \
    "# Written by site-boot: Apache serves the tree the link below names; a publish" \
    "# or a restore replaces that link in one rename (docs/boot.md)." \
    "DocumentRoot \"$SERVED\""
  update_file "$DOCROOT_CONF" 0644 "$content"
  [[ $WROTE == false ]] || reload_httpd
}

# What the first tree was made from is still linked at the root: each file
# that is still the same file in the served tree goes, once Apache serves
# that tree; anything else (changed since, or new) stays where it is.
remove_leftovers() {
  local entries tree inode rel same=()
  local -A in_tree=()
  root_entries entries "$DOCROOT" .releases lost+found "${SAMPLE##*/}"
  ((${#entries[@]})) || return 0
  tree=$(readlink -f "$SERVED")
  while IFS=' ' read -r -d '' inode rel; do
    in_tree[$rel]=$inode
  done < <(cd "$tree" && find "${entries[@]/#/./}" ! -type d -printf '%i %p\0' 2>/dev/null || true)
  while IFS=' ' read -r -d '' inode rel; do
    [[ ${in_tree[$rel]-} != "$inode" ]] || same+=("$rel")
  done < <(cd "$DOCROOT" && find "${entries[@]/#/./}" ! -type d -printf '%i %p\0')
  if ((${#same[@]})); then
    # A worker that read the configuration before the reload may still serve a request from the root.
    if systemctl is-active --quiet "$HTTPD_SERVICE"; then
      reload_httpd
      sleep "$SETTLE_SECONDS"
    fi
    (cd "$DOCROOT" && printf '%s\0' "${same[@]}" | xargs -0 rm -f --)
    log "removed from $DOCROOT the ${#same[@]} files the served tree holds"
  fi
  root_entries entries "$DOCROOT" .releases lost+found "${SAMPLE##*/}"
  ((${#entries[@]})) || return 0
  while IFS= read -r -d '' rel; do
    [[ ! -d $tree/$rel ]] || rmdir --ignore-fail-on-non-empty -- "$DOCROOT/$rel"
  done < <(cd "$DOCROOT" && find "${entries[@]/#/./}" -depth -type d -print0)
  root_entries entries "$DOCROOT" .releases lost+found "${SAMPLE##*/}"
  ((${#entries[@]} == 0)) ||
    log "WARNING: $DOCROOT holds ${entries[*]} outside the served tree, which is $DOCROOT/current/: not served, left as it is"
}

# What a tree holds, as operations/site_folder.py lists a folder, so that the
# two compare byte for byte: one NUL-terminated record per entry (type, size of
# a file, path, target of a link), sorted bytewise, then sha256sum's line for
# each file, sorted by path.
tree_state() {
  (
    cd "$1"
    find . -mindepth 1 \( -type d -printf 'd\t0\t%P\t\0' \) -o \( -type f -printf 'f\t%s\t%P\t\0' \) \
      -o \( -type l -printf 'l\t0\t%P\t%l\0' \) -o -printf '?\t0\t%P\t\0' | LC_ALL=C sort -z
    find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum --
  )
}

served_tree() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted"
  [[ -L $SERVED ]] || die "$SERVED does not exist: the site's configuration has not run on this volume yet"
  readlink -f "$SERVED"
}

# A tree's line of status: what it is, its name, bytes and files.
describe() {
  printf '%s %s %s %s\n' "$1" "${2##*/}" "$(du -sb "$2" | cut -f1)" "$(find "$2" -type f | wc -l)"
}

# The served tree and its restore point; the page a viewer gets at /
# (index.html, or else the tree's first file) and its sha256, which make
# publish and make restore compare through CloudFront.
status() {
  local tree previous page hash=""
  tree=$(served_tree)
  describe served "$tree"
  previous=$(readlink "$RELEASES/${tree##*/}.previous") || previous=""
  [[ -z $previous || ! -d $RELEASES/$previous ]] || describe previous "$RELEASES/$previous"
  page=index.html
  [[ -f $tree/$page ]] || page=$(cd "$tree" && find . -type f -printf '%P\n' | LC_ALL=C sort | head -n 1)
  [[ -z $page ]] || hash=$(sha256sum <"$tree/$page")
  printf 'page %s %s\n' "${hash%% *}" "${page:--}"
}

# The bytes the document root's filesystem has free.
free_bytes() {
  df -B1 --output=avail "$DOCROOT" | tail -n 1 | tr -d ' '
}

inventory() {
  local tree
  tree=$(served_tree)
  {
    printf '#free\t%s\0#block\t%s\0#served\t%s\0' "$(free_bytes)" \
      "$(stat -f -c %S "$DOCROOT")" "${tree##*/}"
    tree_state "$tree"
  } | gzip -c | base64 -w 0
  echo
}

lock() {
  [[ $LOCK_FILE != */* || -d ${LOCK_FILE%/*} ]] || mkdir -p "${LOCK_FILE%/*}"
  exec {lock_fd}>>"$LOCK_FILE"
  flock -w "$LOCK_WAIT_SECONDS" "$lock_fd" ||
    die "a boot or another change of the site holds $LOCK_FILE; nothing was changed, try again later"
}

# After a switch: the fallback copy and CloudFront's caches follow now, not at
# the timer's next pass. Its failure leaves the switch done; the timer retries.
mirror() {
  systemctl cat "$MIRROR_UNIT" >/dev/null 2>&1 || return 0
  if systemctl restart "$MIRROR_UNIT"; then
    log "$MIRROR_UNIT ran: the fallback copy is the served tree, and CloudFront's caches are invalidated"
  else
    log "WARNING: $MIRROR_UNIT failed; its timer retries (journalctl -u ${MIRROR_UNIT%.service})"
  fi
}

# serve ID: the switch to the tree ID, then what follows every switch.
serve() {
  switch_to "$1"
  prune
  mirror
}

# publish ID: builds the tree ID beside the served one from the manifest and
# the files uploaded under TRANSFER_PREFIX/ID/, every other file copied from
# the served tree (reflinked where the filesystem can: no space until one of
# them changes), checks it against the manifest, then switches to it.
publish() {
  local id=$1 tree new manifest url kind path target
  [[ $id =~ ^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+$ ]] || die "'$id' is not a release name"
  [[ -n $TRANSFER_BUCKET ]] || die "TRANSFER_BUCKET is not set: run this through the site's release document"
  tree=$(served_tree)
  if [[ ${tree##*/} == "$id" ]]; then
    log "$id is already the served tree; nothing to do"
    return 0
  fi
  prune
  new=$RELEASES/.new-$id manifest=$RELEASES/.new-$id.manifest url=s3://$TRANSFER_BUCKET/$TRANSFER_PREFIX$id
  # shellcheck disable=SC2064 # these paths, now: the id is checked, without quotes
  trap "rm -rf -- '$new' '$manifest' || true" EXIT
  mkdir -m 0755 "$new"
  log "downloading $url/"
  aws s3 cp --only-show-errors "$url/manifest" "$manifest"
  # -m: each new file is newer than its copy in the fallback bucket, so the mirror uploads it.
  aws s3 cp --only-show-errors "$url/files.tar" - | tar -x -m --no-same-owner --no-same-permissions -C "$new" -f -
  while IFS=$'\t' read -r -d '' kind _ path target; do
    case $kind in
    d) mkdir -p -- "$new/$path" ;;
    l) ln -s -- "$target" "$new/$path" ;;
    f)
      [[ -e $new/$path ]] && continue
      [[ -f $tree/$path && ! -L $tree/$path ]] ||
        die "the served tree has no file $path any more, which the plan took from it; nothing was changed, run make publish again"
      cp --reflink=auto -p -- "$tree/$path" "$new/$path"
      ;;
    esac
  done <"$manifest"
  find "$new" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
  cmp -s <(tree_state "$new") "$manifest" ||
    die "the tree built from $url/ does not match its manifest (a file of the served tree changed since the plan, or the upload is incomplete); nothing was changed, run make publish again"
  mv -T "$new" "$RELEASES/$id"
  rm -f "$manifest"
  log "built $id: $(find "$RELEASES/$id" -type f | wc -l) files, checked against the manifest"
  serve "$id"
}

# Back to the restore point. Its files get the time of the switch: each is
# then newer than its copy in the fallback bucket, which the mirror replaces.
previous() {
  local tree previous
  tree=$(served_tree)
  previous=$(readlink "$RELEASES/${tree##*/}.previous") || previous=""
  [[ -n $previous && -d $RELEASES/$previous ]] ||
    die "the served tree ${tree##*/} has no restore point on the volume; nothing was changed (make restore lists the snapshots)"
  find "$RELEASES/$previous" -type f -exec touch -c -- {} +
  serve "$previous"
}

# The block device of VOLUME, attached as DEVICE: its udev link on Nitro
# instances (NVMe), the name asked for on Xen ones. Sets DISK.
find_disk() {
  local candidate
  for candidate in "$BY_ID_DIR/nvme-Amazon_Elastic_Block_Store_${1/-/}" "$2" "${2/\/sd//xvd}"; do
    [[ -b $candidate ]] || continue
    DISK=$(readlink -f "$candidate")
    return 0
  done
  return 1
}

# The filesystem on DISK as prepare-docroot.sh chose it: the partition
# labelled FS_LABEL, else the first holding a filesystem, else the whole disk.
# Sets FSDEV and FSTYPE. Never the document root's own device.
find_filesystem() {
  local name=${DISK##*/} entry dev probe serving found=()
  serving=$(mountpoint -d "$DOCROOT")
  partx -u "$DISK" >/dev/null 2>&1 || true
  for entry in /sys/class/block/"$name"/"$name"* /sys/class/block/"$name"; do
    [[ $entry == */"$name" || -r $entry/partition ]] || continue
    dev=/dev/${entry##*/}
    [[ $(<"$entry/dev") != "$serving" ]] || die "$dev is the document root's own device; nothing was changed"
    probe=$(blkid -p -o export "$dev" 2>/dev/null)$'\n' || continue
    [[ $probe == *$'\nUSAGE=filesystem\n'* ]] || continue
    found+=("$dev")
    [[ $probe != *$'\nLABEL='"$FS_LABEL"$'\n'* ]] || found=("$dev" "${found[@]}")
  done
  ((${#found[@]})) || die "no filesystem on $DISK; nothing was changed"
  FSDEV=${found[0]}
  FSTYPE=$(blkid -p -o value -s TYPE "$FSDEV")
}

# snapshot ID VOLUME DEVICE: what VOLUME served (its tree, or the files at its
# root on a volume from before this layout) becomes the tree ID. Read-only:
# with nouuid for XFS, whose copy has the live filesystem's UUID.
snapshot() {
  local id=$1 volume=$2 device=$3 mnt new source options=ro entries needed free
  [[ $id =~ ^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+$ && $volume =~ ^vol-[0-9a-f]+$ ]] || die "usage: snapshot ID VOLUME DEVICE"
  source=$(served_tree)
  if [[ ${source##*/} == "$id" ]]; then
    log "$id is already the served tree; nothing to do"
    return 0
  fi
  wait_until find_disk "$volume" "$device" ||
    die "no block device for $volume ($device) within ${DEVICE_WAIT_SECONDS}s; nothing was changed"
  find_filesystem
  prune
  mnt=$RUN_DIR/restore-$id new=$RELEASES/.new-$id
  mkdir -p "$mnt"
  # shellcheck disable=SC2064 # these paths, now: the id is checked, without quotes
  trap "{ umount '$mnt'; rmdir '$mnt'; rm -rf -- '$new'; } 2>/dev/null || true" EXIT
  [[ $FSTYPE != xfs ]] || options=ro,nouuid
  mount -o "$options" "$FSDEV" "$mnt"
  log "mounted $FSDEV of $volume read-only"
  source=$mnt
  if [[ -L $mnt/.releases/current ]]; then
    source=$mnt/.releases/$(readlink "$mnt/.releases/current")
    [[ ${source#"$mnt"/.releases/} != */* && -d $source ]] || die "$volume's .releases/current names no tree"
  fi
  root_entries entries "$source" .releases lost+found
  needed=0
  ((${#entries[@]} == 0)) || needed=$(du -scB1 -- "${entries[@]/#/$source/}" | tail -n 1 | cut -f1)
  free=$(free_bytes)
  ((needed < free)) || die "the tree on $volume takes $needed bytes, the volume has $free free; nothing was changed"
  mkdir -m 0755 "$new"
  # Each file the time of the copy: newer than its copy in the fallback bucket, which the mirror replaces.
  ((${#entries[@]} == 0)) || cp -a --no-preserve=timestamps -- "${entries[@]/#/$source/}" "$new/"
  mv -T "$new" "$RELEASES/$id"
  log "copied ${#entries[@]} entries of the tree on $volume into $id"
  serve "$id"
}

layout() {
  mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted"
  [[ -d $RELEASES ]] || mkdir -m 0755 "$RELEASES"
  [[ -L $SERVED ]] || first_tree
  point_httpd_at_served
  remove_leftovers
  prune
  [[ -e $DOCROOT/current || -L $DOCROOT/current ]] || ln -s .releases/current "$DOCROOT/current"
  log "serving $(readlink "$SERVED") from $DOCROOT"
}

case $ACTION in
layout) layout ;;
inventory) inventory ;;
status) status ;;
publish | previous | snapshot)
  lock
  "$ACTION" "${@:2}"
  status
  ;;
*) die "unknown action '$ACTION' (expected layout, inventory, status, publish, previous or snapshot)" ;;
esac
