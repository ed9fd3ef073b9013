#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Write DOCROOT/index.html from the page template, without ever overwriting a
# page somebody edited.
#
# Each {{NAME}} of the template is the deployment's value NAME, HTML-escaped.
# A page written by this script ends with a marker comment carrying the
# sha256 of everything before it. If index.html still matches its marker it is
# exactly what this script wrote, so it is re-rendered (the image URL follows
# a changed CloudFront domain, the title a changed setting). If it does not
# match, it was edited and stays as it is; the fresh rendering goes to
# index.html.sample-new instead. No other file in DOCROOT is touched.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=seed-page
enable_error_trap

require_values IMAGE_URL
[[ -r $PAGE_TEMPLATE ]] || die "page template $PAGE_TEMPLATE is not readable"
mountpoint -q "$DOCROOT" || die "$DOCROOT is not mounted; refusing to write the page onto the root disk"

PAGE="$DOCROOT/index.html"
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

# The full page for the current values, marker line included. Placeholders
# are replaced left to right, so a value is never read as one.
render() {
  local template rest="" name value hash placeholder='\{\{([A-Z][A-Z0-9_]*)\}\}'
  read_file rest "$PAGE_TEMPLATE" || die "page template $PAGE_TEMPLATE is not a readable text file"
  # Like $(<file): no trailing newlines.
  while [[ $rest == *$'\n' ]]; do
    rest=${rest%$'\n'}
  done
  template=""
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

# True if the file ends with a marker whose hash matches the rest of the file.
is_unedited_seed() {
  local file=$1 content last want have
  [[ -f $file && ! -L $file ]] || return 1
  read_file content "$file" || return 1
  content=${content%$'\n'}
  last=${content##*$'\n'}
  [[ $last == "$MARKER_PREFIX"*"$MARKER_SUFFIX" ]] || return 1
  want=${last#"$MARKER_PREFIX"}
  want=${want%"$MARKER_SUFFIX"}
  if [[ $content == *$'\n'* ]]; then
    sha256_of_line have "${content%$'\n'*}"
  else
    have=$(sha256sum </dev/null)
    have=${have%% *}
  fi
  [[ $want == "$have" ]]
}

PAGE_NEW=""
render
page=$PAGE_NEW

if [[ ! -e $PAGE && ! -L $PAGE ]]; then
  write_file "$PAGE" 0644 "$page"
  log "seeded $PAGE with image $IMAGE_URL"
elif has_content "$PAGE" "$page"; then
  log "$PAGE is up to date"
elif is_unedited_seed "$PAGE"; then
  write_file "$PAGE" 0644 "$page"
  log "re-rendered the generated $PAGE for image $IMAGE_URL"
else
  log "$PAGE was edited (or not written by site-boot); leaving it untouched"
  if ! has_content "$SAMPLE" "$page"; then
    write_file "$SAMPLE" 0644 "$page"
    log "wrote the current rendering to $SAMPLE for reference"
  fi
fi
