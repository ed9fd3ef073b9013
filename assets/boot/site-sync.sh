#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Keeps the fallback bucket (CloudFront's secondary origin) a copy of what
# Apache serves from the document root, and invalidates at CloudFront exactly
# the URL paths whose content changed. Run by site-sync.timer every 15 s.
#
# A pass that finds the document root as the last successful pass left it
# makes no AWS call at all: it only lists the tree (find) and compares.
# Otherwise it hashes what changed, uploads new and edited files, deletes
# objects whose file is gone, creates one invalidation, and only then records
# the new state, so a pass that fails anywhere is simply redone by the next.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=site-sync
enable_error_trap

FALLBACK_BUCKET=${FALLBACK_BUCKET:-}
DISTRIBUTION_ID=${DISTRIBUTION_ID:-}
STATE_DIR=${STATE_DIR:-/var/lib/site-sync}
MIME_TYPES_FILE=${MIME_TYPES_FILE:-/etc/mime.types}
# Amazon Linux's httpd.conf sets "AddDefaultCharset UTF-8", which labels
# text/plain and text/html responses; the copy carries the same label.
DEFAULT_CHARSET=${DEFAULT_CHARSET-UTF-8}
# More changed paths than this: one "/*" instead (still one path to pay for).
MAX_INVALIDATION_PATHS=${MAX_INVALIDATION_PATHS:-15}
# Uploads running at once.
UPLOAD_JOBS=${UPLOAD_JOBS:-4}
# Amazon Linux's httpd.conf has "Options Indexes": a directory without an
# index.html is answered with a listing of its files (names, sizes, dates),
# which any change in the directory changes. "off" if listings are disabled.
DIRECTORY_LISTINGS=${DIRECTORY_LISTINGS:-on}
# Keys under this prefix belong to the stack (the maintenance page).
RESERVED_PREFIX=_maintenance/

[[ -n $FALLBACK_BUCKET ]] || die "FALLBACK_BUCKET is not set"
if [[ ! -d $STATE_DIR ]]; then
  mkdir -p "$STATE_DIR"
  chmod 0700 "$STATE_DIR"
fi
SCAN_FILE=$STATE_DIR/scan
OBJECTS_FILE=$STATE_DIR/objects

# One pass at a time (a manual run next to the timer's).
exec {lock_fd}>"$STATE_DIR/lock"
if ! flock -n "$lock_fd"; then
  log "another pass is running; skipping this one"
  exit 0
fi

# Without the volume the directory is the root disk's empty mount point:
# mirroring it would empty the bucket.
if ! mountpoint -q "$DOCROOT"; then
  log "$DOCROOT is not mounted; nothing to mirror"
  exit 0
fi

# ---------------------------------------------------------------------------
# What Apache would serve: "key<TAB>signature" per file, in SCAN. The
# signature (type, mode, size, mtime, ctime, inode) changes whenever the
# content or the permissions can have changed, without reading the file.

DOCROOT_REAL=$(realpath -e "$DOCROOT")
# Byte semantics for names (ranges, lengths); the child processes keep the
# service's locale.
LC_ALL=C

# S3 keys are UTF-8: a name that is not cannot be copied (nor requested by
# a browser as the same URL).
invalid_utf8() {
  local LC_ALL=C.UTF-8
  ! [[ $1 =~ ^.*$ ]]
}

