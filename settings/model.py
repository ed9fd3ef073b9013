"""The app's settings: one frozen pydantic model, read from CDK context and validated once.

Settings come from ``-c name=value`` and from cdk.context.json (the CDK CLI reads both; the command
line wins). Each setting is one field of SiteSettings: its type, default, one line of help and what
it allows beyond its type; docs/settings.md's table is rendered from them (python -m settings.docs).
A bad value stops synth with one line naming the setting, the value as given and what is allowed.
"""

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from settings import instance_types, rules
from web_server.document_root import VolumeSpec

PROJECT_ROOT = rules.PROJECT_ROOT
IMAGE_KEY_PREFIX = rules.IMAGE_KEY_PREFIX  # the image's place in the bucket and under its domain
PROJECT_TAG = "ebs-cloudfront-site"
# Context keys the CDK owns: feature flags (@...), the CLI's switches (aws:cdk:..., aws-cdk:...),
# cached lookups ("<provider>:account=..."), and what `cdk acknowledge`, `cdk cli-telemetry` and
# `cdk migrate` record. Any other key, with a colon or not, is a setting: alarm:email is refused.
_CDK_CONTEXT_PREFIXES = ("@", "aws:cdk:", "aws-cdk:")
_CDK_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry", "cdk-migrate"})
# The context providers of the cloud assembly schema (its ContextProvider enum), whose names start
# the keys of cached lookups; tests/unit checks them against the pinned CDK CLI.
CDK_LOOKUP_PROVIDERS = frozenset(
    """
    ami availability-zones hosted-zone ssm vpc-provider endpoint-service-availability-zones
    load-balancer load-balancer-listener security-group key-provider cc-api-provider plugin
    """.split()
)
_SHOWN_VALUE_CHARS = 120  # a longer value is cut in the message, which stays one readable line


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message is one line for the user."""


def setting(default: Any, doc: str, allowed: str = "", **constraints: Any) -> Any:
    """One setting's default, one line of help, what it allows beyond what its type says (for the
    docs, and the message where a declared constraint such as a pattern refuses a value), and
    pydantic's constraints (ge, le, pattern, ...)."""
    return Field(default, description=doc, json_schema_extra={"allowed": allowed}, **constraints)


WholeNumber = Annotated[int, BeforeValidator(rules.whole_number)]
OptionalWholeNumber = Annotated[int | None, BeforeValidator(rules.whole_number)]


