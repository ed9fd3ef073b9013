#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Publishes whether the origin serves the site: GET HEALTH_URL as CloudFront
# would (with the origin token: ORIGIN_VERIFY_TOKEN, else the one in
# HTTPD_CONF_DIR/origin-verify.conf, else the secret), then the CloudWatch metric
# Site/OriginAvailable{SiteName=$SITE_NAME} = 1 for a 2xx or 3xx answer, else
# 0. Run by site-health.timer every minute; the stack's alarm fires on 0 or on
# missing data.
#
# Exits 0 once the value is published, healthy or not (the alarm is the
# signal, not this unit's state), and non-zero only when nothing could be
# published.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STEP=site-health
enable_error_trap

HEALTH_URL=${HEALTH_URL:-http://127.0.0.1/}
HEALTH_TIMEOUT_SECONDS=${HEALTH_TIMEOUT_SECONDS:-10}
ORIGIN_TOKEN_SECRET_ID=${ORIGIN_TOKEN_SECRET_ID:-}
SITE_NAME=${SITE_NAME:-}
METRIC_NAMESPACE=Site
METRIC_NAME=OriginAvailable

[[ -n $SITE_NAME ]] || die "SITE_NAME is not set"

# The token to send: ORIGIN_VERIFY_TOKEN when set; else the one Apache
# actually checks, from the origin-verify.conf that configure-httpd wrote
# (no AWS call, so a Secrets Manager outage cannot make a healthy origin look
# down); only without that file, Secrets Manager.
token=$ORIGIN_VERIFY_TOKEN
[[ -n $token ]] || origin_token_from_conf token "$HTTPD_CONF_DIR/origin-verify.conf" || true
if [[ -z $token && -n $ORIGIN_TOKEN_SECRET_ID ]]; then
  # Without the token Apache answers 403, which would report a healthy origin
  # as down: publish nothing instead (the alarm treats missing data as bad).
  origin_token_from_secret token || die "cannot read the origin token from $ORIGIN_TOKEN_SECRET_ID"
fi

# The header goes through curl's config on stdin, not its command line,
# so the token never shows in the process list.
header=""
if [[ -n $token ]]; then
  header="header = \"X-Origin-Verify: $token\""
fi
status=$(curl --config - --silent --output /dev/null --write-out '%{http_code}' \
  --max-time "$HEALTH_TIMEOUT_SECONDS" -- "$HEALTH_URL" <<<"$header") || status=000

value=0
if [[ $status =~ ^[23][0-9][0-9]$ ]]; then
  value=1
else
  log "origin unhealthy: GET $HEALTH_URL answered ${status/#000/no response}"
fi

aws_cli cloudwatch put-metric-data --namespace "$METRIC_NAMESPACE" --metric-name "$METRIC_NAME" \
  --dimensions "SiteName=$SITE_NAME" --value "$value" --unit Count ||
  die "cannot publish $METRIC_NAMESPACE/$METRIC_NAME=$value for $SITE_NAME"
