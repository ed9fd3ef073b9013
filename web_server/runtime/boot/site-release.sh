#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The served tree and its restore point on the document-root volume
# (docs/boot.md, "The served tree"):
#   DOCROOT/.releases/<id>/          a tree
#   DOCROOT/.releases/current        -> <id>: Apache's DocumentRoot
#   DOCROOT/.releases/<id>.previous  -> the tree <id> replaced: its restore point
#   DOCROOT/current                  -> .releases/current, where a shell edits the site
# A change is built beside the served tree and ends in one rename of current,
# the only commit point: a crash before it leaves the site as it was, after it
# as it is meant to be, and the next run removes what is left over.
#
#   site-release.sh layout   boot step: the volume's first tree (the files it
#                            holds, moved in once), Apache pointed at current
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
# replaced earlier, and what an interrupted run left.
prune() {
  local served previous entry
  served=$(readlink "$SERVED") || served=""
  [[ -n $served && -d $RELEASES/$served ]] || die "$SERVED names no tree; nothing was removed"
  previous=$(readlink "$RELEASES/$served.previous") || previous=""
  for entry in "$RELEASES"/*; do
    case ${entry##*/} in current | "$served" | "$served.previous" | "$previous") continue ;; esac
    rm -rf -- "$entry"
    log "removed $entry: neither the served tree nor its restore point"
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
*) die "unknown action '$ACTION'" ;;
esac
