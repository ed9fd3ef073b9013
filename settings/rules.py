"""The rules a setting's value must meet beyond its type, each AWS limit with its source.

Each validator raises ValueError saying what the setting allows; settings/model.py turns it into the
one line a bad value stops synth with. The volume is checked by aws-cdk-lib's own ec2.Volume.
"""

import json
import mimetypes
import os
import re
import stat
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from aws_cdk import Size, Stack, region_info
from aws_cdk import aws_ec2 as ec2
from pydantic_core import PydanticCustomError

from settings import instance_types
from web_server.document_root import VolumeSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_KEY_PREFIX = "images/"
DEFAULT_IMAGE = PROJECT_ROOT / "content" / "images" / "site-image.jpg"
CLOUDFRONT_REGION = "us-east-1"  # CloudFront takes certificates and web ACLs from here only

PriceClass = Literal["100", "200", "All"]
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
LogRetentionDays = Literal[LOG_RETENTION_DAYS]
# gp3 takes at most 0.25 MiB/s per IOPS, and has 3000 IOPS without volume_iops; aws-cdk-lib checks
# the ratio for an explicit volume_iops only.
# https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-performance
GP3_BASELINE_IOPS, GP3_MIBPS_PER_IOPS = 3000, 0.25
# Tags: at most 50 per resource; keys 1-128 and values 0-256 Unicode characters of letters, numbers,
# spaces and + - = . _ : / @, counted as the services (Java) count them, in UTF-16 units: a letter
# outside the Basic Multilingual Plane counts twice; the aws: prefix is AWS's.
# https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html
MAX_TAGS, TAG_KEY_UNITS, TAG_VALUE_UNITS = 50, (1, 128), 256
# Keys the app sets: project and environment on everything, site-snapshots on the volume (it selects
# the volume for snapshots), Name (aws-cdk-lib names the VPC, subnets, instance). A user's would win.
APP_TAG_KEYS = ("project", "environment", "site-snapshots", "Name")
# The most tags the app and aws-cdk-lib put on one resource: a subnet carries project, environment,
# Name, aws-cdk:subnet-name and aws-cdk:subnet-type (tests/unit proves the bound).
MOST_NON_USER_TAGS = 5
MAX_USER_TAGS = MAX_TAGS - MOST_NON_USER_TAGS
# S3 keys are at most 1024 bytes of UTF-8: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
MAX_KEY_BYTES = 1024
# The upload gives the image the Content-Type of its extension (Python's mimetypes, as `aws s3 sync`
# does), so the extension must be the data's. Keys: Pillow's format names.
IMAGE_EXTENSIONS = {"JPEG": ".jpg or .jpeg", "PNG": ".png", "GIF": ".gif"}

# Every pattern is ASCII only: \d and \w would also take Arabic-Indic digits, Katakana and more.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _arn(service: str, resource: str) -> re.Pattern[str]:
    """An ARN of ``service`` in CloudFront's Region, in that Region's partition.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html"""
    partition = region_info.RegionInfo.get(CLOUDFRONT_REGION).partition
    return re.compile(rf"\Aarn:{partition}:{service}:{CLOUDFRONT_REGION}:[0-9]{{12}}:{resource}\Z", re.ASCII)


# https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateSummary.html (the id is a UUID)
CERTIFICATE_ARN = _arn("acm", f"certificate/{_UUID}")
# A web ACL's name is 1-128 of A-Z a-z 0-9 _ -: https://docs.aws.amazon.com/waf/latest/APIReference/API_WebACL.html
WEB_ACL_ARN = _arn("wafv2", f"global/webacl/[A-Za-z0-9_-]{{1,128}}/{_UUID}")
# Labels of 1-63 letters, digits and inner hyphens, at most 253 characters, ending in a top-level
# domain of letters or its punycode form (xn--...).
_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})", re.ASCII
)
_WHOLE_NUMBER = re.compile(r"\+?[0-9]{1,18}", re.ASCII)  # few enough digits for int()
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}", re.ASCII)


class Refusal(ValueError):
    """What setting ``name`` allows, where pydantic's error would name no setting or another one."""

    def __init__(self, name: str, allowed: str) -> None:
        super().__init__(allowed)
        self.name = name


def whole_number(value: Any) -> Any:
    """An int from ASCII digits (int() also takes Arabic-Indic and full-width ones) or from JSON."""
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value  # None: pydantic refuses it unless the setting is optional
    raise PydanticCustomError("whole_number", "must be a whole number")  # worded from the field's bounds


def cache_seconds(value: Any) -> Any:
    if str(value) == "0":
        raise ValueError(
            "must be from 1: pages are compressed at the edge, and a cache policy whose TTLs are all 0 "
            "cannot compress (every change invalidates the cache anyway)"
        )
    return whole_number(value)


def price_class(value: Any) -> Any:
    """CloudFront's own spelling (PriceClass_All) in any case is taken too."""
    plain = str(value).lower().removeprefix("priceclass_")
    return next((name for name in get_args(PriceClass) if name.lower() == plain), value)