class SiteSettings(BaseModel):
    """Everything a deployment can change, one field a setting. Build it with :meth:`from_context`."""

    model_config = {"frozen": True, "extra": "forbid", "coerce_numbers_to_str": True}

    environment: Literal["dev", "prod"] = setting(
        "dev", "stack names carry it, so both live side by side in one account; prod keeps data by default"
    )
    instance_type: Annotated[str, AfterValidator(rules.instance_type)] = setting(
        "t4g.micro",
        "the web server; a change stops and starts it, a change of CPU architecture replaces it",
        "a real EC2 type (`settings/instance_types.txt`), any case; not A1, Mac, t1, m1, m2 or c1, "
        "which AL2023 cannot run on",
    )
    detailed_monitoring: bool = setting(
        False,
        "one-minute CPU and network metrics (USD 0.30 a metric a month); applies in place",
        "`true`/`false`, also `yes`/`no`, `on`/`off`, `1`/`0`, any case",
    )
    server_generation: WholeNumber = setting(
        1,
        "raising it replaces the instance on purpose, on the AMI AWS publishes at that moment",
        ge=1,
        le=1_000_000,
    )
    volume_size_gib: WholeNumber = setting(
        5,
        "the document-root volume's size; a larger size grows the filesystem online",
        "GiB, the volume type's range: gp2 1-16384, gp3 1-65536, io1 4-16384, io2 4-65536",
    )
    volume_type: Literal["gp3", "gp2", "io1", "io2"] = setting("gp3", "the document-root volume's EBS type")
    volume_iops: OptionalWholeNumber = setting(
        None,
        "provisioned IOPS; unset, gp3 has its 3000 IOPS baseline",
        "gp3 3000-80000 and 500 per GiB, io1 100-64000 and 50 per GiB, io2 100-256000 and 500 per GiB; "
        "required for io1 and io2",
        ge=1,
    )
    volume_throughput_mibps: OptionalWholeNumber = setting(
        None,
        "gp3's throughput in MiB/s; unset, its 125 MiB/s baseline",
        "gp3 only: 125-2000, at most 0.25 per IOPS (of the 3000 baseline when volume_iops is unset)",
        ge=1,
    )
    price_class: Annotated[rules.PriceClass, BeforeValidator(rules.price_class)] = setting(
        "100",
        "which CloudFront edge locations serve the site",
        "also CloudFront's `PriceClass_100`, `PriceClass_200`, `PriceClass_All`, any case",
    )
    # CloudFront's largest TTL is a year: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
    page_cache_seconds: Annotated[int, BeforeValidator(rules.cache_seconds)] = setting(
        86400,
        "how long an edge keeps a page when no invalidation comes; the server invalidates what it changes",
        "not 0: a cache policy whose TTLs are all 0 cannot compress",
        ge=1,
        le=31_536_000,
    )
    # Data Lifecycle Manager's RetainRule.Count: https://docs.aws.amazon.com/dlm/latest/APIReference/API_RetainRule.html
    snapshot_retention_days: WholeNumber = setting(
        7, "how many daily snapshots of the volume are kept", ge=1, le=1000
    )
    log_retention_days: Annotated[rules.LogRetentionDays, BeforeValidator(rules.whole_number)] = setting(
        90, "how long CloudWatch Logs keeps the access logs, flow logs and run output"
    )
    volume_removal_policy: Literal["snapshot", "retain"] | None = setting(
        None, "what deleting the stack does to the volume; unset, `snapshot` in dev, `retain` in prod"
    )
    bucket_removal_policy: Literal["destroy", "retain"] | None = setting(
        None, "what deleting the stack does to the buckets; unset, `destroy` in dev, `retain` in prod"
    )
    domain_name: Annotated[str, AfterValidator(rules.domain_name)] | None = setting(
        None,
        "the site's own name; needs certificate_arn",
        "a DNS name of two or more labels, Unicode or `xn--`; capitals and a trailing dot are dropped",
    )
    certificate_arn: str | None = setting(
        None,
        "the ACM certificate for domain_name; needs domain_name",
        "an ARN `arn:aws:acm:us-east-1:<12-digit account id>:certificate/<UUID>` (CloudFront's Region)",
        pattern=rules.CERTIFICATE_ARN,
    )
    image_file: Annotated[Path, BeforeValidator(rules.image_file)] = setting(
        rules.DEFAULT_IMAGE,
        "the image the page shows; a relative path is from the project directory",
        "a regular file holding a JPEG, PNG or GIF, named with its data's extension",
    )
    alarm_email: Annotated[str, AfterValidator(rules.email)] | None = setting(
        None, "alarms notify it through an encrypted SNS topic", "an address a mailbox can have"
    )
    waf_web_acl_arn: str | None = setting(
        None,
        "a web ACL of scope CLOUDFRONT in front of both distributions",
        "an ARN `arn:aws:wafv2:us-east-1:<12-digit account id>:global/webacl/<name>/<UUID>`",
        pattern=rules.WEB_ACL_ARN,
    )
    geo_allowlist: Annotated[tuple[str, ...], BeforeValidator(rules.country_codes)] = setting(
        (),
        "the only countries CloudFront serves; unset, all",
        "comma-separated ISO 3166-1 alpha-2 codes, e.g. `US,CA`; the United Kingdom is `GB`",
    )
    tags: Annotated[dict[str, str], BeforeValidator(rules.tags)] = setting(
        {}, "tags on every resource; a change never replaces the instance", "a JSON object of strings"
    )

    @model_validator(mode="after")
    def _combinations(self) -> "SiteSettings":
        if self.domain_name and not self.certificate_arn:
            needed = f"an ACM certificate in {rules.CLOUDFRONT_REGION}"
            raise rules.Refusal(
                "certificate_arn", f"required with domain_name {self.domain_name!r}: {needed}"
            )
        if self.certificate_arn and not self.domain_name:
            raise rules.Refusal("domain_name", "required with certificate_arn")
        if refusal := rules.volume_refusal(self.volume):
            raise refusal
        return self

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
    def is_graviton(self) -> bool:
        """Arm64 instance types (Graviton, and Grace) need the arm64 AMI."""
        return instance_types.is_arm64(self.instance_type)

    @property
    def image_key(self) -> str:
        """The image's S3 object key (UTF-8, as the file is named)."""
        return f"{IMAGE_KEY_PREFIX}{self.image_file.name}"

    @property
    def image_url_path(self) -> str:
        """The key percent-encoded except RFC 3986's unreserved characters and /: it holds only
        A-Z a-z 0-9 - . _ ~ / and %XX, so it cannot break a URL, an HTML attribute, a shell word
        or a quoted string in the user data."""
        return quote(self.image_key, safe="/")

    @property
    def all_tags(self) -> dict[str, str]:
        return {"project": PROJECT_TAG, "environment": self.environment, **self.tags}

    def stack_name(self, part: str) -> str:
        return f"Site{part}-{self.environment}"

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, cdk_json: Path | None = None) -> "SiteSettings":
        """Settings from CDK context; SettingsError for the first bad value.

        ``cdk_json`` is the project's cdk.json, whose context block may hold no setting: the CDK
        CLI puts it above cdk.context.json, so it would win without a word, and cdk.json is tracked.
        """
        given = {name: value for name, value in context.items() if not is_cdk_context_key(name)}
        for name in given:
            if name not in cls.model_fields:
                hint = difflib.get_close_matches(name, cls.model_fields, n=1)
                allowed = f"did you mean '{hint[0]}'?" if hint else "not a known setting."
                known = ", ".join(cls.model_fields)
                raise SettingsError(f"unknown setting {_shown(name)}: {allowed} Known settings: {known}")
        if misplaced := settings_in_cdk_json(cdk_json) if cdk_json else []:
            raise SettingsError(
                f"setting '{misplaced[0]}' is in cdk.json, whose context the CDK CLI puts above "
                f"cdk.context.json's: move it to cdk.context.json, or give it as -c {misplaced[0]}=..."
            )
        values: dict[str, Any] = {}
        for name, value in given.items():
            value = value.strip() if isinstance(value, str) else value  # spaces around it are dropped
            if value != "" or cls.model_fields[name].default is not None:  # blank: an optional one is unset
                values[name] = value
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise _one_line(cls, error, {name: given[name] for name in values}) from None


