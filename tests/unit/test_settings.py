"""Settings: defaults, every validation rule with the AWS limit it cites, derived values."""

from __future__ import annotations

import re
import struct
import zlib

import aws_cdk as cdk
import pytest
from cdk_context import CDK_FEATURE_FLAGS

from stacks import instance_types
from stacks.content_stack import SiteContentStack
from stacks.country_codes import COUNTRIES
from stacks.instance_types import INSTANCE_TYPES, family
from stacks.settings import (
    LOG_RETENTION_DAYS,
    MAX_USER_TAGS,
    MOST_NON_USER_TAGS,
    PROJECT_ROOT,
    SETTING_NAMES,
    SettingsError,
    SiteSettings,
    image_dimensions,
)


def settings(**context):
    return SiteSettings.from_context(
        {k: str(v) if not isinstance(v, dict | bool) else v for k, v in context.items()}
    )


def refused(**context) -> str:
    """The one-line message for a bad context (and proof that it is one line)."""
    with pytest.raises(SettingsError) as caught:
        settings(**context)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_defaults_follow_the_tutorial_with_safer_choices():
    s = SiteSettings.from_context({})
    assert s.environment == "dev"
    assert s.instance_type == "t4g.micro"
    assert (s.volume_size_gib, s.volume_type) == (5, "gp3")
    assert s.image_file == PROJECT_ROOT / "assets" / "images" / "site-image.jpg"
    assert s.image_key == "images/site-image.jpg"
    assert s.image_url_path == "images/site-image.jpg"
    assert s.effective_volume_removal_policy == "snapshot"
    assert s.effective_bucket_removal_policy == "destroy"
    assert s.stack_name("Content") == "SiteContent-dev"
    assert s.page_cache_seconds == 86400
    assert (s.detailed_monitoring, s.server_generation, s.origin_token_generation) == (False, 1, 1)
    assert s.is_graviton


def test_cdk_feature_flags_and_cli_keys_are_not_settings():
    s = SiteSettings.from_context(
        {
            "@aws-cdk/core:newStyleStackSynthesis": True,
            "aws:cdk:enable-path-metadata": True,
            "acknowledged-issue-numbers": [32775],
            "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
            "environment": "prod",
        }
    )
    assert s.is_production


def test_prod_retains_data_and_names_stacks_apart():
    s = settings(environment="prod")
    assert s.effective_volume_removal_policy == "retain"
    assert s.effective_bucket_removal_policy == "retain"
    assert s.stack_name("WebServer") == "SiteWebServer-prod"
    assert (
        settings(environment="prod", bucket_removal_policy="destroy").effective_bucket_removal_policy
        == "destroy"
    )


# ---------------------------------------------------------------- instance types


def test_instance_type_data_file_names_its_source_and_refresh_command():
    header = [line for line in instance_types.DATA_FILE.read_text().splitlines() if line.startswith("#")]
    text = " ".join(header)
    assert "InstanceType enum of botocore's EC2" in text
    assert "python -m stacks.instance_types --write" in text
    assert len(INSTANCE_TYPES) > 1000
    assert all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", name) for name in INSTANCE_TYPES)


def test_instance_types_are_all_known_to_the_ec2_api():
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("ec2")
    assert set(model.shape_for("InstanceType").enum) >= INSTANCE_TYPES


@pytest.mark.parametrize("instance_type", ["t2.48xlarge", "t4g.metal", "p5.nano", "c7g.nano"])
def test_impossible_family_size_pairs_name_the_sizes_there_are(instance_type):
    fam = family(instance_type)
    text = refused(instance_type=instance_type)
    assert text.startswith(f"setting 'instance_type' = '{instance_type}': {fam} comes in ")


def test_t2_sizes_are_listed_smallest_first():
    assert refused(instance_type="t2.48xlarge").endswith(
        "t2 comes in nano, micro, small, medium, large, xlarge, 2xlarge"
    )


@pytest.mark.parametrize("instance_type", ["t9.micro", "t3micro", "", "t3 .micro", "u-3tb1"])
def test_unknown_instance_types_are_refused(instance_type):
    assert "must be an EC2 instance type such as t4g.micro" in refused(instance_type=instance_type)


