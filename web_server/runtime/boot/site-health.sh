#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Publishes whether the origin serves the site: GET HEALTH_URL as CloudFront
# would, then the CloudWatch metric Site/OriginAvailable{SiteName=$SITE_NAME}
# = 1 for a 2xx or 3xx answer, else 0. Run by site-health.timer every minute.
# Exits 0 once the value is published, healthy or not: the stack's alarm (on 0
# or on missing data) is the signal, not this unit's state.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=site-health
enable_error_trap

HEALTH_URL=${HEALTH_URL:-http://127.0.0.1/}
HEALTH_TIMEOUT_SECONDS=${HEALTH_TIMEOUT_SECONDS:-10}
METRIC_NAMESPACE=Site
METRIC_NAME=OriginAvailable

require_values SITE_NAME AWS_REGION

status=$(curl --silent --output /dev/null --write-out '%{http_code}' \
  --max-time "$HEALTH_TIMEOUT_SECONDS" -- "$HEALTH_URL") || status=000

value=0
if [[ $status =~ ^[23][0-9][0-9]$ ]]; then
  value=1
else
  log "origin unhealthy: GET $HEALTH_URL answered ${status/#000/no response}"
fi

aws --region "$AWS_REGION" cloudwatch put-metric-data --namespace "$METRIC_NAMESPACE" --metric-name "$METRIC_NAME" \
  --dimensions "SiteName=$SITE_NAME" --value "$value" --unit Count ||
  die "cannot publish $METRIC_NAMESPACE/$METRIC_NAME=$value for $SITE_NAME"
