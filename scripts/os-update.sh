#!/usr/bin/env bash
# In-place OS update of the running web server (docs/operations.md): send the stack's
# OsUpdate document to its instance through SSM Run Command, and wait for the result.
# The document runs `dnf upgrade --releasever=<release>` and reboots if the update needs it.
#
# Usage: scripts/os-update.sh [ENVIRONMENT] [RELEASE]   (defaults: dev latest)
# Uses your AWS credentials and region, like `make deploy`.
set -euo pipefail
environment=${1:-dev}
release=${2:-latest}
POLL_SECONDS=${POLL_SECONDS:-10}
# The document's own timeout is an hour; a reboot and the second run come on top.
WAIT_SECONDS=${WAIT_SECONDS:-5400}
# Consecutive failed status calls (credentials expired, throttling) before giving up.
MAX_API_ERRORS=${MAX_API_ERRORS:-6}

if [[ ! $environment =~ ^(dev|prod)$ ]]; then
  echo "error: environment '$environment': expected dev or prod" >&2
  exit 2
fi
if [[ ! $release =~ ^(latest|20[0-9]{2}\.[0-9]+\.[0-9]+)$ ]]; then
  echo "error: release '$release': expected latest or an AL2023 release such as 2023.9.20251110" >&2
  exit 2
fi
stack="SiteWebServer-$environment"
export AWS_PAGER=""

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

instance=$(output InstanceId)
document=$(output OsUpdateDocument)
if [[ -z $instance || $instance == None || -z $document || $document == None ]]; then
  echo "error: stack $stack has no InstanceId or OsUpdateDocument output: deploy it first" >&2
  exit 1
fi
command_id=$(aws ssm send-command --document-name "$document" --instance-ids "$instance" \
  --parameters "ReleaseVersion=$release" --comment "OS update to $release" \
  --query Command.CommandId --output text)
echo "sent $document to $instance (command $command_id); waiting for it"
# A reboot in the middle runs the step again afterwards; the command ends after it.
deadline=$((SECONDS + WAIT_SECONDS))
errors=0
last=""
while :; do
  if status=$(aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance" \
    --query Status --output text 2>&1); then
    errors=0
  else
    errors=$((errors + 1))
    if ((errors >= MAX_API_ERRORS)); then
      echo "error: cannot read the command's status ($status); see: aws ssm get-command-invocation --command-id $command_id --instance-id $instance" >&2
      exit 1
    fi
    # Right after send-command the invocation may not exist yet.
    status=Pending
  fi
  [[ $status == "$last" ]] || echo "status: $status"
  last=$status
  case $status in
  Success)
    echo "OS update to $release done on $instance"
    exit 0
    ;;
  Failed | Cancelled | TimedOut | Cancelling)
    echo "error: OS update $status; details: aws ssm get-command-invocation --command-id $command_id --instance-id $instance" >&2
    exit 1
    ;;
  esac
  if ((SECONDS >= deadline)); then
    echo "error: OS update still '$status' after ${WAIT_SECONDS}s; it goes on, see: aws ssm get-command-invocation --command-id $command_id --instance-id $instance" >&2
    exit 1
  fi
  sleep "$POLL_SECONDS"
done
