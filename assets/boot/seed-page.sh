#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Write DOCROOT/index.html from the page template, without ever overwriting a
# page somebody edited.
#
# A page written by this script ends with a marker comment carrying the
# sha256 of everything before it. If index.html still matches its marker it is
# exactly what this script wrote, so it is re-rendered (the image URL follows
# a changed CloudFront domain). If it does not match, it was edited and stays
# as it is; the fresh rendering goes to index.html.sample-new instead.
# No other file in DOCROOT is touched.
set -euo pipefail
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR != "${BASH_SOURCE[0]}" ]] || SCRIPT_DIR=.
# shellcheck source=common.sh
source "$SCRIPT_DIR/common.sh"
STEP=seed-page
enable_error_trap

[[ -n $IMAGE_URL ]] || die "IMAGE_URL is not set"
[[ $IMAGE_URL != *[[:cntrl:]]* ]] || die "IMAGE_URL contains control characters"
[[ -r $PAGE_TEMPLATE ]] || die "page template $PAGE_TEMPLATE is not readable"
mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; refusing to write the page onto the root disk"

PAGE="$DOCROOT/index.html"
SAMPLE="$DOCROOT/index.html.sample-new"
MARKER_PREFIX="<!-- site-boot generated page; sha256:"
MARKER_SUFFIX=" -->"

# Escape a value for use inside a double-quoted HTML attribute. The
# replacements are quoted so that bash 5.2 does not expand '&' in them.
html_attr_escape() {
  local s=$1 amp='&amp;' quot='&quot;' apos='&#39;' lt='&lt;' gt='&gt;'
  s=${s//&/"$amp"}
  s=${s//\"/"$quot"}
  s=${s//\'/"$apos"}
  s=${s//</"$lt"}
  s=${s//>/"$gt"}
  printf '%s' "$s"
}

sha256_of() {
  sha256sum | cut -d' ' -f1
}

# The full page for the current IMAGE_URL, marker line included.
render() {
  local template body url
  template=$(<"$PAGE_TEMPLATE")
  url=$(html_attr_escape "$IMAGE_URL")
  body=${template//'{{IMAGE_URL}}'/"$url"}
  printf '%s\n%s%s%s\n' "$body" "$MARKER_PREFIX" "$(printf '%s\n' "$body" | sha256_of)" "$MARKER_SUFFIX"
}

# True if the file ends with a marker whose hash matches the rest of the file.
is_unedited_seed() {
  local file=$1 last want have
  [[ -f $file && ! -L $file ]] || return 1
  last=$(tail -n 1 "$file")
  [[ $last == "$MARKER_PREFIX"*"$MARKER_SUFFIX" ]] || return 1
  want=${last#"$MARKER_PREFIX"}
  want=${want%"$MARKER_SUFFIX"}
  have=$(head -n -1 "$file" | sha256_of)
  [[ $want == "$have" ]]
}

# True if target already holds exactly this content.
has_content() {
  [[ -f $1 && ! -L $1 ]] && [[ $(cat "$1" && printf x) == "${2}x" ]]
}

# Replace target with content atomically: temp file in the same directory,
# then rename, so a reader never sees a half-written page.
TMP_FILE=""
trap '[[ -z $TMP_FILE ]] || rm -f "$TMP_FILE"' EXIT
write_content() {
  local target=$1 content=$2
  TMP_FILE=$(mktemp "$DOCROOT/.index.html.XXXXXX")
  printf '%s' "$content" >"$TMP_FILE"
  chmod 0644 "$TMP_FILE"
  mv -f "$TMP_FILE" "$target"
  TMP_FILE=""
}

page=$(render && printf x)
page=${page%x}

if [[ ! -e $PAGE && ! -L $PAGE ]]; then
  write_content "$PAGE" "$page"
  log "seeded $PAGE with image $IMAGE_URL"
elif is_unedited_seed "$PAGE"; then
  if has_content "$PAGE" "$page"; then
    log "$PAGE is up to date"
  else
    write_content "$PAGE" "$page"
    log "re-rendered the generated $PAGE for image $IMAGE_URL"
  fi
else
  log "$PAGE was edited (or not written by site-boot); leaving it untouched"
  if ! has_content "$SAMPLE" "$page"; then
    write_content "$SAMPLE" "$page"
    log "wrote the current rendering to $SAMPLE for reference"
  fi
fi