@pytest.mark.parametrize(
    ("instance_type", "reason"),
    [
        ("a1.large", "AL2023, the web server's operating system, does not support A1 instances"),
        ("mac1.metal", "Mac instances run macOS on Dedicated Hosts only"),
        ("mac2-m2.metal", "Mac instances run macOS on Dedicated Hosts only"),
        ("mac2-m1ultra.metal", "Mac instances run macOS on Dedicated Hosts only"),
        ("t1.micro", "a previous-generation family that AL2023 (HVM, x86-64-v2) does not support"),
        ("m1.small", "a previous-generation family that AL2023 (HVM, x86-64-v2) does not support"),
    ],
)
def test_types_that_cannot_run_al2023_are_refused_with_the_reason(instance_type, reason):
    assert f"= '{instance_type}': not supported: {reason}" in refused(instance_type=instance_type)


@pytest.mark.parametrize(
    ("instance_type", "arm64"),
    [
        ("u-3tb1.56xlarge", False),
        ("u-12tb1.112xlarge", False),
        ("u7i-12tb.224xlarge", False),
        ("u7in-16tb.224xlarge", False),
        ("t4g.micro", True),
        ("m7g.large", True),
        ("c7gn.xlarge", True),
        ("im4gn.large", True),
        ("is4gen.medium", True),
        ("r8gb.large", True),
        ("t3.micro", False),
        ("m7i-flex.large", False),
        ("g4ad.xlarge", False),
    ],
)
def test_cpu_architecture_follows_the_instance_type(instance_type, arm64):
    assert settings(instance_type=instance_type).is_graviton is arm64


def test_architecture_table_holds_exactly_the_families_aws_cdk_lib_cannot_parse():
    """aws-cdk-lib gives every other family's architecture; the table shrinks as it learns."""
    assert instance_types.families_without_architecture(sorted(INSTANCE_TYPES)) == []
    for name in instance_types.X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE:
        example = min(t for t in INSTANCE_TYPES if family(t) == name)
        assert instance_types.aws_cdk_lib_architecture(example) is None, name
        assert instance_types.is_arm64(example) is False


def test_a_type_of_unknown_architecture_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="no CPU architecture known"):
        instance_types.is_arm64("u-99tb1.112xlarge")


# ---------------------------------------------------------------- volumes (CreateVolume limits)


@pytest.mark.parametrize(
    ("volume_type", "low", "high"),
    [("gp2", 1, 16384), ("gp3", 1, 65536), ("io1", 4, 16384), ("io2", 4, 65536)],
)
def test_volume_sizes_per_type(volume_type, low, high):
    iops = {"io1": 100, "io2": 100}.get(volume_type)
    extra = {"volume_iops": iops} if iops else {}
    assert settings(volume_type=volume_type, volume_size_gib=low, **extra).volume_size_gib == low
    assert settings(volume_type=volume_type, volume_size_gib=high, **extra).volume_size_gib == high
    if low > 1:
        assert refused(volume_type=volume_type, volume_size_gib=low - 1, **extra) == (
            f"setting 'volume_size_gib' = {low - 1}: {volume_type} volumes take {low} to {high} GiB"
        )
    # Every range is the type's own, checked in one place: the messages never disagree.
    assert refused(volume_type=volume_type, volume_size_gib=high + 1, **extra) == (
        f"setting 'volume_size_gib' = {high + 1}: {volume_type} volumes take {low} to {high} GiB"
    )


@pytest.mark.parametrize(
    ("volume_type", "low", "top", "ratio"),
    [("gp3", 3000, 80000, 500), ("io1", 100, 64000, 50), ("io2", 100, 256000, 500)],
)
def test_iops_limits_per_type(volume_type, low, top, ratio):
    size = top // ratio  # the smallest volume that takes the most IOPS
    assert settings(volume_type=volume_type, volume_size_gib=size, volume_iops=top).volume_iops == top
    assert settings(volume_type=volume_type, volume_size_gib=size, volume_iops=low).volume_iops == low
    text = refused(volume_type=volume_type, volume_size_gib=size - 1, volume_iops=top)
    assert text == (
        f"setting 'volume_iops' = {top}: {volume_type} takes at most {ratio} IOPS per GiB: "
        f"{ratio * (size - 1)} with {size - 1} GiB"
        + (", or leave volume_iops unset for the 3000 IOPS baseline" if volume_type == "gp3" else "")
    )
    text = refused(volume_type=volume_type, volume_size_gib=size * 2, volume_iops=top + 1)
    assert text == f"setting 'volume_iops' = {top + 1}: {volume_type} takes {low} to {top} IOPS"
    if low > 100:
        text = refused(volume_type=volume_type, volume_size_gib=size, volume_iops=low - 1)
        assert text == f"setting 'volume_iops' = {low - 1}: {volume_type} takes {low} to {top} IOPS"