SETTING_NAMES = tuple(SiteSettings.model_fields)


def is_cdk_context_key(name: str) -> bool:
    """Whether a context key belongs to the CDK (flags, CLI switches, lookups), not the app."""
    lookup = ":" in name and name.partition(":")[0] in CDK_LOOKUP_PROVIDERS
    return name in _CDK_CONTEXT_KEYS or name.startswith(_CDK_CONTEXT_PREFIXES) or lookup


def settings_in_cdk_json(path: Path) -> list[str]:
    """The keys of ``path``'s context block that are not the CDK's own (an unreadable file: none,
    as the CDK CLI reports that itself)."""
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context")
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in context if not is_cdk_context_key(name)] if isinstance(context, dict) else []


# ---- what a setting allows, read from its declaration ----
def choices(field: FieldInfo) -> tuple[Any, ...]:
    """The values a Literal setting takes (none for other settings)."""
    kinds = (field.annotation, *get_args(field.annotation))
    return next((get_args(kind) for kind in kinds if get_origin(kind) is Literal), ())


def bound(field: FieldInfo, kind: str) -> int | None:
    """A number setting's least ("ge") or greatest ("le") value, if it has one."""
    return next((getattr(item, kind) for item in field.metadata if hasattr(item, kind)), None)


def _rule(field: FieldInfo, value: Any) -> str:
    """The words for a value that pydantic's own checks refused: from the type and constraints."""
    if choices(field):
        return f"allowed values are {', '.join(map(str, choices(field)))}"
    if field.annotation is bool:
        return "must be true or false (also yes/no, on/off, 1/0)"
    if int in (field.annotation, *get_args(field.annotation)):
        low, high = bound(field, "ge"), bound(field, "le")
        span = f" from {low} to {high}" if high else f" of at least {low}" if low else ""
        return f"must be a whole number{span}" + ("" if str(value).isascii() else " in ASCII digits")
    return f"must be {field.json_schema_extra['allowed']}".replace("`", "")  # the docs' code marks


def _escaped(text: str) -> str:
    """``text`` with every character that does not print written as its escape: one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _shown(value: Any) -> str:
    """The value as it was given: a string quoted, anything else (from JSON) as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    cut = text[: _SHOWN_VALUE_CHARS - 20] if len(text) > _SHOWN_VALUE_CHARS else text
    shown = repr(cut) if isinstance(value, str) else _escaped(cut)
    return shown if cut is text else f"{shown}... ({len(text)} characters)"


def _one_line(cls: type[SiteSettings], error: ValidationError, given: Mapping[str, Any]) -> SettingsError:
    """pydantic's first error as one line: the setting, the value as given, what is allowed."""
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")  # the ValueError a validator raised
    name = cause.name if isinstance(cause, rules.Refusal) else str(first["loc"][0])
    allowed = _escaped(str(cause) if cause else _rule(cls.model_fields[name], given.get(name)))
    if name not in given:
        return SettingsError(f"setting '{name}' is not set: {allowed}")
    return SettingsError(f"setting '{name}' = {_shown(given[name])}: {allowed}")
