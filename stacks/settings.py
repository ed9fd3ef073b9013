"""The app's settings: one frozen object, read from CDK context and validated here only.

Settings come from the ``context`` block of cdk.json and from ``-c name=value`` on the
command line (which wins). Every rule lives in this module so that a bad value stops
synth with one line naming the setting, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
import struct
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stacks.country_codes import COUNTRIES
from stacks.instance_types import (
    INSTANCE_TYPES,
    family,
    is_arm64,
    unsupported_reason,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_TAG = "ebs-cloudfront-site"

ENVIRONMENTS = ("dev", "prod")
VOLUME_TYPES = ("gp3", "gp2", "io1", "io2")
PRICE_CLASSES = ("100", "200", "All")
VOLUME_REMOVAL_POLICIES = ("snapshot", "retain")
BUCKET_REMOVAL_POLICIES = ("destroy", "retain")
# Where the image lives in the bucket and under the image distribution's domain.
IMAGE_KEY_PREFIX = "images/"

# ---- AWS limits, each as documented ----
# Volume sizes and IOPS per volume type, from the EC2 API reference of CreateVolume (the same
# text is in botocore's EC2 model): https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html
VOLUME_SIZE_GIB = {"gp2": (1, 16384), "gp3": (1, 65536), "io1": (4, 16384), "io2": (4, 65536)}
VOLUME_IOPS = {"gp3": (3000, 80000), "io1": (100, 64000), "io2": (100, 256000)}
# Most IOPS per GiB of volume size:
# gp3 500: https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-ebs-volume-type
# io1 50, io2 1000: https://docs.aws.amazon.com/ebs/latest/userguide/provisioned-iops.html
# io2 is held to 500 here: aws-cdk-lib's ec2.Volume (2.275) refuses more than 500 per GiB
# with a construct error, so 500 is the most this app can deploy.
VOLUME_IOPS_PER_GIB = {"gp3": 500, "io1": 50, "io2": 500}
# gp3 throughput: 125-2000 MiB/s, at most 0.25 MiB/s per provisioned IOPS (3000 IOPS baseline).
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html (Throughput)
# https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-performance
GP3_THROUGHPUT_MIBPS = (125, 2000)
GP3_BASELINE_IOPS = 3000
# Retention periods CloudWatch Logs accepts (retentionInDays of PutRetentionPolicy):
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
# Data Lifecycle Manager keeps 1 to 1000 snapshots per schedule (RetainRule.Count):
# https://docs.aws.amazon.com/dlm/latest/APIReference/API_RetainRule.html
SNAPSHOT_RETENTION = (1, 1000)
# CloudFront's largest TTL is 31536000 seconds (one year):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
PAGE_CACHE_SECONDS = (1, 31536000)
# Tags: at most 50 per resource; keys 1-128 and values 0-256 Unicode characters of letters,
# numbers, spaces and + - = . _ : / @; the aws: prefix is reserved for AWS.
# https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html
MAX_TAGS = 50
_TAG_PUNCTUATION = frozenset("+-=._:/@")
# Tag keys the app sets itself: on every resource (project, environment), on the document-root
# volume (site-snapshots selects it for snapshots), and Name (aws-cdk-lib names the VPC, its
# subnets and the instance). A user tag with one of these keys would silently replace it.
APP_TAG_KEYS = ("project", "environment", "site-snapshots", "Name")
# The most tags the app and aws-cdk-lib put on one resource: a subnet carries project,
# environment, Name, aws-cdk:subnet-name and aws-cdk:subnet-type (tests/unit proves the bound).
MOST_NON_USER_TAGS = 5
MAX_USER_TAGS = MAX_TAGS - MOST_NON_USER_TAGS
# Counters that exist to force a replacement on purpose.
GENERATION = (1, 1000000)

# Context keys owned by the CDK itself, never app settings: feature flags (@...), CLI
# switches and cached lookups (they contain a colon), and what `cdk acknowledge` records.
_CDK_CONTEXT_PREFIXES = ("@", "aws:", "aws-cdk:", "cdk:", "cdk-")
_CDK_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers"})

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_WAF_ARN = re.compile(r"^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/[\w-]+/[0-9a-f-]+$")
# ASCII digits only (int() also takes full-width ones), and few enough for int() to convert.
_WHOLE_NUMBER = re.compile(r"\+?[0-9]{1,18}")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
# Characters an image file name may not contain: control characters, and the glob
# metacharacters and backslash that would turn the upload's file filter into a pattern.
_UNSAFE_NAME_CHARACTERS = frozenset("*?[]!\\")
# Keys of S3 objects are at most 1024 bytes of UTF-8:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
_MAX_KEY_BYTES = 1024


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message is one line for the user."""


