"""The app's settings: one frozen pydantic model read from CDK context, a field a setting (its type, default,
what it allows beyond its type, its help in the docstring under it), and validators for what a type cannot
say, each AWS limit with its source; pycountry, Pillow, idna and email-validator load only when needed."""

import difflib
import functools
import json
import mimetypes
import os
import re
import stat
import unicodedata
from collections.abc import Mapping
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import quote

from aws_cdk import Size, Stack, region_info
from aws_cdk import aws_ec2 as ec2
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from network.zones import NO_VPC_ORIGIN_ZONE_IDS, ZONE_ID_FORM
from settings import instance_types
from web_server.document_root import VolumeSpec
from web_server.infrastructure import ServerSpec
from web_server.instance_values import TEXT_PATTERN

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_KEY_PREFIX, DEFAULT_IMAGE = "images/", PROJECT_ROOT / "content" / "images" / "site-image.jpg"
CLOUDFRONT_REGION = "us-east-1"  # CloudFront takes certificates and web ACLs from here only
PriceClass = Literal["100", "200", "All"]
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
# gp3 has 3000 IOPS without volume_iops and takes at most 0.25 MiB/s per IOPS, which aws-cdk-lib checks
# for an explicit volume_iops only: https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-performance
GP3_BASELINE_IOPS, GP3_MIBPS_PER_IOPS = 3000, 0.25
# At most 50 tags a resource; keys 1-128 and values 0-256 letters, numbers, spaces and + - = . _ : / @,
# in UTF-16 units as the services count them: https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
# (aws: is AWS's prefix) https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html
MAX_TAGS, TAG_KEY_UNITS, TAG_VALUE_UNITS = 50, 128, 256
# Keys the app sets (a user's would win): project, environment, site-snapshots (it selects the volume for
# snapshots), Name (aws-cdk-lib names the VPC, subnets, instance). A subnet carries the most that are not
# the user's: project, environment, Name, aws-cdk:subnet-name, aws-cdk:subnet-type (tests/unit checks).
APP_TAG_KEYS, MOST_NON_USER_TAGS = ("project", "environment", "site-snapshots", "Name"), 5
MAX_USER_TAGS = MAX_TAGS - MOST_NON_USER_TAGS
# S3 keys are at most 1024 bytes of UTF-8: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
MAX_KEY_BYTES = 1024
# The upload function (aws-cdk-lib's BucketDeployment) unpacks the image beside its zip in /tmp, 512 MiB by
# default: https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_s3_deployment-readme.html#size-limits
MAX_IMAGE_MIB = 200
MAX_IMAGE_BYTES = MAX_IMAGE_MIB * 2**20
# The CDK CLI zips the upload with yazl, which turns \ into / and refuses a name that looks absolute (C:).
_ZIP_REWRITTEN = re.compile(r"[A-Za-z]:|.*\\", re.ASCII | re.DOTALL)
# The upload's Content-Type is its extension's (mimetypes, as `aws s3 sync`), so that must be the data's.
IMAGE_EXTENSIONS = {"JPEG": ".jpg or .jpeg", "PNG": ".png", "GIF": ".gif"}
# A file that is not a regular one ("-"), by the first letter of its mode as `ls -l` shows it.
FILE_KINDS = dict(d="a directory", p="a named pipe", s="a socket", c="a character device", b="a block device")
PROJECT_TAG = "ebs-cloudfront-site"
# Context keys the CDK owns: feature flags (@...), the CLI's switches (aws:cdk:..., aws-cdk:...), what `cdk
# acknowledge`, `cdk cli-telemetry` and `cdk migrate` record, and cached lookups, named after the cloud
# assembly schema's ContextProvider enum (tests/unit checks it). Any other key is a setting (alarm:email).
CDK_LOOKUP_PROVIDERS = frozenset("""ami availability-zones hosted-zone ssm vpc-provider load-balancer plugin
    endpoint-service-availability-zones load-balancer-listener security-group key-provider cc-api-provider
    """.split())  # fmt: skip