def test_single_and_combined_iops_checks_agree():
    # The value's form is checked alone; every range is the type's own, so no two disagree.
    assert refused(volume_iops="many") == (
        "setting 'volume_iops' = 'many': must be a whole number; its range depends on volume_type"
    )
    assert refused(volume_iops=50) == "setting 'volume_iops' = 50: gp3 takes 3000 to 80000 IOPS"
    assert refused(volume_iops=256001) == "setting 'volume_iops' = 256001: gp3 takes 3000 to 80000 IOPS"
    assert refused(volume_type="io1", volume_size_gib=16384, volume_iops=100000) == (
        "setting 'volume_iops' = 100000: io1 takes 100 to 64000 IOPS"
    )
    assert refused(volume_type="io2", volume_size_gib=4) == (
        "setting 'volume_iops' = None: required for io2 (100 to 256000 IOPS)"
    )


def test_gp3_baseline_comes_without_volume_iops_at_any_size():
    assert settings(volume_size_gib=1).volume_iops is None  # 3000 IOPS, gp3's baseline
    assert settings(volume_size_gib=6, volume_iops=3000).volume_iops == 3000
    assert "leave volume_iops unset" in refused(volume_size_gib=5, volume_iops=3000)


def test_gp3_throughput_limits():
    assert settings(volume_size_gib=16, volume_iops=8000, volume_throughput_mibps=2000).volume_iops == 8000
    assert refused(volume_throughput_mibps=2001).startswith(
        "setting 'volume_throughput_mibps' = '2001': must be a whole number from 125 to 2000"
    )
    assert refused(volume_throughput_mibps=751) == (
        "setting 'volume_throughput_mibps' = 751: gp3 takes 125 to 750 MiB/s with 3000 IOPS "
        "(at most 2000, and 0.25 per IOPS)"
    )


# ---------------------------------------------------------------- numbers, booleans, lists


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_cloudwatch_logs_retention_is_accepted(days):
    assert settings(log_retention_days=days).log_retention_days == days


@pytest.mark.parametrize("days", ["2", "0", "3650", "4000", "\uff11\uff14", "90.0"])
def test_other_log_retentions_are_refused_with_the_list(days):
    text = refused(log_retention_days=days)
    assert text == (
        f"setting 'log_retention_days' = {days!r}: CloudWatch Logs keeps logs for one of "
        "1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
        "2557, 2922, 3288, 3653 days"
    )


@pytest.mark.parametrize(
    "name", ["volume_size_gib", "server_generation", "snapshot_retention_days", "page_cache_seconds"]
)
def test_full_width_digits_are_refused(name):
    assert "in ASCII digits" in refused(**{name: "\uff11\uff10"})


@pytest.mark.parametrize("value", ["9" * 5000, "1" + "0" * 19, "1e3", "0x10", " ", "None"])
def test_numbers_that_int_would_choke_on_or_misread_are_refused(value):
    assert "must be a whole number" in refused(volume_size_gib=value)
    assert "must be a whole number from 1 to 1000000" in refused(server_generation=value)


@pytest.mark.parametrize(
    "value", ["assets", "assets/images/\x00.jpg", "x" * 5000 + ".jpg", "/root/../nonexistent"]
)
def test_image_paths_that_are_no_readable_file_are_one_line(value):
    assert "must be an existing image file" in refused(image_file=value)


def test_deeply_nested_tags_json_is_one_line():
    assert "must be a JSON object of strings" in refused(tags="[" * 100000)


def test_page_cache_seconds_range_and_why_zero_is_refused():
    assert settings(page_cache_seconds=1).page_cache_seconds == 1
    assert settings(page_cache_seconds=31536000).page_cache_seconds == 31536000
    assert "must be a whole number from 1 to 31536000" in refused(page_cache_seconds=31536001)
    assert "cache policy whose TTLs are all 0 cannot compress" in refused(page_cache_seconds=0)


def test_snapshot_retention_is_what_dlm_keeps():
    assert settings(snapshot_retention_days=1000).snapshot_retention_days == 1000
    assert "from 1 to 1000" in refused(snapshot_retention_days=1001)


