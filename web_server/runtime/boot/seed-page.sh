#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Write index.html of the served tree from the page template, without ever
# overwriting a page somebody edited.
#
# Each {{NAME}} is the deployment's value NAME, HTML-escaped. The page ends
# with a marker carrying the sha256 of everything before it: a page that still
# matches it is re-rendered (a new image URL or title); an edited one stays as
# it is, and the fresh rendering goes to DOCROOT/index.html.sample-new, outside
# the served tree, instead. A missing page is written only into a tree the
# server made itself: a published or restored tree is served as it came.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=seed-page
enable_error_trap

require_values IMAGE_URL
[[ -r $PAGE_TEMPLATE ]] || die "page template $PAGE_TEMPLATE is not readable"
mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; refusing to write the page onto the root disk"
[[ -L $SERVED ]] || die "$SERVED does not exist; the layout-docroot step makes it"

TREE=$(readlink -f "$SERVED")
PAGE="$TREE/index.html"
SAMPLE="$DOCROOT/index.html.sample-new"
MARKER_PREFIX="<!-- site-boot generated page; sha256:"
MARKER_SUFFIX=" -->"

# Escape a value for HTML text and double-quoted attributes. The
# replacements are quoted so that bash 5.2 does not expand '&' in them.
# shellcheck disable=SC2034 # escaped names the caller's variable
html_escape() {
  local -n escaped=$1
  local s=$2 amp='&amp;' quot='&quot;' apos='&#39;' lt='&lt;' gt='&gt;'
  s=${s//&/"$amp"}
  s=${s//\"/"$quot"}
  s=${s//\'/"$apos"}
  s=${s//</"$lt"}
  s=${s//>/"$gt"}
  escaped=$s
}

# sha256 of "$2\n" into the variable named $1.
# shellcheck disable=SC2034 # digest names the caller's variable
sha256_of_line() {
  local -n digest=$1
  local out
  out=$(sha256sum <<<"$2")
  digest=${out%% *}
}

# The full page for the current values, marker line included, into PAGE_NEW.
# Placeholders are replaced left to right, so a value is never read as one.
render() {
  local template="" rest name value hash placeholder='\{\{([A-Z][A-Z0-9_]*)\}\}'
  read_file rest "$PAGE_TEMPLATE" || die "page template $PAGE_TEMPLATE is not a readable text file"
  rest=${rest%"${rest##*[!$'\n']}"} # like $(<file): no trailing newlines
  while [[ $rest =~ $placeholder ]]; do
    name=${BASH_REMATCH[1]}
    [[ -n ${!name:-} ]] || die "the page template names {{$name}}, which the deployment does not set"
    html_escape value "${!name}"
    template+=${rest%%"{{$name}}"*}$value
    rest=${rest#*"{{$name}}"}
  done
  template+=$rest
  sha256_of_line hash "$template"
  printf -v PAGE_NEW '%s\n%s%s%s\n' "$template" "$MARKER_PREFIX" "$hash" "$MARKER_SUFFIX"
}

# True if the page ends with a marker whose hash matches the rest of it.
is_unedited_seed() {
  local content body hash
  [[ -f $PAGE && ! -L $PAGE ]] || return 1
  read_file content "$PAGE" || return 1
  content=${content%$'\n'}
  body=${content%$'\n'*}
  sha256_of_line hash "$body"
  [[ $content == "$body"$'\n'"$MARKER_PREFIX$hash$MARKER_SUFFIX" ]]
}

render
if [[ ! -e $PAGE && ! -L $PAGE && $TREE != *-initial && $TREE != *-migrated ]]; then
  log "the served tree ${TREE##*/} has no index.html; it is served as it came"
elif [[ ! -e $PAGE && ! -L $PAGE ]]; then
  write_file "$PAGE" 0644 "$PAGE_NEW"
  log "seeded $PAGE with image $IMAGE_URL"
elif has_content "$PAGE" "$PAGE_NEW"; then
  log "$PAGE is up to date"
elif is_unedited_seed; then
  write_file "$PAGE" 0644 "$PAGE_NEW"
  log "re-rendered the generated $PAGE for image $IMAGE_URL"
else
  log "$PAGE was edited (or not written by site-boot); leaving it untouched"
  update_file "$SAMPLE" 0644 "$PAGE_NEW" # the current rendering, for reference
fi
