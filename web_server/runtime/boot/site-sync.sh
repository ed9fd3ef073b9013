#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Keeps the fallback bucket (CloudFront's second origin) a copy of what Apache
# serves, the tree DOCROOT/.releases/current names, and has CloudFront drop its
# cached pages when the copy changed (docs/fallback.md). Run by
# site-sync.timer every 15 s, and right after a publish or a restore.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=site-sync
enable_error_trap

STATE_DIR=${STATE_DIR:-/var/lib/site-sync}
HTTPD_USER=${HTTPD_USER:-apache}
# Keys under this prefix belong to the stack (the maintenance page).
RESERVED_PREFIX=_maintenance/

require_values FALLBACK_BUCKET AWS_REGION DISTRIBUTION_ID
[[ -d $STATE_DIR ]] || install -d -m 0700 "$STATE_DIR"
LAST_PASS=$STATE_DIR/last-pass
INVALIDATION_DUE=$STATE_DIR/invalidation-due

# One pass at a time (a manual run next to the timer's).
exec {lock_fd}>"$STATE_DIR/lock"
if ! flock -n "$lock_fd"; then
  log "another pass is running; skipping this one"
  exit 0
fi

# Its empty mount point on the root disk would empty the bucket.
if ! mountpoint -q "$DOCROOT"; then
  log "$DOCROOT is not mounted; nothing to mirror"
  exit 0
fi
if [[ ! -L $SERVED ]]; then
  log "$SERVED does not exist yet; nothing to mirror"
  exit 0
fi
tree=$(readlink -f "$SERVED")
# Every create, edit, delete, rename or chmod changes the ctime of the file or
# of its directory, a switch to another tree that of the link: nothing newer
# than the last good pass, no AWS call.
if [[ -f $LAST_PASS && ! -f $INVALIDATION_DUE ]] &&
  [[ -z $(find "$SERVED" "$tree" -cnewer "$LAST_PASS" -print -quit) ]]; then
  exit 0
fi
# This pass covers what changed before now; what changes during it is the next one's.
this_pass=$(mktemp "$STATE_DIR/.pass.XXXXXX")
trap 'rm -f "$this_pass"' EXIT

require_command aws runuser
aws=$(command -v aws)
# As Apache's user: what Apache cannot read is not copied (and its objects go).
# .ht* files (Apache refuses them), symlinks and the maintenance page stay out.
rc=0
output=$(runuser -u "$HTTPD_USER" -- "$aws" --region "$AWS_REGION" \
  s3 sync "$tree" "s3://$FALLBACK_BUCKET" --delete --no-follow-symlinks --no-progress \
  --exclude "$RESERVED_PREFIX*" --exclude ".ht*" --exclude "*/.ht*" 2>&1) || rc=$?
[[ -z $output ]] || log "aws s3 sync: ${output//$'\n'/; }"
# 2: some files were skipped (unreadable to Apache, special files, names that are not UTF-8).
((rc == 0 || rc == 2)) || die "aws s3 sync to s3://$FALLBACK_BUCKET failed (exit $rc); the next pass retries"
if [[ $output == *upload:* || $output == *delete:* || $output == *copy:* ]]; then
  : >"$INVALIDATION_DUE"
fi

# One invalidation of "/*" (billed as one path) per pass that changed the copy.
if [[ -f $INVALIDATION_DUE ]]; then
  id=$(aws --region "$AWS_REGION" cloudfront create-invalidation --distribution-id "$DISTRIBUTION_ID" \
    --paths "/*" --query Invalidation.Id --output text) ||
    die "cannot invalidate /* at distribution $DISTRIBUTION_ID; the next pass retries"
  log "invalidation $id: /*"
  rm -f "$INVALIDATION_DUE"
fi
mv -f "$this_pass" "$LAST_PASS"