CDK_CONTEXT_KEYS = ("acknowledged-issue-numbers", "cli-telemetry", "cdk-migrate")
CDK_CONTEXT_PREFIXES = ("@", "aws:cdk:", "aws-cdk:", *(f"{provider}:" for provider in CDK_LOOKUP_PROVIDERS))
DOC = PROJECT_ROOT / "docs" / "settings.md"  # its table of settings is rendered between these lines:
DOC_BEGIN = "<!-- rendered from settings/model.py by .venv/bin/python -m settings.model -->\n"
DOC_END = "<!-- end of the rendered table -->\n"
# Every pattern is ASCII only: \d and \w would also take Arabic-Indic digits, Katakana and more.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# An ARN in CloudFront's Region and its partition: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
_ARN = rf"\Aarn:{region_info.RegionInfo.get(CLOUDFRONT_REGION).partition}:"
_IN_REGION = rf":{CLOUDFRONT_REGION}:[0-9]{{12}}:"  # and a 12-digit account id
# https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateSummary.html (the id is a UUID)
CERTIFICATE_ARN = re.compile(rf"{_ARN}acm{_IN_REGION}certificate/{_UUID}\Z", re.ASCII)
# A web ACL's name is 1-128 of A-Z a-z 0-9 _ -: https://docs.aws.amazon.com/waf/latest/APIReference/API_WebACL.html
WEB_ACL_ARN = re.compile(rf"{_ARN}wafv2{_IN_REGION}global/webacl/[A-Za-z0-9_-]{{1,128}}/{_UUID}\Z", re.ASCII)
# Labels of 1-63 letters, digits, inner hyphens; at most 253 characters; the top-level domain letters or xn--
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}\Z)({_LABEL}\.)+([a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})", re.ASCII)
_WHOLE_NUMBER = re.compile(r"(\+?[0-9]{1,18})(\.0*)?", re.ASCII)  # few enough digits for int(); 10.0 is 10
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}", re.ASCII)


class Refusal(ValueError):
    """``Refusal(setting, allowed)``, from a check of several settings, whose error pydantic names none."""


def whole_number(value: Any) -> Any:
    """An int from ASCII digits (int() also takes Arabic-Indic and full-width ones) or from JSON."""
    if isinstance(value, str) and (digits := _WHOLE_NUMBER.fullmatch(value)):
        return int(digits[1])
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("whole_number", "must be a whole number")  # worded from the declaration


def normalised_price_class(value: Any) -> Any:
    plain = str(value).lower().removeprefix("priceclass_")
    return next((name for name in get_args(PriceClass) if name.lower() == plain), value)


def country_codes(value: Any) -> tuple[str, ...]:
    import pycountry

    codes = [str(c).strip() for c in (value if isinstance(value, list) else str(value or "").split(","))]
    for code in filter(None, codes):
        if code.upper() == "UK":
            raise ValueError("'UK' is not an ISO 3166-1 code: the United Kingdom is GB")
        # Two ASCII letters before upper-casing: str.upper() turns the ligature "ﬁ" into FI.
        if not _COUNTRY_CODE.fullmatch(code) or pycountry.countries.get(alpha_2=code.upper()) is None:
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. US,CA)")
    return tuple(dict.fromkeys(code.upper() for code in codes if code))


def zone_id(text: str) -> str:
    text = text.lower()
    if not re.fullmatch(ZONE_ID_FORM, text, re.ASCII):
        raise ValueError(
            "must be an Availability Zone ID such as use1-az1, not a zone name "
            "(aws ec2 describe-availability-zones shows both)"
        )
    if text in NO_VPC_ORIGIN_ZONE_IDS:
        others = ", ".join(zone for zone in NO_VPC_ORIGIN_ZONE_IDS if zone != text)
        raise ValueError(f"CloudFront cannot place VPC origins in {text} (nor in {others})")
    return text


