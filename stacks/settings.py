"""The app's settings: one frozen object, read from CDK context and validated here only.

Settings come from the ``context`` block of cdk.json and from ``-c name=value`` on the
command line (which wins). Every rule lives in this module so that a bad value stops
synth with one line naming the setting, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import aws_ec2 as ec2

from stacks.instance_types import INSTANCE_FAMILIES, INSTANCE_SIZES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_TAG = "ebs-cloudfront-site"

ENVIRONMENTS = ("dev", "prod")
VOLUME_TYPES = ("gp3", "gp2", "io1", "io2")
PRICE_CLASSES = ("100", "200", "All")
VOLUME_REMOVAL_POLICIES = ("snapshot", "retain")
BUCKET_REMOVAL_POLICIES = ("destroy", "retain")
# Where the image lives in the bucket and under the image distribution's domain.
IMAGE_KEY_PREFIX = "images/"

# Context keys owned by the CDK itself, never app settings: feature flags (@...), CLI
# switches and cached lookups (they contain a colon), and what `cdk acknowledge` records.
_CDK_CONTEXT_PREFIXES = ("@", "aws:", "aws-cdk:", "cdk:", "cdk-")
_CDK_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers"})

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_WAF_ARN = re.compile(r"^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/[\w-]+/[0-9a-f-]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# File signatures of the image formats every browser shows.
_IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message is one line for the user."""


def _fail(name: str, value: Any, allowed: str) -> SettingsError:
    return SettingsError(f"setting '{name}' = {value!r}: {allowed}")


def _whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    text = str(value).strip()
    bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
    if isinstance(value, bool) or not re.fullmatch(r"[+]?\d+", text):
        raise _fail(name, value, f"must be a whole number {bound}")
    number = int(text)
    if number < low or (high is not None and number > high):
        raise _fail(name, value, f"must be a whole number {bound}")
    return number


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        raise _fail(name, value, f"allowed values are {', '.join(allowed)}")
    return text