# Names the copy leaves out even though they may be regular files:
# .htaccess & co. (httpd denies "^\.ht"), the temporary files that
# write_file and rsync rename over their target (".name.XXXXXX"), names
# with control characters (they cannot be one line of the state) and names
# that are not UTF-8.
skipped_name() {
  local key=$1 base=${1##*/}
  [[ $base == .ht* ]] && return 0
  [[ $base =~ ^\..+\.[A-Za-z0-9]{6}$ ]] && return 0
  [[ $key == *[[:cntrl:]]* ]] && return 0
  [[ $key == *[$'\x80'-$'\xff']* ]] && invalid_utf8 "$key" && return 0
  [[ $key == "$RESERVED_PREFIX"* ]] && return 0
  return 1
}

# A symlink counts only when it leads to a regular, world-readable file
# inside the document root; its signature is the target's.
link_signature() {
  local path=$1 target sig
  target=$(realpath -e -- "$path" 2>/dev/null) || return 1
  [[ $target == "$DOCROOT_REAL"/* ]] || return 1
  sig=$(stat -L --printf '%F\t%a\t%s\t%.9Y\t%.9Z\t%i' -- "$path") || return 1
  [[ $sig == "regular file"* || $sig == "regular empty file"* ]] || return 1
  local mode=${sig#*$'\t'}
  mode=${mode%%$'\t'*}
  ((8#$mode & 4)) || return 1
  printf 'l %s' "${sig#*$'\t'}"
}

SCAN="site-sync v1 bucket=$FALLBACK_BUCKET"$'\n'
declare -a KEYS=()
declare -A SIG=()
scan_docroot() {
  local type mode size mtime ctime inode key sig
  # Directories Apache cannot enter (no execute bit for others) hide all
  # below them; the reserved prefix is never read.
  while IFS=$'\t' read -r -d '' type mode size mtime ctime inode key; do
    skipped_name "$key" && continue
    if [[ $type == f ]]; then
      ((8#$mode & 4)) || continue
      sig="f $mode $size $mtime $ctime $inode"
    else
      sig=$(link_signature "$DOCROOT/$key") || continue
    fi
    KEYS+=("$key")
    SIG[$key]=$sig
    SCAN+="$key"$'\t'"$sig"$'\n'
  done < <(find "$DOCROOT" -mindepth 1 \
    \( -type d \( ! -perm -0001 -o -path "$DOCROOT/${RESERVED_PREFIX%/}" \) -prune \) \
    -o \( -type f -o -type l \) -printf '%y\t%m\t%s\t%T@\t%C@\t%i\t%P\0')
  # A partial listing would delete what was not listed: retry instead.
  wait "$!" || die "cannot list $DOCROOT completely (changed while listed?); the next pass retries"
}

scan_docroot
previous_scan=""
if [[ -f $SCAN_FILE && -f $OBJECTS_FILE ]]; then
  read_file previous_scan "$SCAN_FILE" || previous_scan=""
fi
if [[ -n $previous_scan && $previous_scan == "$SCAN" ]]; then
  exit 0
fi

# ---------------------------------------------------------------------------
# Something changed (or there is no state): hash what needs hashing.

declare -A OLD_SIG=() OLD_MD5=() MD5=()
have_state=false
if [[ -n $previous_scan && ${previous_scan%%$'\n'*} == "${SCAN%%$'\n'*}" ]]; then
  previous_objects=""
  if read_file previous_objects "$OBJECTS_FILE"; then
    have_state=true
    while IFS=$'\t' read -r key sig; do
      [[ -n $key ]] && OLD_SIG[$key]=$sig
    done <<<"${previous_scan#*$'\n'}"
    while IFS=$'\t' read -r key md5; do
      [[ -n $key ]] && OLD_MD5[$key]=$md5
    done <<<"$previous_objects"
  fi
fi

to_hash=()
for key in "${KEYS[@]}"; do
  if [[ ${OLD_SIG[$key]-} == "${SIG[$key]}" && -n ${OLD_MD5[$key]-} ]]; then
    MD5[$key]=${OLD_MD5[$key]}
  else
    to_hash+=("$DOCROOT/$key")
  fi
done
if ((${#to_hash[@]})); then
  # -z: NUL-terminated lines and no escaping of odd names.
  while IFS= read -r -d '' line; do
    path=${line:34}
    MD5[${path#"$DOCROOT"/}]=${line:0:32}
  done < <(printf '%s\0' "${to_hash[@]}" | xargs -0 md5sum -z --)
  for key in "${KEYS[@]}"; do
    [[ -n ${MD5[$key]-} ]] || die "cannot read $DOCROOT/$key (changed while read?); the next pass retries"
  done
fi

# What the bucket holds now: from the state, or, without one, its listing
# (a single-part upload's ETag is the MD5 of its content).
declare -A REMOTE=()
if $have_state; then
  for key in "${!OLD_MD5[@]}"; do
    REMOTE[$key]=${OLD_MD5[$key]}
  done
else
  log "no state for bucket $FALLBACK_BUCKET; comparing with its listing"
  listing=$(aws_cli s3api list-objects-v2 --bucket "$FALLBACK_BUCKET" \
    --query 'Contents[].[Key,ETag]' --output text) ||
    die "cannot list s3://$FALLBACK_BUCKET"
  while IFS=$'\t' read -r key etag; do
    [[ -z $key || $key == None || $key == "$RESERVED_PREFIX"* ]] && continue
    etag=${etag//\"/}
    REMOTE[$key]=$etag
  done <<<"$listing"
fi

uploads=()
deletes=()
for key in "${KEYS[@]}"; do
  [[ ${REMOTE[$key]-} == "${MD5[$key]}" ]] || uploads+=("$key")
done
for key in "${!REMOTE[@]}"; do
  [[ -n ${SIG[$key]-} ]] || deletes+=("$key")
done

# ---------------------------------------------------------------------------
# Apply the changes.

declare -A MIME=()
load_mime_types() {
  local type exts ext
  [[ -r $MIME_TYPES_FILE ]] || return 0
  while read -r type exts; do
    [[ -z $type || $type == \#* ]] && continue
    for ext in $exts; do
      MIME[${ext,,}]=$type
    done
  done <"$MIME_TYPES_FILE"
}

content_type() {
  local base=${1##*/} ext type=application/octet-stream
  ext=${base##*.}
  ext=${ext,,}
  if [[ $base == *.* && -n ${MIME[$ext]-} ]]; then
    type=${MIME[$ext]}
  fi
  case $type in
  text/html | text/plain) [[ -z $DEFAULT_CHARSET ]] || type+="; charset=$DEFAULT_CHARSET" ;;
  esac
  printf '%s' "$type"
}

# The MD5 as S3's Content-MD5 wants it: base64 of the 16 bytes. S3 refuses
# the upload if the file changed since it was hashed.
md5_base64() {
  local hex=$1 esc="" i
  for ((i = 0; i < 32; i += 2)); do
    esc+="\\x${hex:i:2}"
  done
  # shellcheck disable=SC2059 # the format is the escaped bytes themselves
  printf "$esc" | base64
}

json_string() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# One CLI call per file, UPLOAD_JOBS at a time: most of a call is the CLI
# starting up. Each job reports "ok<TAB>key" or "failed<TAB>key<TAB>error"
# in one write, so reports of parallel jobs never mix.
# shellcheck disable=SC2016 # expanded by the job's own shell
UPLOAD_JOB='
if out=$(aws ${AWS_REGION:+--region "$AWS_REGION"} s3api put-object --bucket "$FALLBACK_BUCKET" \
  --key="$1" --body="$DOCROOT/$1" --content-type "$2" --content-md5 "$3" \
  --output text --query ETag 2>&1); then
  printf "ok\t%s\0" "$1"
else
  out=${out//[[:cntrl:]]/ }
  out=${out#"${out%%[! ]*}"}
  printf "failed\t%s\t%s\0" "$1" "${out:0:300}"
fi'

failed=0
if ((${#uploads[@]})); then
  load_mime_types
  export FALLBACK_BUCKET
  declare -A REPORTED=()
  while IFS=$'\t' read -r -d '' outcome key error; do
    REPORTED[$key]=1
    if [[ $outcome == ok ]]; then
      log "uploaded $key"
    else
      log "upload of $key failed; the next pass retries it: $error"
      failed=1
    fi
  done < <(for key in "${uploads[@]}"; do
    printf '%s\0%s\0%s\0' "$key" "$(content_type "$key")" "$(md5_base64 "${MD5[$key]}")"
  done | xargs -0 -n 3 -P "$UPLOAD_JOBS" bash -c "$UPLOAD_JOB" site-sync-upload)
  for key in "${uploads[@]}"; do
    [[ -n ${REPORTED[$key]-} ]] || failed=1
  done
fi

for ((i = 0; i < ${#deletes[@]}; i += 1000)); do
  json='{"Quiet":true,"Objects":['
  sep=""
  for key in "${deletes[@]:i:1000}"; do
    json+="$sep{\"Key\":$(json_string "$key")}"
    sep=,
  done
  json+=']}'
  write_file "$STATE_DIR/delete.json" 0600 "$json"
  if errors=$(aws_cli s3api delete-objects --bucket "$FALLBACK_BUCKET" \
    --delete "file://$STATE_DIR/delete.json" --query 'Errors[].[Key,Code]' --output text) &&
    [[ -z $errors || $errors == None ]]; then
    log "deleted ${deletes[*]:i:1000}"
  else
    log "deleting objects failed; the next pass retries: ${errors:-}"
    failed=1
  fi
done
rm -f "$STATE_DIR/delete.json"
((failed == 0)) || die "not every change reached s3://$FALLBACK_BUCKET"

# ---------------------------------------------------------------------------
# One invalidation for every URL path whose content changed.

# RFC 3986: everything but unreserved characters and "/" percent-encoded
# (byte by byte, so UTF-8 names come out as browsers send them; "*" too, which
# CloudFront would otherwise take as a wildcard).
url_path() {
  local LC_ALL=C s=$1 out=/ c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
    [A-Za-z0-9._~/-]) out+=$c ;;
    *)
      printf -v c '%%%02X' "'$c"
      out+=$c
      ;;
    esac
  done
  printf '%s' "$out"
}

declare -A PATHS=() HAS_INDEX=()
for key in "${KEYS[@]}"; do
  if [[ /$key == */index.html ]]; then
    HAS_INDEX[/${key%index.html}]=1
  fi
done
for key in "${uploads[@]}" "${deletes[@]}"; do
  path=$(url_path "$key")
  PATHS[$path]=1
  if [[ $path == */index.html ]]; then
    # DirectoryIndex: the directory's own URL shows index.html (or, once it
    # is gone, a listing).
    PATHS[${path%index.html}]=1
  elif [[ $DIRECTORY_LISTINGS == on && $key == */* && -z ${HAS_INDEX[/${key%/*}/]-} ]]; then
    # The directory's listing shows this file. (The document root itself
    # has no listing: welcome.conf turns Indexes off for "/".)
    PATHS[${path%/*}/]=1
  fi
done

if ((${#PATHS[@]} == 0)); then
  :
elif [[ -z $DISTRIBUTION_ID ]]; then
  log "DISTRIBUTION_ID is not set; no invalidation for ${#PATHS[@]} changed path(s)"
else
  mapfile -t paths < <(printf '%s\n' "${!PATHS[@]}" | LC_ALL=C sort)
  if ((${#paths[@]} > MAX_INVALIDATION_PATHS)); then
    paths=("/*")
  fi
  items=$(printf '"%s",' "${paths[@]}")
  reference="site-sync-${EPOCHREALTIME/./}-$$-$SRANDOM"
  batch="{\"Paths\":{\"Quantity\":${#paths[@]},\"Items\":[${items%,}]},\"CallerReference\":\"$reference\"}"
  id=$(aws_cli cloudfront create-invalidation --distribution-id "$DISTRIBUTION_ID" \
    --invalidation-batch "$batch" --query Invalidation.Id --output text) ||
    die "cannot invalidate ${paths[*]} at distribution $DISTRIBUTION_ID; the next pass retries"
  log "invalidation $id: ${paths[*]}"
fi

# ---------------------------------------------------------------------------
# Everything went through: remember it.
objects=""
for key in "${KEYS[@]}"; do
  objects+="$key"$'\t'"${MD5[$key]}"$'\n'
done
write_file "$OBJECTS_FILE" 0600 "$objects"
write_file "$SCAN_FILE" 0600 "$SCAN"