@pytest.mark.parametrize("name", ["server_generation", "origin_token_generation"])
def test_generations_are_whole_numbers_up_to_a_million(name):
    assert getattr(settings(**{name: 1}), name) == 1
    assert getattr(settings(**{name: " 1000000 "}), name) == 1000000
    for bad in ("0", "1000001", "-1", "1.5", "two"):
        assert refused(**{name: bad}) == (
            f"setting '{name}' = {bad!r}: must be a whole number from 1 to 1000000"
        )


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("false", False),
     ("no", False), ("0", False), (" False ", False), (True, True), (False, False)],
)  # fmt: skip
def test_detailed_monitoring_is_a_boolean(text, value):
    assert settings(detailed_monitoring=text).detailed_monitoring is value


def test_geo_allowlist_is_deduplicated_and_upper_case():
    assert settings(geo_allowlist="US,us, ca,US").geo_allowlist == ("US", "CA")
    assert settings(geo_allowlist="").geo_allowlist == ()


def test_geo_allowlist_takes_real_iso_codes_only():
    assert refused(geo_allowlist="US,UK") == (
        "setting 'geo_allowlist' = 'US,UK': 'UK' is not an ISO 3166-1 code: the United Kingdom is GB"
    )
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in refused(geo_allowlist="XX")
    assert settings(geo_allowlist="GB").geo_allowlist == ("GB",)


def test_country_list_is_iso_3166_1_with_its_source():
    assert len(COUNTRIES) == 249
    assert COUNTRIES["GB"] == "United Kingdom"
    assert "UK" not in COUNTRIES
    header = (PROJECT_ROOT / "stacks" / "country_codes.txt").read_text().splitlines()[:3]
    assert "iso-codes" in header[0]
    assert "python -m stacks.country_codes --write" in header[2]


# ---------------------------------------------------------------- tags


def test_tags_within_aws_limits_are_accepted():
    most = MAX_USER_TAGS
    many = {f"k{i}": "v" for i in range(most)}
    assert settings(tags=many).tags == many
    edge = {"k" * 128: "v" * 256, "ünïcode key": "välue with spaces +-=._:/@", "empty": ""}
    assert settings(tags=edge).tags == edge


def test_too_many_tags_counting_the_apps_own():
    text = refused(tags={f"k{i}": "v" for i in range(46)})
    assert text.endswith(
        "at most 45 tags: AWS allows 50 per resource, and the app and aws-cdk-lib set up to 5 on some of them"
    )
    # A value this long is cut: the line stays readable.
    assert len(text) < 300


def test_no_resource_carries_more_tags_than_the_user_limit_leaves_room_for(dev_app):
    """The app's and aws-cdk-lib's own tags, on the resource that has most, fit in AWS's 50."""
    most = 0
    for stack in (dev_app.stacks.content, dev_app.stacks.web_server):
        for resource in dev_app.raw(stack)["Resources"].values():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list):
                most = max(most, len(tags))
    # The instance and the volume also carry aws-cdk-lib's attach grant tag, which counts.
    assert most == MOST_NON_USER_TAGS
    assert MAX_USER_TAGS + most == 50


@pytest.mark.parametrize("key", ["project", "environment", "Project", "site-snapshots", "Name"])
def test_tag_keys_the_app_sets_are_reserved(key):
    assert f"tag key {key!r} is set by the app" in refused(tags={key: "x"})


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"k" * 129: "v"}, "tag keys must be 1-128 characters, values at most 256"),
        ({"": "v"}, "tag keys must be 1-128 characters"),
        ({"k": "v" * 257}, "values at most 256"),
        ({"AWS:owner": "x"}, "the aws: and aws-cdk: prefixes are reserved"),
        ({"aws-cdk:owner": "x"}, "the aws: and aws-cdk: prefixes are reserved"),
        ({"team#1": "x"}, "tags may hold letters, digits, spaces and + - = . _ : / @ only"),
        ({"team": "it's"}, "tags may hold letters"),
        ({"team": "a\nb"}, "tags may hold letters"),
        ({"team": 'x"; rm -rf /'}, "tags may hold letters"),
    ],
)
def test_tags_outside_aws_rules_are_refused(tags, message):
    assert message in refused(tags=tags)