def instance_type(text: str) -> str:
    text = text.lower() if text.isascii() else text  # str.lower() maps the Kelvin sign to k, and more
    if refusal := instance_types.refusal(text):
        raise ValueError(refusal)
    return text


def country_codes(value: Any) -> tuple[str, ...]:
    """Comma-separated ISO 3166-1 alpha-2 codes (or a JSON list), upper-cased, duplicates dropped."""
    import pycountry  # here and below: imported only when the setting is given, for synth's speed

    codes = [
        str(code).strip() for code in (value if isinstance(value, list) else str(value or "").split(","))
    ]
    for code in filter(None, codes):
        # Upper-cased only when two ASCII letters: str.upper() turns the ligature "ﬁ" into FI.
        if not _COUNTRY_CODE.fullmatch(code):
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (two letters A-Z)")
        if code.upper() == "UK":
            raise ValueError("'UK' is not an ISO 3166-1 code: the United Kingdom is GB")
        if pycountry.countries.get(alpha_2=code.upper()) is None:
            raise ValueError(
                f"{code.upper()!r} is not an ISO 3166-1 alpha-2 country code (comma-separated, e.g. US,CA)"
            )
    return tuple(dict.fromkeys(code.upper() for code in codes if code))


def domain_name(text: str) -> str:
    """The lower-case ASCII form CloudFront takes: a trailing dot dropped, UTS 46 mapping, then
    punycode (IDNA 2008), as browsers do; punycode labels are checked to decode."""
    import idna

    allowed = "must be a DNS name such as www.example.com"
    try:
        text = idna.encode(text.removesuffix("."), uts46=True).decode("ascii")
    except UnicodeError as error:  # idna.IDNAError is one
        raise ValueError(f"{allowed} ({error})") from None
    if not _DNS_NAME.fullmatch(text):
        raise ValueError(f"{allowed}: two or more labels, ending in a top-level domain of letters")
    return text


def email(text: str) -> str:
    """An address a mailbox can have (RFC 5321/5322 by email-validator, local part at most 64);
    its domain lower-cased and in its xn-- form."""
    from email_validator import EmailNotValidError, validate_email

    allowed = "must be an e-mail address such as ops@example.com"
    try:
        address = validate_email(text, check_deliverability=False, strict=True)
    except EmailNotValidError as error:
        raise ValueError(f"{allowed} ({error})") from None
    if not _DNS_NAME.fullmatch(address.ascii_domain):
        raise ValueError(f"{allowed}: its domain must end in a top-level domain of letters")
    return address.ascii_email or address.normalized


def _special_kind(mode: int) -> str | None:
    """What a file of ``mode`` is, unless it is a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket",
             stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}  # fmt: skip
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def _open_regular(path: Path) -> Any:
    """``path`` opened for reading, or IsADirectoryError naming what it is. It is checked before
    it is opened, opened without blocking (a named pipe put there in between would otherwise wait
    for a writer for ever), then checked again."""
    if kind := _special_kind(path.stat().st_mode):
        raise IsADirectoryError(kind)
    file = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb")
    if kind := _special_kind(os.fstat(file.fileno()).st_mode):
        file.close()
        raise IsADirectoryError(kind)
    return file


def image_file(value: Any) -> Path:
    """A JPEG, PNG or GIF with a width and height, named for the S3 key and with its data's extension."""
    from PIL import Image

    if value is None or value == "":
        return DEFAULT_IMAGE
    path = PROJECT_ROOT / str(value)  # an absolute path stays as it is
    try:
        file = _open_regular(path)
    except IsADirectoryError as kind:  # also raised above for pipes, sockets and devices
        raise ValueError(f"must be a regular file (JPEG, PNG or GIF), not {kind}") from None
    except (OSError, ValueError):  # missing, unreadable, or not a valid path
        raise ValueError("must be an existing image file (JPEG, PNG or GIF)") from None
    with file:
        try:  # Pillow reads the header only: format and size
            with Image.open(file, formats=tuple(IMAGE_EXTENSIONS)) as image:
                kind, (width, height) = image.format, image.size
        except Image.DecompressionBombError as error:
            raise ValueError(str(error)) from None
        except Exception:  # Pillow's plugins raise OSError, SyntaxError, ValueError and more
            kind, width, height = None, 0, 0
    # S3 keys may hold any UTF-8; control and format characters (and bytes that are not UTF-8)
    # are refused: they would be invisible or break a line in logs and listings.
    if any(unicodedata.category(c)[0] == "C" for c in path.name):
        raise ValueError("the file name may not contain control, format or non-UTF-8 characters")
    if len((IMAGE_KEY_PREFIX + path.name).encode()) > MAX_KEY_BYTES:
        raise ValueError(
            f"the file name must fit an S3 key ({MAX_KEY_BYTES} bytes with '{IMAGE_KEY_PREFIX}')"
        )
    if kind is None or width <= 0 or height <= 0:
        raise ValueError("must be a JPEG, PNG or GIF image with a width and height (header read by Pillow)")
    if mimetypes.MimeTypes().guess_type(path.name)[0] != Image.MIME[kind]:
        raise ValueError(
            f"the file holds {kind} data but its name does not end in {IMAGE_EXTENSIONS[kind]}: "
            "browsers get the Content-Type of the extension"
        )
    return path


