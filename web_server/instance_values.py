"""The values a deployment hands to the instance, one row each: where the value comes from (a path
of attributes on the web server stack: ``settings.`` for a setting, else a resource's attribute), its
SSM parameter, the pattern SSM enforces (a setting declares the same one, so synth refuses what SSM
would) and its environment variable. The stack, the SSM document, apply.sh's environment file and
the page's ``{{NAME}}`` placeholders follow this table. The agent checks each pattern with RE2 (Go's
regexp) and pastes the value inside single quotes: no pattern admits a quote, backslash, dollar sign,
backtick, brace or control character (only text such as the page title may hold spaces)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceValue:
    parameter: str
    env: str
    source: str
    pattern: str
    description: str


# The patterns. Bucket names: 3-63 lower-case letters, digits, dots and dashes.
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
# Text such as the page's title: 1-120 characters, none a quote, backslash, dollar sign,
# backtick, brace, angle bracket or control character.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f'\"\\$`{}<>]{1,120}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
VOLUME_ID = r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$"
DEVICE_NAME = r"^/dev/(sd|xvd)[f-p]$"  # the names AWS recommends for EBS volumes on Linux
SIZE_GIB = r"^[1-9][0-9]{0,4}$"
HTTPS_URL = r"^https://[A-Za-z0-9.-]{1,253}/[A-Za-z0-9._~%/-]+$"
HOST_NAME = r"^[A-Za-z0-9.-]{1,253}$"
DISTRIBUTION_ID = r"^[A-Z0-9]{8,32}$"
STACK_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,127}$"

# A new value of any row re-runs the association at once (a larger size grows the filesystem).
# fmt: off
INSTANCE_VALUES = (
    InstanceValue("Region", "AWS_REGION", "region", REGION, "Region of the stack"),
    InstanceValue("VolumeId", "VOLUME_ID", "document_root.volume_id", VOLUME_ID, "Document-root volume"),
    InstanceValue("DeviceName", "DEVICE_NAME", "document_root.device_name", DEVICE_NAME, "Device name to attach it as"),
    InstanceValue("VolumeSizeGib", "VOLUME_SIZE_GIB", "settings.volume_size_gib", SIZE_GIB, "Size of the volume"),
    InstanceValue("ImageUrl", "IMAGE_URL", "image_url", HTTPS_URL, "The image the page shows"),
    InstanceValue("SiteDomain", "SITE_DOMAIN", "site_domain", HOST_NAME, "Viewers' host name"),
    InstanceValue("FallbackBucket", "FALLBACK_BUCKET", "fallback.bucket.bucket_name", BUCKET_PATTERN, "Bucket mirroring the document root"),
    InstanceValue("DistributionId", "DISTRIBUTION_ID", "cdn.distribution.distribution_id", DISTRIBUTION_ID, "Site distribution"),
    InstanceValue("SiteName", "SITE_NAME", "stack_name", STACK_NAME, "Metric dimension"),
    InstanceValue("PageTitle", "PAGE_TITLE", "settings.page_title", TEXT_PATTERN, "The page's title and heading"),
)
# fmt: on