def dns_name(text: str) -> str:
    """The lower-case ASCII form CloudFront takes: UTS 46 mapping, then IDNA 2008, as browsers do."""
    import idna

    try:
        text = idna.encode(text.removesuffix("."), uts46=True).decode("ascii")
    except UnicodeError as error:  # idna.IDNAError is one
        raise ValueError(
            f"must be a DNS name such as www.example.com ({_xn_label_error(text) or error})"
        ) from None
    if not _DNS_NAME.fullmatch(text):
        raise ValueError("must be a DNS name such as www.example.com (two or more labels, a TLD of letters)")
    return text


def _xn_label_error(name: str) -> str | None:
    """In words, what is wrong with the first xn-- label of ``name`` that IDNA 2008 refuses; None if none."""
    import idna

    for label in name.lower().split("."):
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return f"its label '{label}' is not Punycode after its xn-- prefix"
            try:
                idna.decode(label)
            except UnicodeError:
                points = " ".join(f"U+{ord(c):04X}" for c in decoded)
                return f"its label '{label}' is Punycode for {decoded!r} ({points}), which IDNA 2008 refuses"
    return None


def mailbox(text: str) -> str:
    """An address a mailbox can have (email-validator), its domain lower-cased and in its xn-- form."""
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(text, check_deliverability=False, strict=True)
    except EmailNotValidError as error:
        raise ValueError(f"must be an e-mail address such as ops@example.com ({error})") from None
    if not _DNS_NAME.fullmatch(address.ascii_domain):
        raise ValueError("must be an e-mail address such as ops@example.com (its TLD of letters)")
    return address.ascii_email or address.normalized


def image_path(value: Any) -> Path:
    """A JPEG, PNG or GIF with a width and height, named for an S3 key and with its data's extension."""
    from PIL import Image

    path = PROJECT_ROOT / str(DEFAULT_IMAGE if value in (None, "") else value)  # absolute paths as they are
    try:  # checked before it is opened (a regular file only), opened without blocking, checked again
        status = path.stat()
        kind, bytes_ = stat.filemode(status.st_mode)[0], status.st_size
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY  # a named pipe put there since would wait for ever
        file = os.fdopen(os.open(path, flags), "rb") if kind == "-" else None
        kind = stat.filemode(os.fstat(file.fileno()).st_mode)[0] if file else kind
    except (OSError, ValueError):  # missing, unreadable, or not a valid path
        raise ValueError("must be an existing image file (JPEG, PNG or GIF)") from None
    with file or nullcontext():
        if kind != "-":
            raise ValueError(
                f"must be a regular file (JPEG, PNG or GIF), not {FILE_KINDS.get(kind, 'a special file')}"
            )
        try:  # Pillow reads the header only: format and size
            with Image.open(file, formats=tuple(IMAGE_EXTENSIONS)) as image:
                data, size = image.format, image.size
        except Image.DecompressionBombError as error:
            raise ValueError(str(error)) from None
        except Exception:  # Pillow's plugins raise OSError, SyntaxError, ValueError and more
            data, size = None, (0, 0)
    # S3 keys take any UTF-8, but control and format characters are invisible or break lines in logs.
    if any(unicodedata.category(c)[0] == "C" for c in path.name):
        raise ValueError("the file name may not contain control, format or non-UTF-8 characters")
    if len((IMAGE_KEY_PREFIX + path.name).encode()) > MAX_KEY_BYTES:
        raise ValueError(f"the name must fit an S3 key ({MAX_KEY_BYTES} bytes with '{IMAGE_KEY_PREFIX}')")
    if _ZIP_REWRITTEN.match(path.name):
        raise ValueError(
            "the file name may not hold a backslash or start with a letter and a colon: the CDK CLI's zip of "
            "the upload turns \\ into / and refuses names that look absolute"
        )
    if bytes_ > MAX_IMAGE_BYTES:
        raise ValueError(
            f"the image has {bytes_:,} bytes, more than the {MAX_IMAGE_MIB} MiB the upload takes: its "
            "function unpacks the image beside its zip in a 512 MiB /tmp"
        )
    if data is None or min(size) <= 0:
        raise ValueError("must be a JPEG, PNG or GIF image with a width and height (header read by Pillow)")
    if not path.suffix and mimetypes.guess_type(f"image{path.name}")[0]:
        raise ValueError(
            f"the file name {path.name!r} is an extension alone, which the upload takes for a hidden file "
            f"without one: name it, e.g. image{path.name}"
        )
    if mimetypes.MimeTypes().guess_type(path.name)[0] != Image.MIME[data]:
        raise ValueError(
            f"the file holds {data} data but its name does not end in {IMAGE_EXTENSIONS[data]}: "
            "browsers get the Content-Type of the extension"
        )
    return path