# A value longer than this is cut in the message, which must stay one readable line.
_SHOWN_VALUE_CHARS = 120


def _fail(name: str, value: Any, allowed: str) -> SettingsError:
    # repr() keeps any value on one line: newlines and control characters come out escaped.
    shown = repr(value)
    if len(shown) > _SHOWN_VALUE_CHARS:
        shown = f"{shown[: _SHOWN_VALUE_CHARS - 20]}... ({len(shown)} characters)"
    return SettingsError(f"setting '{name}' = {shown}: {allowed}")


def _whole_number(name: str, value: Any, low: int, high: int) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not _WHOLE_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        digits = "" if text.isascii() else " in ASCII digits"
        raise _fail(name, value, f"must be a whole number from {low} to {high}{digits}")
    return int(text)


def _volume_number(name: str, value: Any) -> int:
    """Only the form here: the range depends on volume_type, checked in one place later."""
    text = str(value).strip()
    if isinstance(value, bool) or not _WHOLE_NUMBER.fullmatch(text):
        digits = "" if text.isascii() else " in ASCII digits"
        raise _fail(name, value, f"must be a whole number{digits}; its range depends on volume_type")
    return int(text)


def _optional_volume_number(name: str, value: Any) -> int | None:
    return None if _optional_text(value) is None else _volume_number(name, value)


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _BOOLEANS:
        raise _fail(name, value, "must be true or false (also yes/no, 1/0)")
    return _BOOLEANS[text]


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        raise _fail(name, value, f"allowed values are {', '.join(allowed)}")
    return text


def _optional_text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _size_order(size: str) -> tuple[int, str]:
    small = ("nano", "micro", "small", "medium", "large", "xlarge")
    if size in small:
        return small.index(size), size
    number = size.removesuffix("xlarge")
    return (len(small) + int(number), size) if number.isdigit() else (10**6, size)


