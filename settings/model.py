"""The app's settings: one frozen object, read from CDK context and validated here only.

Settings come from ``-c name=value`` on the command line and from cdk.context.json next to
cdk.json (the CDK CLI reads both; the command line wins). A setting in cdk.json's own context
block is refused: the CLI would let it override cdk.context.json without a word, and
cdk.json is tracked. Every rule lives in this module so that a bad value stops synth with one
line naming the setting, the value given and what is allowed. Where the intent is plain (a
trailing dot, capitals or Unicode in a domain name, CloudFront's spelling of a price class,
padding spaces), the value is normalised instead, as docs/settings.md says.
"""

from __future__ import annotations

import difflib
import json
import mimetypes
import os
import re
import stat
import struct
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import idna
from aws_cdk import region_info
from email_validator import EmailNotValidError, validate_email

from settings.country_codes import COUNTRIES
from settings.instance_types import (
    INSTANCE_TYPES,
    family,
    is_arm64,
    unsupported_reason,
)
from web_server.document_root import VolumeSpec

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
# numbers, spaces and + - = . _ : / @; the aws: prefix is reserved for AWS. The services
# measure these lengths as Java strings do, in UTF-16 code units: a letter outside the Basic
# Multilingual Plane (such as U+20000) counts twice.
# https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html
MAX_TAGS = 50
TAG_KEY_UNITS = (1, 128)
TAG_VALUE_UNITS = 256
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
# CloudFront takes certificates and web ACLs from this Region only.
CLOUDFRONT_REGION = "us-east-1"

# Context keys the CDK owns, never app settings: feature flags (@...), the CLI's switches
# (aws:cdk:..., aws-cdk:enableDiffNoFail), cached lookups ("<provider>:account=...:region=..."),
# and what `cdk acknowledge`, `cdk cli-telemetry` and `cdk migrate` record. Any other key, with
# a colon or not, is checked as a setting: a misspelt alarm:email is not skipped.
_CDK_CONTEXT_PREFIXES = ("@", "aws:cdk:", "aws-cdk:")
_CDK_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry", "cdk-migrate"})
# The context providers of the cloud assembly schema (its ContextProvider enum), whose names
# start the keys of cached lookups; tests/unit checks them against the pinned CDK CLI.
CDK_LOOKUP_PROVIDERS = frozenset(
    """
    ami availability-zones hosted-zone ssm vpc-provider endpoint-service-availability-zones
    load-balancer load-balancer-listener security-group key-provider cc-api-provider plugin
    """.split()
)

# Every pattern for an AWS identifier matches ASCII only: Python's \d and \w would also take
# Arabic-Indic digits, Katakana and other scripts' characters (tests/unit checks the flag).
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# arn:partition:service:region:account-id:resource
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
_ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>[0-9]{12}):(?P<resource>.+)",
    re.ASCII,
)
# An ACM certificate's id is a UUID:
# https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateSummary.html
_CERTIFICATE_RESOURCE = re.compile(rf"certificate/{_UUID}", re.ASCII)
# A web ACL's name is 1-128 of A-Z a-z 0-9 _ -, its id a UUID:
# https://docs.aws.amazon.com/waf/latest/APIReference/API_WebACL.html
_WEB_ACL_RESOURCE = re.compile(rf"global/webacl/[A-Za-z0-9_-]{{1,128}}/{_UUID}", re.ASCII)
# A DNS name in its ASCII form: labels of 1-63 letters, digits and inner hyphens, at most 253
# characters, ending in a top-level domain of letters or in its punycode form (xn--...).
_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})",
    re.ASCII,
)
# ASCII digits only (int() also takes full-width ones), and few enough for int() to convert.
_WHOLE_NUMBER = re.compile(r"\+?[0-9]{1,18}", re.ASCII)
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}", re.ASCII)
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
# Keys of S3 objects are at most 1024 bytes of UTF-8:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
_MAX_KEY_BYTES = 1024
# The upload gives the image the Content-Type its extension stands for (Python's mimetypes,
# as `aws s3 sync` does), so the extension must be the data's.
_IMAGE_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
_IMAGE_EXTENSIONS = {"JPEG": ".jpg or .jpeg", "PNG": ".png", "GIF": ".gif"}


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message is one line for the user."""


# A value longer than this is cut in the message, which must stay one readable line.
_SHOWN_VALUE_CHARS = 120


def _escaped(text: str) -> str:
    """``text`` with every character that does not print written as its escape: one line."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii") for c in text
    )