def tag_map(value: Any) -> dict[str, str]:
    """A JSON object of strings (text or, from cdk.context.json, an object) within AWS's tag rules."""
    try:  # an object as a tuple of its pairs, so that a key given twice is seen
        pairs = json.loads(value or "{}", object_pairs_hook=tuple) if isinstance(value, str) else value
        pairs = tuple(pairs.items()) if isinstance(pairs, Mapping) else pairs
        if not isinstance(pairs, tuple) or not all(isinstance(text, str) for pair in pairs for text in pair):
            raise ValueError
    except (ValueError, RecursionError):
        raise ValueError('must be a JSON object of strings, e.g. {"team":"web"}') from None
    if len(pairs) > MAX_USER_TAGS:
        raise ValueError(
            f"at most {MAX_USER_TAGS} tags: AWS allows {MAX_TAGS} per resource, and the app and "
            f"aws-cdk-lib set up to {MOST_NON_USER_TAGS} on some of them"
        )
    seen: dict[str, str] = {}  # lower-case key -> the key as given
    for key, text in pairs:
        if seen.get(key.lower()) == key:
            raise ValueError(f"tag key {key!r} is given twice (JSON would keep only the last value)")
        if key.lower() in seen:  # IAM refuses two keys that differ only in case on one role
            raise ValueError(f"tag keys {seen[key.lower()]!r} and {key!r} differ only in letter case")
        seen[key.lower()] = key
        if key.lower() in map(str.lower, APP_TAG_KEYS):
            raise ValueError(f"tag key {key!r} is set by the app ({', '.join(APP_TAG_KEYS)})")
        if key.lower().startswith(("aws:", "aws-cdk:")):
            raise ValueError(f"tag key {key!r}: the aws: and aws-cdk: prefixes are reserved")
        if not all(unicodedata.category(c)[0] in "LNZ" or c in "+-=._:/@" for c in key + text):
            raise ValueError("tags may hold letters, digits, spaces and + - = . _ : / @ only")
        if not text:  # CloudFormation's rule for a stack's tags, alarms and SSM documents
            raise ValueError(
                f"tag {key!r} has an empty value: CloudFormation refuses one on stacks and alarms"
            )
        key_units, text_units = (len(s.encode("utf-16-le", "surrogatepass")) // 2 for s in (key, text))
        if not (1 <= key_units <= TAG_KEY_UNITS and text_units <= TAG_VALUE_UNITS):
            raise ValueError(
                f"tag keys must be 1-{TAG_KEY_UNITS} characters, values at most {TAG_VALUE_UNITS} "
                "(counted in UTF-16 units, as AWS does: some letters count twice)"
            )
    return dict(pairs)


@functools.cache
def _dlm_tag_key() -> re.Pattern[str]:
    import botocore.session  # a session loads its service models afresh: once is enough

    return re.compile(
        botocore.session.get_session().get_service_model("dlm").shape_for("TagKey").metadata["pattern"]
    )


def dlm_takes(key: str) -> bool:
    """Whether Data Lifecycle Manager takes ``key`` as a tag key: botocore's pattern for it, ASCII letters,
    digits and + , - . / : ; < = _ only, is narrower than any other service's (a unit test checks all)."""
    return _dlm_tag_key().fullmatch(key) is not None


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message is one line for the user."""


def setting(default: Any, allowed: str = "", **constraints: Any) -> Any:
    return Field(default, json_schema_extra={"allowed": allowed}, **constraints)


WholeNumber = Annotated[int, BeforeValidator(whole_number)]
OptionalWholeNumber = Annotated[int | None, BeforeValidator(whole_number)]


class SiteSettings(BaseModel, frozen=True):
    """Everything a deployment can change, one field a setting. Build it with :meth:`from_context`."""

    model_config = {"extra": "forbid", "coerce_numbers_to_str": True, "use_attribute_docstrings": True}

    environment: Literal["dev", "prod"] = setting("dev")
    """stack names carry it, so both live side by side in one account; prod keeps data by default"""
    instance_type: Annotated[str, AfterValidator(instance_types.checked)] = setting(
        "t4g.micro",
        "in `settings/instance_types.txt`, any case; not A1, Mac, t1, m1, m2, c1 (no AL2023); "
        "not m3, cc2, cr1, g2, hs1 (no IPv6)",
    )
    """the web server; a change stops and starts it, a change of CPU architecture replaces it"""
    availability_zone_id: Annotated[str, AfterValidator(zone_id)] | None = setting(
        None,
        "a zone ID of the Region, e.g. `use1-az1`, any case; not "
        + ", ".join(f"`{zone}`" for zone in NO_VPC_ORIGIN_ZONE_IDS)
        + " (no VPC origins); only on a first deploy",
    )
    """the server's and the volume's zone; unset, the Region's first or make deploy's (docs/operations.md)"""
    detailed_monitoring: bool = setting(False, "`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, any case")
    """one-minute CPU and network metrics (USD 0.30 a metric a month); applies in place"""
    server_generation: WholeNumber = setting(1, ge=1, le=1_000_000)
    """raising it replaces the instance on purpose, on the AMI AWS publishes at that moment"""
    volume_size_gib: WholeNumber = setting(
        5, "GiB, the volume type's range: gp2 1-16384, gp3 1-65536, io1 4-16384, io2 4-65536"
    )
    """the document-root volume's size; a larger size grows the filesystem online"""
    volume_type: Literal["gp3", "gp2", "io1", "io2"] = setting("gp3")
    """the document-root volume's EBS type"""
    volume_iops: OptionalWholeNumber = setting(
        None,
        "gp3 3000-80000 and 500 per GiB, io1 100-64000 and 50 per GiB, io2 100-256000 and 500 per GiB; "
        "required for io1 and io2",
        ge=1,
    )
    """provisioned IOPS; unset, gp3 has its 3000 IOPS baseline"""
    volume_throughput_mibps: OptionalWholeNumber = setting(
        None, "gp3 only: 125-2000, at most 0.25 per IOPS (of the 3000 baseline if volume_iops is unset)", ge=1
    )
    """gp3's throughput in MiB/s; unset, its 125 MiB/s baseline"""
    price_class: Annotated[PriceClass, BeforeValidator(normalised_price_class)] = setting(
        "100", "also CloudFront's `PriceClass_100`, `PriceClass_200`, `PriceClass_All`, any case"
    )
    """which CloudFront edge locations serve the site"""
    # CloudFront's largest TTL is a year: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
    page_cache_seconds: WholeNumber = setting(
        86400, "not 0: a cache policy whose TTLs are all 0 cannot compress", ge=1, le=31_536_000
    )
    """how long an edge keeps a page when no invalidation comes; the server invalidates what it changes"""
    # Data Lifecycle Manager's RetainRule.Count: https://docs.aws.amazon.com/dlm/latest/APIReference/API_RetainRule.html
    snapshot_retention_days: WholeNumber = setting(7, ge=1, le=1000)
    """how many daily snapshots of the volume are kept"""
    log_retention_days: Annotated[Literal[LOG_RETENTION_DAYS], BeforeValidator(whole_number)] = setting(90)
    """how long CloudWatch Logs keeps the access logs, flow logs and run output"""
    volume_removal_policy: Literal["snapshot", "retain"] | None = setting(None)
    """what deleting the stack does to the volume; unset, `snapshot` in dev, `retain` in prod"""
    bucket_removal_policy: Literal["destroy", "retain"] | None = setting(None)
    """what deleting the stack does to the buckets; unset, `destroy` in dev, `retain` in prod"""
    domain_name: Annotated[str, AfterValidator(dns_name)] | None = setting(
        None, "a DNS name of two or more labels, Unicode or `xn--`; capitals and a trailing dot are dropped"
    )
    """the site's own name; needs certificate_arn"""
    certificate_arn: str | None = setting(
        None,
        "an ARN `arn:aws:acm:us-east-1:<12-digit account id>:certificate/<UUID>` (CloudFront's Region)",
        pattern=CERTIFICATE_ARN,
    )
    """the ACM certificate for domain_name; needs domain_name"""
    image_file: Annotated[Path, BeforeValidator(image_path)] = setting(
        DEFAULT_IMAGE, "a regular file holding a JPEG, PNG or GIF, named with its data's extension"
    )
    """the image the page shows; a relative path is from the project directory"""
    page_title: str = setting(
        "Hello from the web server",
        "1-120 characters, none a quote, backslash, dollar, backtick, brace, angle bracket or control",
        pattern=TEXT_PATTERN,
    )
    """the page's title and heading; a change re-renders the page unless it was edited"""
    alarm_email: Annotated[str, AfterValidator(mailbox)] | None = setting(None, "a mailbox's address")
    """alarms notify it through an encrypted SNS topic"""
    waf_web_acl_arn: str | None = setting(
        None,
        "an ARN `arn:aws:wafv2:us-east-1:<12-digit account id>:global/webacl/<name>/<UUID>`, "
        "the name 1-128 of `A-Z a-z 0-9 _ -`",
        pattern=WEB_ACL_ARN,
    )
    """a web ACL of scope CLOUDFRONT in front of both distributions"""
    geo_allowlist: Annotated[tuple[str, ...], BeforeValidator(country_codes)] = setting(
        (), "comma-separated ISO 3166-1 alpha-2 codes, e.g. `US,CA`; the United Kingdom is `GB`"
    )
    """the only countries CloudFront serves; unset, all"""
    tags: Annotated[dict[str, str], BeforeValidator(tag_map)] = setting({}, "a JSON object of strings")
    """tags on every resource (the snapshot policy: keys DLM takes); a change never replaces the instance"""

    @model_validator(mode="after")
    def _combinations(self) -> "SiteSettings":
        if self.domain_name and not self.certificate_arn:
            required = f"required with domain_name {self.domain_name!r}: an ACM certificate in us-east-1"
            raise Refusal("certificate_arn", required)
        if self.certificate_arn and not self.domain_name:
            raise Refusal("domain_name", "required with certificate_arn")
        # aws-cdk-lib's check of the volume on a throwaway stack, for the setting it is about; then the app's.
        spec = self.volume
        try:
            ec2.Volume(Stack(), "Volume", availability_zone="us-east-1a", size=Size.gibibytes(spec.size_gib),
                       volume_type=ec2.EbsDeviceVolumeType[spec.volume_type.upper()], iops=spec.iops,
                       throughput=spec.throughput_mibps)  # fmt: skip
        except RuntimeError as error:  # jsii's form of aws-cdk-lib's ValidationError
            line = str(error).splitlines()[0].rstrip(".")
            if "throughput" in line.lower():
                raise Refusal("volume_throughput_mibps", line) from None
            if "iops" not in line:
                raise Refusal("volume_size_gib", line) from None
            line += f" (volume_type {spec.volume_type}, volume_size_gib {spec.size_gib})"
            if spec.volume_type == "gp3" and "ratio" in line:  # unset, gp3 has its baseline at any size
                line += f", or leave volume_iops unset for the {GP3_BASELINE_IOPS} IOPS baseline"
            raise Refusal("volume_iops", line) from None
        most = int(GP3_BASELINE_IOPS * GP3_MIBPS_PER_IOPS)
        if spec.volume_type == "gp3" and spec.iops is None and (spec.throughput_mibps or 0) > most:
            raise Refusal(
                "volume_throughput_mibps",
                f"gp3 takes at most {most} MiB/s with its {GP3_BASELINE_IOPS} IOPS baseline "
                f"({GP3_MIBPS_PER_IOPS} MiB/s per IOPS): set volume_iops for more",
            )
        return self

    # Derived values: one place decides what an environment means.
    is_production = property(lambda s: s.environment == "prod")
    _kept = property(lambda s: "retain" if s.is_production else None)  # prod keeps its data unless told
    effective_volume_removal_policy = property(lambda s: s.volume_removal_policy or s._kept or "snapshot")
    effective_bucket_removal_policy = property(lambda s: s.bucket_removal_policy or s._kept or "destroy")
    volume = property(lambda s: VolumeSpec(size_gib=s.volume_size_gib, volume_type=s.volume_type,
                      iops=s.volume_iops, throughput_mibps=s.volume_throughput_mibps,
                      removal_policy=s.effective_volume_removal_policy))  # fmt: skip
    is_graviton = property(lambda s: instance_types.is_arm64(s.instance_type))  # the arm64 AMI
    server = property(lambda s: ServerSpec(instance_type=s.instance_type, arm64=s.is_graviton,
                      detailed_monitoring=s.detailed_monitoring, generation=s.server_generation))  # fmt: skip
    image_key = property(lambda s: f"{IMAGE_KEY_PREFIX}{s.image_file.name}")  # UTF-8, as the file is named
    # Percent-encoded but for RFC 3986's unreserved characters and /: it cannot break a URL, an HTML
    # attribute, a shell word or a quoted string in the user data.
    image_url_path = property(lambda s: quote(s.image_key, safe="/"))
    all_tags = property(lambda s: {"project": PROJECT_TAG, "environment": s.environment, **s.tags})
    tags_dlm_refuses = property(lambda s: tuple(key for key in s.tags if not dlm_takes(key)))

    def stack_name(self, part: str) -> str:
        return f"Site{part}-{self.environment}"

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, cdk_json: Path | None = None) -> "SiteSettings":
        """Settings from CDK context; SettingsError for the first bad value or a setting in ``cdk_json``."""
        given = {name: value for name, value in context.items() if not is_cdk_context_key(name)}
        if unknown := [name for name in given if name not in cls.model_fields]:
            hint = difflib.get_close_matches(unknown[0], cls.model_fields, n=1)
            guess = f"did you mean '{hint[0]}'?" if hint else "not a known setting."
            known = ", ".join(cls.model_fields)
            raise SettingsError(f"unknown setting {_shown(unknown[0])}: {guess} Known settings: {known}")
        in_cdk_json = ()  # a setting there would win unseen; an unreadable cdk.json the CDK CLI reports
        with suppress(AttributeError, LookupError, OSError, TypeError, ValueError):
            in_cdk_json = json.loads(cdk_json.read_text("utf-8-sig"))["context"].keys() if cdk_json else ()
        if misplaced := [name for name in in_cdk_json if not is_cdk_context_key(name)]:
            raise SettingsError(
                f"setting '{misplaced[0]}' is in cdk.json, whose context the CDK CLI puts above "
                f"cdk.context.json's: move it to cdk.context.json, or give it as -c {misplaced[0]}=..."
            )
        if nulls := [name for name, value in given.items() if value is None]:
            raise SettingsError(
                f"setting '{nulls[0]}' = null: JSON null is no value (the CDK CLI also writes it for a "
                "number JSON cannot hold, such as 1e400): give a value, or leave the setting out"
            )
        # Spaces around a value are dropped, a choice is taken in any letter case; a blank value leaves a
        # setting whose default is none unset.
        values = {name: _plain(cls.model_fields[name], value) for name, value in given.items()}
        values = {k: v for k, v in values.items() if v != "" or cls.model_fields[k].default is not None}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            cause = first.get("ctx", {}).get("error")  # the ValueError a validator raised
            name, refusal = cause.args if isinstance(cause, Refusal) else (first["loc"][0], cause)
            words = allowed(cls.model_fields[name], values.get(name)).replace("`", "")  # the docs' code marks
            shown = f"= {_shown(given[name])}" if name in values else "is not set"
            line = f"setting '{name}' {shown}: {refusal or 'must be ' + words}"
            # Every character that does not print is written as its escape: the message is one line.
            line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line)
            raise SettingsError(line) from None