# ---------------------------------------------------------------- image file


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_image_headers_are_decoded():
    jpeg = (PROJECT_ROOT / "assets" / "images" / "site-image.jpg").read_bytes()
    kind, width, height = image_dimensions(jpeg)
    assert kind == "JPEG"
    assert width > 0
    assert height > 0
    assert image_dimensions(png(3, 2)) == ("PNG", 3, 2)
    assert image_dimensions(b"GIF89a" + struct.pack("<HH", 5, 7) + b"\x00" * 8) == ("GIF", 5, 7)
    assert image_dimensions(b"\x89PNG\r\n\x1a\n" + b"garbage") is None
    assert image_dimensions(b"\xff\xd8\xff\xe0\x00\x02" + b"\xff\xd9") is None


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + b"not really a png",  # magic bytes only
        png(0, 4),  # zero width
        b"GIF89a" + struct.pack("<HH", 4, 0),  # zero height
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 7 + b"\xff\xc0\x00\x11\x08\x00\x00\x00\x00",
        b"plain text",
    ],
    ids=["png-magic-only", "png-zero-width", "gif-zero-height", "jpeg-zero-size", "text"],
)
def test_files_that_are_not_real_images_are_refused(tmp_path, content):
    path = tmp_path / "picture.png"
    path.write_bytes(content)
    assert "must be a JPEG, PNG or GIF image with a width and height" in refused(image_file=path)


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("it's.png", "it%27s.png"),
        ('say "cheese".png', "say%20%22cheese%22.png"),
        ("$HOME.png", "%24HOME.png"),
        ("#1.png", "%231.png"),
        ("two words.png", "two%20words.png"),
        ("café ü.png", "caf%C3%A9%20%C3%BC.png"),
        ("日本.png", "%E6%97%A5%E6%9C%AC.png"),
        ("a%20b;`x`&y<z>.png", "a%2520b%3B%60x%60%26y%3Cz%3E.png"),
        ("plain-name_1.0~x.png", "plain-name_1.0~x.png"),
    ],
)
def test_image_names_are_percent_encoded_in_the_url(tmp_path, name, encoded):
    path = tmp_path / name
    path.write_bytes(png(1, 1))
    s = settings(image_file=path)
    assert s.image_key == f"images/{name}"
    assert s.image_url_path == f"images/{encoded}"
    # Only RFC 3986 unreserved characters, "/" and %XX: nothing a shell, HTML or URL reads.
    assert re.fullmatch(r"[A-Za-z0-9._~/%-]+", s.image_url_path)


def test_content_stack_publishes_the_encoded_url_and_uploads_the_file_by_its_name(tmp_path):
    name = 'it\'s "$HOME" #1 café.png'
    (tmp_path / name).write_bytes(png(2, 2))
    app = cdk.App(outdir=str(tmp_path / "out"), context=CDK_FEATURE_FLAGS)
    s = settings(image_file=tmp_path / name)
    stack = SiteContentStack(app, "Content", settings=s)
    template = app.synth().get_stack_by_name("Content").template
    url = template["Outputs"]["ImageUrl"]["Value"]["Fn::Join"][1]
    assert url[-1] == "/images/it%27s%20%22%24HOME%22%20%231%20caf%C3%A9.png"
    assert stack.image_url.endswith(url[-1])
    # The upload's file filter matched the name literally: the image asset holds that file only.
    (image_asset,) = {p.parent for p in (tmp_path / "out").glob("asset.*/*") if p.name == name}
    assert [p.name for p in image_asset.iterdir()] == [name]


@pytest.mark.parametrize(
    "name", ["star*.png", "what?.png", "[x].png", "!x.png", "back\\slash.png", "new\nline.png"]
)
def test_image_names_the_upload_filter_would_misread_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(png(1, 1))
    assert "the file name may not contain control characters or * ? [ ] ! \\" in refused(image_file=path)


# ---------------------------------------------------------------- one line for every setting