def _shown(value: Any) -> str:
    """The value as it was given: a string quoted, anything else (from JSON) as JSON."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    cut = text[: _SHOWN_VALUE_CHARS - 20] if len(text) > _SHOWN_VALUE_CHARS else text
    shown = repr(cut) if isinstance(value, str) else _escaped(cut)
    return shown if cut is text else f"{shown}... ({len(text)} characters)"


def _fail(name: str, value: Any, allowed: str) -> SettingsError:
    return SettingsError(f"setting '{name}' = {_shown(value)}: {allowed}")


def _missing(name: str, needed: str) -> SettingsError:
    return SettingsError(f"setting '{name}' is not set: {needed}")


def _whole_number(name: str, value: Any, low: int, high: int, unit: str = "") -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not _WHOLE_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        digits = "" if text.isascii() else " in ASCII digits"
        raise _fail(name, value, f"must be a whole number from {low} to {high}{unit}{digits}")
    return int(text)


def _volume_number(name: str, value: Any, volume_type: str) -> int | None:
    """A volume's size or IOPS: the range is the volume type's, so every message agrees."""
    if name == "volume_iops":
        if _optional_text(value) is None:
            return None
        if volume_type not in VOLUME_IOPS:
            raise _fail(name, value, "only gp3, io1 and io2 volumes take IOPS")
        return _whole_number(name, value, *VOLUME_IOPS[volume_type], f" IOPS for {volume_type}")
    return _whole_number(name, value, *VOLUME_SIZE_GIB[volume_type], f" GiB for {volume_type}")


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


def _price_class(name: str, value: Any) -> str:
    """100, 200 or All; CloudFront's own spelling (PriceClass_All) and any case are taken too."""
    text = str(value).strip()
    plain = text.lower().removeprefix("priceclass_") if text.isascii() else text
    for allowed in PRICE_CLASSES:
        if plain == allowed.lower():
            return allowed
    raise _fail(name, value, f"allowed values are {', '.join(PRICE_CLASSES)} (or PriceClass_100, ...)")


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
    text = str(value).strip()
    # Lower-cased only when ASCII: str.lower() maps the Kelvin sign to k, and more.
    text = text.lower() if text.isascii() else text
    if text not in INSTANCE_TYPES:
        sizes = sorted(
            (t.partition(".")[2] for t in INSTANCE_TYPES if family(t) == family(text)), key=_size_order
        )
        if sizes and "." in text:
            allowed = f"{family(text)} comes in {', '.join(sizes)}"
        else:
            allowed = (
                "must be an EC2 instance type such as t4g.micro or t3.small (settings/instance_types.txt)"
            )
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


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _read_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a regular file; OSError for anything else, without blocking.

    The path is checked with stat() before it is opened, and opened without blocking (a named
    pipe put there in between would otherwise wait for a writer for ever), then checked again.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(_file_kind(info.st_mode))
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(_file_kind(info.st_mode))
        return file.read(size)


def _image_file(name: str, value: Any) -> Path:
    path = Path(str(value).strip())
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    try:
        head = _read_head(path, 65536)
    except IsADirectoryError as kind:  # also raised above for pipes, sockets and devices
        what = kind.args[0] if kind.args and isinstance(kind.args[0], str) else "a directory"
        raise _fail(name, value, f"must be a regular file (JPEG, PNG or GIF), not {what}") from None
    except (OSError, ValueError):  # missing, unreadable, or not a valid path
        raise _fail(name, value, "must be an existing image file (JPEG, PNG or GIF)") from None
    file_name = path.name
    # S3 keys may hold any UTF-8; control and format characters (and bytes that are not
    # UTF-8) are refused: they would be invisible or break a line in logs and listings.
    if any(unicodedata.category(c)[0] == "C" for c in file_name):
        raise _fail(name, value, "the file name may not contain control, format or non-UTF-8 characters")
    if len((IMAGE_KEY_PREFIX + file_name).encode()) > _MAX_KEY_BYTES:
        raise _fail(
            name,
            value,
            f"the file name must fit an S3 key ({_MAX_KEY_BYTES} bytes with '{IMAGE_KEY_PREFIX}')",
        )
    header = image_dimensions(head)
    if header is None or header[1] <= 0 or header[2] <= 0:
        raise _fail(name, value, "must be a JPEG, PNG or GIF image with a width and height (header decoded)")
    kind = header[0]
    if mimetypes.MimeTypes().guess_type(file_name)[0] != _IMAGE_CONTENT_TYPES[kind]:
        raise _fail(
            name,
            value,
            f"the file holds {kind} data but its name does not end in {_IMAGE_EXTENSIONS[kind]}: "
            "browsers get the Content-Type of the extension",
        )
    return path