class _JsonObject(list):
    """The (key, value) pairs of a JSON object, in order, duplicates kept."""


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def tags(value: Any) -> dict[str, str]:
    """A JSON object of strings (text or, from cdk.context.json, an object) within AWS's tag rules."""
    shape = 'must be a JSON object of strings, e.g. {"team":"web"}'
    try:
        pairs = json.loads(value or "{}", object_pairs_hook=_JsonObject) if isinstance(value, str) else value
    except (ValueError, RecursionError):
        raise ValueError(shape) from None
    pairs = _JsonObject(pairs.items()) if isinstance(pairs, Mapping) else pairs
    if not isinstance(pairs, _JsonObject) or not all(
        isinstance(text, str) for pair in pairs for text in pair
    ):
        raise ValueError(shape)
    seen: dict[str, str] = {}  # lower-case key -> the key as given
    for key, text in pairs:
        if seen.get(key.lower()) == key:
            raise ValueError(f"tag key {key!r} is given twice (JSON would keep only the last value)")
        if key.lower() in seen:  # IAM refuses two keys that differ only in case on one role
            raise ValueError(f"tag keys {seen[key.lower()]!r} and {key!r} differ only in letter case")
        seen[key.lower()] = key
        if key.lower() in {name.lower() for name in APP_TAG_KEYS}:
            raise ValueError(f"tag key {key!r} is set by the app ({', '.join(APP_TAG_KEYS)})")
        if key.lower().startswith(("aws:", "aws-cdk:")):
            raise ValueError(f"tag key {key!r}: the aws: and aws-cdk: prefixes are reserved")
        if not all(unicodedata.category(c)[0] in "LNZ" or c in "+-=._:/@" for c in key + text):
            raise ValueError("tags may hold letters, digits, spaces and + - = . _ : / @ only")
        (low, high), units = TAG_KEY_UNITS, _utf16_units(key)
        if not (low <= units <= high and _utf16_units(text) <= TAG_VALUE_UNITS):
            raise ValueError(
                f"tag keys must be {low}-{high} characters, values at most {TAG_VALUE_UNITS} "
                "(counted in UTF-16 units, as AWS does: some letters count twice)"
            )
    if len(pairs) > MAX_USER_TAGS:
        raise ValueError(
            f"at most {MAX_USER_TAGS} tags: AWS allows {MAX_TAGS} per resource, and the app and "
            f"aws-cdk-lib set up to {MOST_NON_USER_TAGS} on some of them"
        )
    return dict(pairs)


def volume_refusal(spec: VolumeSpec) -> Refusal | None:
    """aws-cdk-lib's own check of the volume's props (sizes per type, IOPS ranges and ratio, which
    types take IOPS or a throughput, throughput range and ratio), run on a throwaway stack, with
    its message given to the setting it is about; then the app's rule it leaves out."""
    try:
        ec2.Volume(Stack(), "Volume", availability_zone="us-east-1a", size=Size.gibibytes(spec.size_gib),
                   volume_type=ec2.EbsDeviceVolumeType[spec.volume_type.upper()], iops=spec.iops,
                   throughput=spec.throughput_mibps)  # fmt: skip
    except RuntimeError as error:  # jsii's form of aws-cdk-lib's ValidationError
        line = str(error).splitlines()[0].rstrip(".")
        if "throughput" in line.lower():
            return Refusal("volume_throughput_mibps", line)
        if "iops" not in line:
            return Refusal("volume_size_gib", line)
        # Without volume_iops, gp3 has its baseline at any size; aws-cdk-lib holds an explicit value
        # to the ratio even below 6 GiB.
        unset = (
            f", or leave volume_iops unset for the {GP3_BASELINE_IOPS} IOPS baseline"
            if "ratio" in line
            else ""
        )
        context = f" (volume_type {spec.volume_type}, volume_size_gib {spec.size_gib})"
        return Refusal("volume_iops", line + context + (unset if spec.volume_type == "gp3" else ""))
    most = int(GP3_BASELINE_IOPS * GP3_MIBPS_PER_IOPS)
    if spec.volume_type == "gp3" and spec.iops is None and (spec.throughput_mibps or 0) > most:
        return Refusal(
            "volume_throughput_mibps",
            f"gp3 takes at most {most} MiB/s with its {GP3_BASELINE_IOPS} IOPS baseline "
            f"({GP3_MIBPS_PER_IOPS} MiB/s per IOPS): set volume_iops for more",
        )
    return None