BAD_VALUES = [
    ({"instance_typ": "t3.micro"}, "unknown setting 'instance_typ': did you mean 'instance_type'?"),
    ({"colour": "blue"}, "unknown setting 'colour': not a known setting"),
    ({"environment": "staging"}, "setting 'environment' = 'staging': allowed values are dev, prod"),
    ({"instance_type": "t9.micro"}, "setting 'instance_type' = 't9.micro': must be an EC2 instance type"),
    ({"detailed_monitoring": "maybe"}, "setting 'detailed_monitoring' = 'maybe': must be true or false"),
    ({"server_generation": "0"}, "setting 'server_generation' = '0': must be a whole number from 1"),
    ({"volume_size_gib": "0"}, "setting 'volume_size_gib' = 0: gp3 volumes take 1 to 65536 GiB"),
    ({"volume_size_gib": "5.5"}, "setting 'volume_size_gib' = '5.5': must be a whole number"),
    ({"volume_type": "st1"}, "setting 'volume_type' = 'st1': allowed values are gp3, gp2, io1, io2"),
    ({"volume_iops": "2000"}, "setting 'volume_iops' = 2000: gp3 takes 3000 to 80000 IOPS"),
    ({"volume_throughput_mibps": "100"}, "setting 'volume_throughput_mibps' = '100': must be a whole number"),
    ({"volume_type": "gp2", "volume_iops": "3000"}, "setting 'volume_iops' = 3000: only gp3, io1 and io2"),
    ({"volume_type": "gp2", "volume_throughput_mibps": "200"}, "only gp3 volumes take a throughput"),
    ({"price_class": "300"}, "setting 'price_class' = '300': allowed values are 100, 200, All"),
    ({"page_cache_seconds": "-1"}, "setting 'page_cache_seconds' = '-1': must be a whole number from 1"),
    ({"origin_token_generation": "x"}, "setting 'origin_token_generation' = 'x': must be a whole number"),
    ({"snapshot_retention_days": "0"}, "setting 'snapshot_retention_days' = '0': must be a whole number"),
    ({"log_retention_days": "2"}, "setting 'log_retention_days' = '2': CloudWatch Logs keeps logs"),
    (
        {"bucket_removal_policy": "snapshot"},
        "setting 'bucket_removal_policy' = 'snapshot': allowed values are destroy",
    ),
    (
        {"volume_removal_policy": "destroy"},
        "setting 'volume_removal_policy' = 'destroy': allowed values are snapshot",
    ),
    (
        {"domain_name": "www.example.com"},
        "setting 'certificate_arn' = None: required with domain_name 'www.example.com'",
    ),
    (
        {
            "domain_name": "www.example.com",
            "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
            "11111111-2222-3333-4444-555555555555",
        },
        "CloudFront only accepts ACM certificates from us-east-1",
    ),
    (
        {"certificate_arn": "not-an-arn"},
        "setting 'certificate_arn' = 'not-an-arn': must be an ACM certificate",
    ),
    (
        {"domain_name": "Not A Domain"},
        "setting 'domain_name' = 'Not A Domain': must be a lower-case DNS name",
    ),
    ({"image_file": "assets/images/missing.jpg"}, "must be an existing image file"),
    ({"image_file": "package.json"}, "setting 'image_file' = 'package.json': must be a JPEG, PNG or GIF"),
    ({"alarm_email": "ops-at-example"}, "setting 'alarm_email' = 'ops-at-example': must be an e-mail"),
    ({"geo_allowlist": "USA"}, "setting 'geo_allowlist' = 'USA': 'USA' is not an ISO 3166-1 alpha-2"),
    ({"waf_web_acl_arn": "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"}, "setting 'waf_web_acl_arn'"),
    ({"tags": "not json"}, "setting 'tags' = 'not json': must be a JSON object of strings"),
]


@pytest.mark.parametrize(("context", "message"), BAD_VALUES, ids=[next(iter(c)) for c, _ in BAD_VALUES])
def test_bad_input_is_one_clear_line(context, message):
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_context(context)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_every_setting_has_a_rule_test():
    tested = {name for context, _ in BAD_VALUES for name in context}
    assert set(SETTING_NAMES) - tested == set()


def test_good_values_are_accepted_and_typed():
    s = settings(
        volume_size_gib=100,
        volume_iops=6000,
        volume_throughput_mibps=500,
        price_class="All",
        snapshot_retention_days=30,
        geo_allowlist="us, ca",
        tags='{"team": "web"}',
        alarm_email="ops@example.com",
        detailed_monitoring="yes",
        server_generation=3,
        origin_token_generation=2,
    )
    assert (s.volume_size_gib, s.volume_iops, s.volume_throughput_mibps) == (100, 6000, 500)
    assert s.geo_allowlist == ("US", "CA")
    assert s.all_tags == {"project": "ebs-cloudfront-site", "environment": "dev", "team": "web"}
    assert (s.detailed_monitoring, s.server_generation, s.origin_token_generation) == (True, 3, 2)
    assert settings(volume_type="io2", volume_iops=1000, volume_size_gib=10).volume_iops == 1000


def test_settings_are_frozen():
    s = SiteSettings.from_context({})
    with pytest.raises(AttributeError):
        s.environment = "prod"
