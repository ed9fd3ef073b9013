#!/usr/bin/env bash
# User data of the web server: the same text for every deployment of one
# server generation (@SERVER_GENERATION@), with no deploy-time value in it.
#
# The site's configuration does not travel here. AWS Systems Manager State
# Manager delivers it: as soon as the SSM agent registers this instance, the
# site's association downloads the boot files from S3 and runs apply.sh with
# the deployment's values, and it runs again on every change and on schedule.
# See docs/boot.md.
set -euo pipefail
# The agent ships enabled on Amazon Linux 2023; make sure it runs, since
# everything else arrives through it.
systemctl enable --now amazon-ssm-agent
