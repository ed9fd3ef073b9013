#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Attach the document-root EBS volume to this instance (it has no
# CloudFormation attachment). During an instance replacement the old instance
# holds it until CloudFormation terminates it: AWS answers VolumeInUse (or
# IncorrectState while it detaches). That, and the errors a brand-new role
# can cause for a while (credentials not yet in IMDS, IAM propagating,
# throttling, the network), are retried until ATTACH_WAIT_SECONDS.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=attach-volume
enable_error_trap

require_values VOLUME_ID DEVICE_NAME
require_command aws
resolve_identity

# retry_or_die CALL OUTPUT: log a transient error and go on, or fail.
retry_or_die() {
  local msg=${2//$'\n'/ }
  msg="$1 failed: ${msg# }"
  case $2 in
  *[Cc]redentials* | *UnauthorizedOperation* | *RequestLimitExceeded* | *Throttling* | *endpoint\ URL* | *Unavailable*)
    last="last error: $msg"
    log "$msg; retrying"
    ;;
  *) die "$msg" ;;
  esac
}

deadline=$(($(now_ms) + ATTACH_WAIT_SECONDS * 1000))
attach_requested=false
while :; do
  last=""
  # "<volume state> <attached instance or None> <attachment state or None>"
  if ! desc=$(aws ec2 describe-volumes --region "$AWS_REGION" --volume-ids "$VOLUME_ID" --output text \
    --query 'Volumes[0].[State,Attachments[0].InstanceId,Attachments[0].State]' 2>&1); then
    retry_or_die describe-volumes "$desc"
  elif read -r vol_state holder attach_state <<<"$desc" && [[ $holder == "$INSTANCE_ID" ]]; then
    if [[ $attach_state == attached ]]; then
      if [[ $attach_requested == true ]]; then
        log "volume $VOLUME_ID is attached to $INSTANCE_ID as $DEVICE_NAME"
      else
        log "volume $VOLUME_ID is already attached to this instance ($INSTANCE_ID); nothing to do"
      fi
      exit 0
    fi
    log "volume $VOLUME_ID attachment to $INSTANCE_ID is '$attach_state'; waiting"
  elif [[ $attach_requested == true && $vol_state != available && $holder == None ]]; then
    # Accepted, not yet visible in the attachment list.
    log "volume $VOLUME_ID is '$vol_state'; waiting for the attachment to appear"
  else
    log "attaching volume $VOLUME_ID to $INSTANCE_ID as $DEVICE_NAME (volume state: $vol_state, held by: $holder)"
    if out=$(aws ec2 attach-volume --region "$AWS_REGION" --volume-id "$VOLUME_ID" \
      --instance-id "$INSTANCE_ID" --device "$DEVICE_NAME" --output text 2>&1); then
      attach_requested=true
      log "attach-volume accepted for $VOLUME_ID"
      continue
    fi
    case $out in
    *VolumeInUse* | *IncorrectState*)
      log "volume $VOLUME_ID is still in use (held by: $holder); the previous instance has not released it yet"
      ;;
    *) retry_or_die attach-volume "$out" ;;
    esac
  fi
  if (($(now_ms) >= deadline)); then
    die "volume $VOLUME_ID was not attached to $INSTANCE_ID within ${ATTACH_WAIT_SECONDS}s (${last:-last state: $vol_state, held by: $holder})"
  fi
  sleep "$ATTACH_POLL_SECONDS"
done