def _boolean(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if isinstance(value, bool):
        return value
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise _fail(name, value, "must be true or false")


def _optional_text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _instance_type(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    family, _, size = text.partition(".")
    if family not in INSTANCE_FAMILIES or size not in INSTANCE_SIZES:
        raise _fail(
            name,
            value,
            "must be an EC2 instance type such as t4g.micro or t3.small "
            "(family.size, a family and size known to aws-cdk-lib)",
        )
    return text


def _image_file(name: str, value: Any) -> Path:
    path = Path(str(value))
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    if not path.is_file():
        raise _fail(name, value, "must be an existing image file (JPEG, PNG or GIF)")
    head = path.read_bytes()[:16]
    if not any(head.startswith(sig) for sig in _IMAGE_SIGNATURES):
        raise _fail(name, value, "must be a JPEG, PNG or GIF image (file content checked)")
    return path


def _tags(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise _fail(name, value, 'must be a JSON object of strings, e.g. {"team":"web"}') from None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail(name, value, 'must be a JSON object of strings, e.g. {"team":"web"}')
    for key, tag_value in value.items():
        if not 1 <= len(key) <= 128 or len(tag_value) > 256 or key.lower().startswith("aws:"):
            raise _fail(
                name,
                value,
                "tag keys must be 1-128 characters and not start with 'aws:', values at most 256",
            )
    return dict(value)


def _country_codes(name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    codes = tuple(str(item).strip().upper() for item in items if str(item).strip())
    bad = [code for code in codes if not _COUNTRY.match(code)]
    if bad:
        raise _fail(name, value, "must be comma-separated ISO 3166-1 alpha-2 codes, e.g. US,CA")
    return codes


@dataclass(frozen=True, kw_only=True)
class SiteSettings:
    """Everything a deployment can change. Build it with :meth:`from_context`."""

    environment: str = "dev"
    instance_type: str = "t4g.micro"
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
    image_file: Path = PROJECT_ROOT / "assets" / "images" / "site-image.jpg"
    alarm_email: str | None = None
    waf_web_acl_arn: str | None = None
    geo_allowlist: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    detailed_monitoring: bool = False
    server_generation: int = 1
    origin_token_generation: int = 1

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
        """Arm64 instance types (Graviton, and the older a1) need the arm64 AMI."""
        return ec2.InstanceType(self.instance_type).architecture == ec2.InstanceArchitecture.ARM_64

    @property
    def instance_supports_recovery(self) -> bool:
        return True

    @property
    def image_key(self) -> str:
        return f"{IMAGE_KEY_PREFIX}{self.image_file.name}"

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
        if self.volume_type not in ("gp3", "io1", "io2") and self.volume_iops is not None:
            raise _fail("volume_iops", self.volume_iops, "only gp3, io1 and io2 volumes take IOPS")
        if self.volume_type in ("io1", "io2") and self.volume_iops is None:
            raise _fail("volume_iops", None, f"required for {self.volume_type} (100-64000)")
        if self.volume_type != "gp3" and self.volume_throughput_mibps is not None:
            raise _fail(
                "volume_throughput_mibps",
                self.volume_throughput_mibps,
                "only gp3 volumes take a throughput",
            )
        if self.volume_type == "gp3" and self.volume_iops is not None:
            if not 3000 <= self.volume_iops <= 80000:
                raise _fail("volume_iops", self.volume_iops, "gp3 takes 3000 to 80000 IOPS")
            if self.volume_iops > max(3000, 500 * self.volume_size_gib):
                raise _fail(
                    "volume_iops",
                    self.volume_iops,
                    f"gp3 allows at most 500 IOPS per GiB ({500 * self.volume_size_gib} "
                    f"for {self.volume_size_gib} GiB)",
                )
        if self.volume_type in ("io1", "io2") and self.volume_iops is not None:
            ratio = 50 if self.volume_type == "io1" else 1000
            if not 100 <= self.volume_iops <= min(64000, ratio * self.volume_size_gib):
                raise _fail(
                    "volume_iops",
                    self.volume_iops,
                    f"{self.volume_type} takes 100 to {min(64000, ratio * self.volume_size_gib)} "
                    f"IOPS for {self.volume_size_gib} GiB ({ratio} per GiB)",
                )
        if self.volume_throughput_mibps is not None:
            ceiling = min(2000, (self.volume_iops or 3000) // 4)
            if not 125 <= self.volume_throughput_mibps <= ceiling:
                raise _fail(
                    "volume_throughput_mibps",
                    self.volume_throughput_mibps,
                    f"gp3 takes 125 to {ceiling} MiB/s with {self.volume_iops or 3000} IOPS "
                    "(at most 0.25 MiB/s per IOPS, 2000 in all)",
                )
        if self.domain_name and not self.certificate_arn:
            raise _fail(
                "certificate_arn",
                None,
                f"required with domain_name {self.domain_name!r}: an ACM certificate in us-east-1",
            )
        if self.certificate_arn and not self.domain_name:
            raise _fail("domain_name", None, "required with certificate_arn")


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


# The one table of settings: name -> parser. Order is the order shown to users.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "environment": lambda n, v: _choice(n, v, ENVIRONMENTS),
    "instance_type": _instance_type,
    "volume_size_gib": lambda n, v: _whole_number(n, v, 1, 16384),
    "volume_type": lambda n, v: _choice(n, v, VOLUME_TYPES),
    "volume_iops": _optional_number(100, 256000),
    "volume_throughput_mibps": _optional_number(125, 2000),
    "price_class": lambda n, v: _choice(n, v, PRICE_CLASSES),
    "page_cache_seconds": lambda n, v: _whole_number(n, v, 1, 31536000),
    "snapshot_retention_days": lambda n, v: _whole_number(n, v, 1, 1000),
    "log_retention_days": lambda n, v: _whole_number(n, v, 1, 3650),
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
    "detailed_monitoring": lambda n, v: _boolean(n, v),
    "server_generation": lambda n, v: _whole_number(n, v, 1, 1000000),
    "origin_token_generation": lambda n, v: _whole_number(n, v, 1, 1000000),
}

SETTING_NAMES = tuple(_PARSERS)