SETTING_NAMES = tuple(SiteSettings.model_fields)


def is_cdk_context_key(name: str) -> bool:
    return name in CDK_CONTEXT_KEYS or name.startswith(CDK_CONTEXT_PREFIXES)


def _choices(field: FieldInfo) -> tuple[Any, ...]:
    kinds = (field.annotation, *get_args(field.annotation))
    return next((get_args(kind) for kind in kinds if get_origin(kind) is Literal), ())


def _plain(field: FieldInfo, value: Any) -> Any:
    """``value`` without spaces around it, a choice in the letter case declared."""
    if not isinstance(value, str):
        return value
    return next((c for c in _choices(field) if str(c).lower() == value.strip().lower()), value.strip())


def _shown(value: Any) -> str:
    """The value as given: a string quoted, anything else (from JSON) as JSON; a long one cut."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    cut = text if len(text) <= 120 else text[:100]  # the message stays one readable line
    shown = repr(cut) if isinstance(value, str) else cut
    return shown if cut is text else f"{shown}... ({len(text)} characters)"


def allowed(field: FieldInfo, value: Any = "") -> str:
    """What a setting allows, from its declaration: in the docs, and where pydantic's own checks refuse."""
    kinds, choices = (field.annotation, *get_args(field.annotation)), _choices(field)
    low, high = (next((getattr(m, k) for m in field.metadata if hasattr(m, k)), None) for k in ("ge", "le"))
    span = f" from {low} to {high}" if high else f" of at least {low}" if low else ""
    number = int in kinds and f"a whole number{span}" + ("" if str(value).isascii() else " in ASCII digits")
    one_of = choices and "one of " + ", ".join(f"`{choice}`" for choice in choices)
    return "; ".join(filter(None, (one_of, number, field.json_schema_extra["allowed"])))


def rendered_docs(text: str) -> str:
    """docs/settings.md's ``text`` with the table of settings rendered afresh between its marks."""
    head, begin, rest = text.partition(DOC_BEGIN)
    end, tail = rest.partition(DOC_END)[1:]
    if not (begin and end):
        raise ValueError(f"{DOC} has no table between {DOC_BEGIN.strip()} and {DOC_END.strip()}")
    rows = ["| setting | default | allowed | what it does |", "|---|---|---|---|"]
    for name, field in SiteSettings.model_fields.items():
        default = json.dumps(field.default, default=str).strip('"').removeprefix(f"{PROJECT_ROOT}/")
        default = "none" if default in ("null", "[]", "{}") else f"`{default}`"
        cells = (f"`{name}`", default, allowed(field), field.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return head + begin + "\n".join(rows) + "\n" + end + tail


if __name__ == "__main__":  # .venv/bin/python -m settings.model
    DOC.write_text(rendered_docs(DOC.read_text(encoding="utf-8")), encoding="utf-8")