def _tag_text_ok(text: str) -> bool:
    return all(unicodedata.category(c)[0] in "LNZ" or c in _TAG_PUNCTUATION for c in text)


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class _JsonObject(list):
    """The (key, value) pairs of a JSON object, in order, duplicates kept."""


def _tag_pairs(name: str, value: Any) -> list[tuple[Any, Any]]:
    shape = 'must be a JSON object of strings, e.g. {"team":"web"}'
    if isinstance(value, Mapping):
        return list(value.items())
    if not isinstance(value, str):
        raise _fail(name, value, shape)
    if not value.strip():
        return []
    try:
        pairs = json.loads(value, object_pairs_hook=_JsonObject)
    except (json.JSONDecodeError, RecursionError):
        raise _fail(name, value, shape) from None
    if not isinstance(pairs, _JsonObject):
        raise _fail(name, value, shape)
    return list(pairs)


def _tags(name: str, value: Any) -> dict[str, str]:
    pairs = _tag_pairs(name, value)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise _fail(name, value, 'must be a JSON object of strings, e.g. {"team":"web"}')
    reserved = {key.lower() for key in APP_TAG_KEYS}
    seen: dict[str, str] = {}  # lower-case key -> the key as given
    for key, tag_value in pairs:
        if seen.get(key.lower()) == key:
            raise _fail(name, value, f"tag key {key!r} is given twice (JSON would keep only the last value)")
        # IAM refuses two tag keys that differ only in letter case on one role.
        if key.lower() in seen:
            raise _fail(name, value, f"tag keys {seen[key.lower()]!r} and {key!r} differ only in letter case")
        seen[key.lower()] = key
        if key.lower() in reserved:
            raise _fail(name, value, f"tag key {key!r} is set by the app ({', '.join(APP_TAG_KEYS)})")
        if key.lower().startswith(("aws:", "aws-cdk:")):
            raise _fail(name, value, f"tag key {key!r}: the aws: and aws-cdk: prefixes are reserved")
        if not (_tag_text_ok(key) and _tag_text_ok(tag_value)):
            raise _fail(name, value, "tags may hold letters, digits, spaces and + - = . _ : / @ only")
        low, high = TAG_KEY_UNITS
        if not (low <= _utf16_units(key) <= high and _utf16_units(tag_value) <= TAG_VALUE_UNITS):
            raise _fail(
                name,
                value,
                f"tag keys must be {low}-{high} characters, values at most {TAG_VALUE_UNITS} "
                "(counted in UTF-16 units, as AWS does: some letters count twice)",
            )
    if len(pairs) > MAX_USER_TAGS:
        raise _fail(
            name,
            value,
            f"at most {MAX_USER_TAGS} tags: AWS allows {MAX_TAGS} per resource, and the app and "
            f"aws-cdk-lib set up to {MOST_NON_USER_TAGS} on some of them",
        )
    return dict(pairs)