def _instance_type(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text not in INSTANCE_TYPES:
        sizes = sorted(
            (t.partition(".")[2] for t in INSTANCE_TYPES if family(t) == family(text)), key=_size_order
        )
        if sizes and "." in text:
            allowed = f"{family(text)} comes in {', '.join(sizes)}"
        else:
            allowed = "must be an EC2 instance type such as t4g.micro or t3.small (stacks/instance_types.txt)"
        raise _fail(name, value, allowed)
    reason = unsupported_reason(text)
    if reason:
        raise _fail(name, value, f"not supported: {reason}")
    return text


def _log_retention(name: str, value: Any) -> int:
    text = str(value).strip()
    if not _WHOLE_NUMBER.fullmatch(text) or int(text) not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise _fail(name, value, f"CloudWatch Logs keeps logs for one of {allowed} days")
    return int(text)


def _page_cache_seconds(name: str, value: Any) -> int:
    if str(value).strip() == "0":
        raise _fail(
            name,
            value,
            f"must be from {PAGE_CACHE_SECONDS[0]} to {PAGE_CACHE_SECONDS[1]}: pages are "
            "compressed at the edge, and a cache policy whose TTLs are all 0 cannot compress "
            "(every change invalidates the cache anyway)",
        )
    return _whole_number(name, value, *PAGE_CACHE_SECONDS)


def image_dimensions(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) read from a PNG, GIF or JPEG header, or None if there is none."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "PNG", width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "GIF", width, height
    if data.startswith(b"\xff\xd8"):
        at = 2
        while at + 4 <= len(data) and data[at] == 0xFF:
            marker = data[at + 1]
            if marker == 0xFF:  # fill byte
                at += 1
                continue
            if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
                at += 2
                continue
            # Start of frame: C0-CF except C4 (Huffman tables), C8 (reserved), CC (arithmetic).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                if at + 9 > len(data):
                    return None
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return "JPEG", width, height
            if marker in (0xD9, 0xDA):  # end of image or scan data before any frame
                return None
            at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return None


def _image_file(name: str, value: Any) -> Path:
    path = Path(str(value))
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    try:
        with path.open("rb") as image:
            head = image.read(65536)
    except (OSError, ValueError):  # missing, a directory, unreadable, or not a valid path
        raise _fail(name, value, "must be an existing image file (JPEG, PNG or GIF)") from None
    file_name = path.name
    if (
        any(c in _UNSAFE_NAME_CHARACTERS or unicodedata.category(c)[0] == "C" for c in file_name)
        or len((IMAGE_KEY_PREFIX + file_name).encode()) > _MAX_KEY_BYTES
    ):
        raise _fail(
            name,
            value,
            "the file name may not contain control characters or * ? [ ] ! \\ "
            f"and must fit an S3 key ({_MAX_KEY_BYTES} bytes with '{IMAGE_KEY_PREFIX}')",
        )
    header = image_dimensions(head)
    if header is None or header[1] <= 0 or header[2] <= 0:
        raise _fail(name, value, "must be a JPEG, PNG or GIF image with a width and height (header decoded)")
    return path


def _tag_text_ok(text: str) -> bool:
    return all(unicodedata.category(c)[0] in "LNZ" or c in _TAG_PUNCTUATION for c in text)


def _tags(name: str, value: Any) -> dict[str, str]:
    shape = 'must be a JSON object of strings, e.g. {"team":"web"}'
    tags = value
    if isinstance(value, str):
        try:
            tags = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise _fail(name, value, shape) from None
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise _fail(name, value, shape)
    reserved = {key.lower() for key in APP_TAG_KEYS}
    most = MAX_USER_TAGS
    for key, tag_value in tags.items():
        if key.lower() in reserved:
            raise _fail(name, value, f"tag key {key!r} is set by the app ({', '.join(APP_TAG_KEYS)})")
        if key.lower().startswith(("aws:", "aws-cdk:")):
            raise _fail(name, value, f"tag key {key!r}: the aws: and aws-cdk: prefixes are reserved")
        if not (1 <= len(key) <= 128 and len(tag_value) <= 256):
            raise _fail(name, value, "tag keys must be 1-128 characters, values at most 256")
        if not (_tag_text_ok(key) and _tag_text_ok(tag_value)):
            raise _fail(name, value, "tags may hold letters, digits, spaces and + - = . _ : / @ only")
    if len(tags) > most:
        raise _fail(
            name,
            value,
            f"at most {most} tags: AWS allows {MAX_TAGS} per resource, and the app and "
            f"aws-cdk-lib set up to {MAX_TAGS - most} on some of them",
        )
    return dict(tags)


def _country_codes(name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    codes = dict.fromkeys(str(item).strip().upper() for item in items if str(item).strip())
    for code in codes:
        if code == "UK":
            raise _fail(name, value, "'UK' is not an ISO 3166-1 code: the United Kingdom is GB")
        if code not in COUNTRIES:
            raise _fail(
                name,
                value,
                f"{code!r} is not an ISO 3166-1 alpha-2 country code (comma-separated, e.g. US,CA)",
            )
    return tuple(codes)


@dataclass(frozen=True, kw_only=True)
class SiteSettings:
    """Everything a deployment can change. Build it with :meth:`from_context`."""

    environment: str = "dev"
    instance_type: str = "t4g.micro"
    detailed_monitoring: bool = False
    server_generation: int = 1
    volume_size_gib: int = 5
    volume_type: str = "gp3"
    volume_iops: int | None = None
    volume_throughput_mibps: int | None = None
    price_class: str = "100"
    page_cache_seconds: int = 86400
    origin_token_generation: int = 1
    snapshot_retention_days: int = 7
    log_retention_days: int = 90
    volume_removal_policy: str | None = None
    bucket_removal_policy: str | None = None
    domain_name: str | None = None
    certificate_arn: str | None = None
    image_file: Path = PROJECT_ROOT / "assets" / "images" / "site-image.jpg"
    alarm_email: str | None = None
    waf_web_acl_arn: str | None = None
    geo_allowlist: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    # ---- derived values: one place decides what an environment means ----
    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def effective_volume_removal_policy(self) -> str:
        return self.volume_removal_policy or ("retain" if self.is_production else "snapshot")

    @property
    def effective_bucket_removal_policy(self) -> str:
        return self.bucket_removal_policy or ("retain" if self.is_production else "destroy")

    @property
    def is_graviton(self) -> bool:
        """Arm64 instance types (Graviton, and Grace) need the arm64 AMI."""
        return is_arm64(self.instance_type)

    @property
    def image_key(self) -> str:
        """The image's S3 object key (UTF-8, as the file is named)."""
        return f"{IMAGE_KEY_PREFIX}{self.image_file.name}"

    @property
    def image_url_path(self) -> str:
        """The key as a URL path: percent-encoded except RFC 3986's unreserved characters and /.

        The result holds only A-Z a-z 0-9 - . _ ~ / and %XX, so it cannot break a URL, an
        HTML attribute, a shell word or a quoted string in the user data.
        """
        return quote(self.image_key, safe="/")

    @property
    def all_tags(self) -> dict[str, str]:
        return {"project": PROJECT_TAG, "environment": self.environment, **self.tags}

    def stack_name(self, part: str) -> str:
        return f"Site{part}-{self.environment}"

    # ---- construction and validation ----
    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> SiteSettings:
        """Build settings from CDK context; raise SettingsError on the first bad value."""
        values: dict[str, Any] = {}
        for name, raw in context.items():
            if name.startswith(_CDK_CONTEXT_PREFIXES) or ":" in name or name in _CDK_CONTEXT_KEYS:
                continue
            if name not in _PARSERS:
                hint = difflib.get_close_matches(name, _PARSERS, n=1)
                allowed = f"did you mean '{hint[0]}'?" if hint else "not a known setting"
                known = ", ".join(_PARSERS)
                raise SettingsError(f"unknown setting '{name}': {allowed} Known settings: {known}")
            values[name] = _PARSERS[name](name, raw)
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        settings._check_combinations()
        return settings

    def _check_combinations(self) -> None:
        self._check_volume()
        if self.domain_name and not self.certificate_arn:
            raise _fail(
                "certificate_arn",
                None,
                f"required with domain_name {self.domain_name!r}: an ACM certificate in us-east-1",
            )
        if self.certificate_arn and not self.domain_name:
            raise _fail("domain_name", None, "required with certificate_arn")

    def _check_volume(self) -> None:
        kind, size, iops = self.volume_type, self.volume_size_gib, self.volume_iops
        low, high = VOLUME_SIZE_GIB[kind]
        if not low <= size <= high:
            raise _fail("volume_size_gib", size, f"{kind} volumes take {low} to {high} GiB")
        if kind not in VOLUME_IOPS and iops is not None:
            raise _fail("volume_iops", iops, "only gp3, io1 and io2 volumes take IOPS")
        if kind in ("io1", "io2") and iops is None:
            low, high = VOLUME_IOPS[kind]
            raise _fail("volume_iops", None, f"required for {kind} ({low} to {high} IOPS)")
        if kind in VOLUME_IOPS and iops is not None:
            low, high = VOLUME_IOPS[kind]
            if not low <= iops <= high:
                raise _fail("volume_iops", iops, f"{kind} takes {low} to {high} IOPS")
            ratio = VOLUME_IOPS_PER_GIB[kind]
            if iops > ratio * size:
                # Without volume_iops a gp3 volume of any size gets the 3000 IOPS baseline, but
                # aws-cdk-lib holds an explicit value to the ratio even below 6 GiB.
                unset = ", or leave volume_iops unset for the 3000 IOPS baseline" if kind == "gp3" else ""
                raise _fail(
                    "volume_iops",
                    iops,
                    f"{kind} takes at most {ratio} IOPS per GiB: {ratio * size} with {size} GiB{unset}",
                )
        if kind != "gp3" and self.volume_throughput_mibps is not None:
            raise _fail(
                "volume_throughput_mibps",
                self.volume_throughput_mibps,
                "only gp3 volumes take a throughput",
            )
        if self.volume_throughput_mibps is not None:
            gp3_iops = iops or GP3_BASELINE_IOPS
            low, high = GP3_THROUGHPUT_MIBPS
            ceiling = min(high, gp3_iops // 4)
            if not low <= self.volume_throughput_mibps <= ceiling:
                raise _fail(
                    "volume_throughput_mibps",
                    self.volume_throughput_mibps,
                    f"gp3 takes {low} to {ceiling} MiB/s with {gp3_iops} IOPS "
                    f"(at most {high}, and 0.25 per IOPS)",
                )


def _parse_certificate_arn(name: str, value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    match = _ACM_ARN.match(text)
    if not match:
        raise _fail(name, value, "must be an ACM certificate ARN (arn:aws:acm:us-east-1:...)")
    if match["region"] != "us-east-1":
        raise _fail(name, value, "CloudFront only accepts ACM certificates from us-east-1")
    return text


def _parse_pattern(pattern: re.Pattern[str], allowed: str) -> Callable[[str, Any], str | None]:
    def parse(name: str, value: Any) -> str | None:
        text = _optional_text(value)
        if text is not None and not pattern.match(text):
            raise _fail(name, value, allowed)
        return text

    return parse


def _number(low: int, high: int) -> Callable[[str, Any], int]:
    return lambda name, value: _whole_number(name, value, low, high)


def _optional_number(low: int, high: int) -> Callable[[str, Any], int | None]:
    def parse(name: str, value: Any) -> int | None:
        if _optional_text(value) is None:
            return None
        return _whole_number(name, value, low, high)

    return parse


def _optional_choice(allowed: tuple[str, ...]) -> Callable[[str, Any], str | None]:
    def parse(name: str, value: Any) -> str | None:
        return None if _optional_text(value) is None else _choice(name, value, allowed)

    return parse


# The one table of settings: name -> parser. Order is the order shown to users. Ranges that
# depend on another setting (volume size and IOPS per volume type) are checked afterwards,
# all in SiteSettings._check_volume, so that their messages never contradict each other.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "environment": lambda n, v: _choice(n, v, ENVIRONMENTS),
    "instance_type": _instance_type,
    "detailed_monitoring": _boolean,
    "server_generation": _number(*GENERATION),
    "volume_size_gib": _volume_number,
    "volume_type": lambda n, v: _choice(n, v, VOLUME_TYPES),
    "volume_iops": _optional_volume_number,
    "volume_throughput_mibps": _optional_number(*GP3_THROUGHPUT_MIBPS),
    "price_class": lambda n, v: _choice(n, v, PRICE_CLASSES),
    "page_cache_seconds": _page_cache_seconds,
    "origin_token_generation": _number(*GENERATION),
    "snapshot_retention_days": _number(*SNAPSHOT_RETENTION),
    "log_retention_days": _log_retention,
    "volume_removal_policy": _optional_choice(VOLUME_REMOVAL_POLICIES),
    "bucket_removal_policy": _optional_choice(BUCKET_REMOVAL_POLICIES),
    "domain_name": _parse_pattern(_DOMAIN, "must be a lower-case DNS name such as www.example.com"),
    "certificate_arn": _parse_certificate_arn,
    "image_file": _image_file,
    "alarm_email": _parse_pattern(_EMAIL, "must be an e-mail address such as ops@example.com"),
    "waf_web_acl_arn": _parse_pattern(
        _WAF_ARN, "must be a WAFv2 web ACL ARN with scope CLOUDFRONT (arn:aws:wafv2:us-east-1:...)"
    ),
    "geo_allowlist": _country_codes,
    "tags": _tags,
}

SETTING_NAMES = tuple(_PARSERS)