def _country_codes(name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    codes = [str(item).strip() for item in items if str(item).strip()]
    for code in codes:
        # Upper-cased only when two ASCII letters: str.upper() turns the ligature "ﬁ" into FI.
        if not _COUNTRY_CODE.fullmatch(code):
            raise _fail(name, value, f"{code!r} is not an ISO 3166-1 alpha-2 country code (two letters A-Z)")
        if code.upper() == "UK":
            raise _fail(name, value, "'UK' is not an ISO 3166-1 code: the United Kingdom is GB")
        if code.upper() not in COUNTRIES:
            raise _fail(
                name,
                value,
                f"{code.upper()!r} is not an ISO 3166-1 alpha-2 country code (comma-separated, e.g. US,CA)",
            )
    return tuple(dict.fromkeys(code.upper() for code in codes))


def _domain_name(name: str, value: Any) -> str | None:
    """A DNS name in the lower-case ASCII form CloudFront takes.

    Capitals, a trailing dot (a fully qualified name) and Unicode labels are normalised: UTS 46
    mapping, then punycode (IDNA 2008), as browsers do. Punycode labels are checked to decode.
    """
    text = _optional_text(value)
    if text is None:
        return None
    allowed = "must be a DNS name such as www.example.com"
    try:
        ascii_name = idna.encode(text.removesuffix("."), uts46=True).decode("ascii")
    except UnicodeError as error:  # idna.IDNAError is one
        raise _fail(name, value, f"{allowed} ({_escaped(str(error))})") from None
    if not _DNS_NAME.fullmatch(ascii_name):
        raise _fail(name, value, f"{allowed}: two or more labels, ending in a top-level domain of letters")
    return ascii_name


def _email(name: str, value: Any) -> str | None:
    """An address a mailbox can have (RFC 5321/5322 by email-validator, local part at most 64)."""
    text = _optional_text(value)
    if text is None:
        return None
    allowed = "must be an e-mail address such as ops@example.com"
    try:
        address = validate_email(text, check_deliverability=False, strict=True)
    except EmailNotValidError as error:
        raise _fail(name, value, f"{allowed} ({_escaped(str(error))})") from None
    if not _DNS_NAME.fullmatch(address.ascii_domain):
        raise _fail(name, value, f"{allowed}: its domain must end in a top-level domain of letters")
    return address.ascii_email or address.normalized


def _arn(
    name: str, value: Any, *, service: str, plural: str, resource: re.Pattern[str], shape: str
) -> str | None:
    """An ARN of ``service`` in CloudFront's Region, in that Region's partition."""
    text = _optional_text(value)
    if text is None:
        return None
    match = _ARN.fullmatch(text)
    if match is None or match["service"] != service:
        raise _fail(
            name, value, f"must be an ARN arn:aws:{service}:{CLOUDFRONT_REGION}:<12-digit account id>:{shape}"
        )
    if match["region"] != CLOUDFRONT_REGION:
        raise _fail(name, value, f"CloudFront only accepts {plural} from {CLOUDFRONT_REGION}")
    partition = region_info.RegionInfo.get(match["region"]).partition
    if match["partition"] != partition:
        raise _fail(
            name, value, f"{match['region']} is in the {partition} partition, not {match['partition']}"
        )
    if not resource.fullmatch(match["resource"]):
        raise _fail(name, value, f"the ARN must end in {shape}")
    return text


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
    snapshot_retention_days: int = 7
    log_retention_days: int = 90
    volume_removal_policy: str | None = None
    bucket_removal_policy: str | None = None
    domain_name: str | None = None
    certificate_arn: str | None = None
    image_file: Path = PROJECT_ROOT / "content" / "images" / "site-image.jpg"
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
    def volume(self) -> VolumeSpec:
        """The document-root volume as this deployment wants it."""
        return VolumeSpec(
            size_gib=self.volume_size_gib,
            volume_type=self.volume_type,
            iops=self.volume_iops,
            throughput_mibps=self.volume_throughput_mibps,
            removal_policy=self.effective_volume_removal_policy,
        )

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
    def from_context(cls, context: Mapping[str, Any], *, cdk_json: Path | None = None) -> SiteSettings:
        """Build settings from CDK context; raise SettingsError on the first bad value.

        ``cdk_json`` is the project's cdk.json, whose context block may hold no setting.
        """
        given = {name: raw for name, raw in context.items() if not is_cdk_context_key(name)}
        for name in given:
            if name not in _PARSERS:
                hint = difflib.get_close_matches(name, _PARSERS, n=1)
                allowed = f"did you mean '{hint[0]}'?" if hint else "not a known setting."
                known = ", ".join(_PARSERS)
                raise SettingsError(f"unknown setting {_shown(name)}: {allowed} Known settings: {known}")
        misplaced = settings_in_cdk_json(cdk_json) if cdk_json else []
        if misplaced:
            name = misplaced[0]
            raise SettingsError(
                f"setting '{name}' is in cdk.json, whose context the CDK CLI puts above "
                f"cdk.context.json's: move it to cdk.context.json, or give it as -c {name}=..."
            )
        values = {
            name: _PARSERS[name](name, raw) for name, raw in given.items() if name not in _VOLUME_NUMBERS
        }
        # A volume's size and IOPS take the ranges of its type, so they are read after it.
        volume_type = values.get("volume_type", cls.volume_type)
        for name in _VOLUME_NUMBERS:
            values[name] = _volume_number(name, given.get(name, getattr(cls, name)), volume_type)
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        settings._check_combinations()
        return settings

    def _check_combinations(self) -> None:
        self._check_volume()
        if self.domain_name and not self.certificate_arn:
            raise _missing(
                "certificate_arn",
                f"required with domain_name {self.domain_name!r}: an ACM certificate in {CLOUDFRONT_REGION}",
            )
        if self.certificate_arn and not self.domain_name:
            raise _missing("domain_name", "required with certificate_arn")

    def _check_volume(self) -> None:
        """What one volume setting limits in another (each range was checked on reading)."""
        kind, size, iops = self.volume_type, self.volume_size_gib, self.volume_iops
        if kind in ("io1", "io2") and iops is None:
            low, high = VOLUME_IOPS[kind]
            raise _missing("volume_iops", f"required for {kind} ({low} to {high} IOPS)")
        if iops is not None:
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


def is_cdk_context_key(name: str) -> bool:
    """Whether a context key belongs to the CDK (flags, CLI switches, lookups), not the app."""
    return (
        name in _CDK_CONTEXT_KEYS
        or name.startswith(_CDK_CONTEXT_PREFIXES)
        or (":" in name and name.partition(":")[0] in CDK_LOOKUP_PROVIDERS)
    )


def settings_in_cdk_json(path: Path) -> list[str]:
    """The keys of ``path``'s context block that are not the CDK's own (an unreadable file: none,
    as the CDK CLI reports that itself)."""
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context")
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in context if not is_cdk_context_key(name)] if isinstance(context, dict) else []


def _number(low: int, high: int, unit: str = "") -> Callable[[str, Any], int]:
    return lambda name, value: _whole_number(name, value, low, high, unit)


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``parse`` for a setting that may be left empty (None: the default applies)."""
    return lambda name, value: None if _optional_text(value) is None else parse(name, value)


# A volume's size and IOPS: their ranges depend on volume_type (see from_context).
_VOLUME_NUMBERS = ("volume_size_gib", "volume_iops")

# The one table of settings: name -> parser. Order is the order shown to users. What depends
# on another setting is read after it: the volume's size and IOPS after its type, and what one
# volume setting limits in another in SiteSettings._check_volume.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "environment": lambda n, v: _choice(n, v, ENVIRONMENTS),
    "instance_type": _instance_type,
    "detailed_monitoring": _boolean,
    "server_generation": _number(*GENERATION),
    "volume_size_gib": _volume_number,
    "volume_type": lambda n, v: _choice(n, v, VOLUME_TYPES),
    "volume_iops": _volume_number,
    "volume_throughput_mibps": _optional(_number(*GP3_THROUGHPUT_MIBPS, " MiB/s")),
    "price_class": _price_class,
    "page_cache_seconds": _page_cache_seconds,
    "snapshot_retention_days": _number(*SNAPSHOT_RETENTION),
    "log_retention_days": _log_retention,
    "volume_removal_policy": _optional(lambda n, v: _choice(n, v, VOLUME_REMOVAL_POLICIES)),
    "bucket_removal_policy": _optional(lambda n, v: _choice(n, v, BUCKET_REMOVAL_POLICIES)),
    "domain_name": _domain_name,
    "certificate_arn": partial(
        _arn,
        service="acm",
        plural="ACM certificates",
        resource=_CERTIFICATE_RESOURCE,
        shape="certificate/<UUID>",
    ),
    "image_file": _optional(_image_file),
    "alarm_email": _email,
    "waf_web_acl_arn": partial(
        _arn,
        service="wafv2",
        plural="WAFv2 web ACLs of scope CLOUDFRONT",
        resource=_WEB_ACL_RESOURCE,
        shape="global/webacl/<name>/<UUID>",
    ),
    "geo_allowlist": _country_codes,
    "tags": _tags,
}

SETTING_NAMES = tuple(_PARSERS)
