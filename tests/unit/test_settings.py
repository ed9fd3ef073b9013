"""Settings: defaults, every validation rule with the AWS limit it cites, derived values, the docs table."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
import zlib
from pathlib import Path

import aws_cdk as cdk
import botocore.session
import pycountry
import pytest
from PIL import Image
from pydantic import ValidationError

from network.zones import NO_VPC_ORIGIN_ZONE_IDS
from settings import instance_types, model
from settings.instance_types import INSTANCE_TYPES, family
from settings.model import (
    CDK_LOOKUP_PROVIDERS,
    DOC,
    LOG_RETENTION_DAYS,
    MAX_USER_TAGS,
    MOST_NON_USER_TAGS,
    PROJECT_ROOT,
    SETTING_NAMES,
    SettingsError,
    SiteSettings,
    allowed,
    is_cdk_context_key,
    rendered_docs,
    setting,
)
from stacks.content_stack import SiteContentStack
from tests.cdk_context import CDK_FEATURE_FLAGS
from web_server.instance_values import TEXT_PATTERN

SIZE_RANGES = "GiB, the volume type's range: gp2 1-16384, gp3 1-65536, io1 4-16384, io2 4-65536"
IOPS_RANGES = "gp3 3000-80000 and 500 per GiB, io1 100-64000 and 50 per GiB, io2 100-256000 and 500 per GiB"


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
    assert s.image_file == PROJECT_ROOT / "content" / "images" / "site-image.jpg"
    assert s.image_key == "images/site-image.jpg"
    assert s.image_url_path == "images/site-image.jpg"
    assert s.effective_volume_removal_policy == "snapshot"
    assert s.effective_bucket_removal_policy == "destroy"
    assert s.stack_name("Content") == "SiteContent-dev"
    assert s.page_cache_seconds == 86400
    assert (s.detailed_monitoring, s.server_generation) == (False, 1)
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
    assert "python -m settings.instance_types --write" in text
    assert len(INSTANCE_TYPES) > 1000
    assert all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", name) for name in INSTANCE_TYPES)


def test_instance_types_are_all_known_to_the_ec2_api():
    model = botocore.session.get_session().get_service_model("ec2")
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
    "instance_type", ["m3.medium", "g2.2xlarge", "cr1.8xlarge", "hs1.8xlarge", "cc2.8xlarge"]
)
def test_types_without_ipv6_are_refused(instance_type):
    line = refused(instance_type=instance_type)
    assert line.endswith(
        "not supported: a previous-generation family without IPv6, the server's only way out; "
        "choose a current family such as t3 or t4g"
    )


@pytest.mark.parametrize("instance_type", ["c3.large", "r3.large", "i2.xlarge", "m4.large", "t2.micro"])
def test_the_previous_generation_types_with_ipv6_are_accepted(instance_type):
    assert settings(instance_type=instance_type).instance_type == instance_type


def test_the_types_ec2_says_lack_ipv6_are_all_refused():
    """EC2's own instance-type data (DescribeInstanceTypes, as moto ships it): every type whose
    NetworkInfo says no IPv6 is refused, and no type it says has IPv6 is refused for the lack of it."""
    import gzip

    import moto

    with gzip.open(Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz") as file:
        data = json.load(file)
    assert len(data) > 1000
    for name, info in data.items():
        reason = instance_types.unsupported_reason(name) or ""
        if not info["NetworkInfo"]["Ipv6Supported"]:
            assert reason, name
        elif "IPv6" in reason:
            raise AssertionError(f"{name} has IPv6 by EC2's data but is refused for the lack of it")


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


# ---------------------------------------------------------------- volumes (aws-cdk-lib's ec2.Volume rules)


@pytest.mark.parametrize(
    ("volume_type", "low", "high"),
    [("gp2", 1, 16384), ("gp3", 1, 65536), ("io1", 4, 16384), ("io2", 4, 65536)],
)
def test_volume_sizes_per_type(volume_type, low, high):
    iops = {"io1": 100, "io2": 100}.get(volume_type)
    extra = {"volume_iops": iops} if iops else {}
    assert settings(volume_type=volume_type, volume_size_gib=low, **extra).volume_size_gib == low
    assert settings(volume_type=volume_type, volume_size_gib=high, **extra).volume_size_gib == high
    # The range is aws-cdk-lib's for the type, in its words, given to the size setting.
    expected = f"`{volume_type}` volumes must be between {low} GiB and {high} GiB in size"
    for bad in (low - 1, high + 1):
        assert refused(volume_type=volume_type, volume_size_gib=bad, **extra) == (
            f"setting 'volume_size_gib' = '{bad}': {expected}"
        )
    for bad in ("5.5", "many"):
        assert refused(volume_type=volume_type, volume_size_gib=bad, **extra) == (
            f"setting 'volume_size_gib' = {bad!r}: must be a whole number; {SIZE_RANGES}"
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
        f"setting 'volume_iops' = '{top}': `{volume_type}` volumes iops has a maximum ratio of {ratio} "
        f"IOPS/GiB (volume_type {volume_type}, volume_size_gib {size - 1})"
        + (", or leave volume_iops unset for the 3000 IOPS baseline" if volume_type == "gp3" else "")
    )
    expected = f"`{volume_type}` volumes iops must be between {low} and {top}"
    for bad in (top + 1, low - 1):
        text = refused(volume_type=volume_type, volume_size_gib=size * 2, volume_iops=bad)
        context = f"(volume_type {volume_type}, volume_size_gib {size * 2})"
        assert text == f"setting 'volume_iops' = '{bad}': {expected} {context}"


def test_iops_form_range_and_volume_type_each_get_one_line_naming_volume_iops():
    for bad in ("many", "0", "-1"):
        assert (
            refused(volume_iops=bad)
            == f"setting 'volume_iops' = {bad!r}: must be a whole number of at least 1; {IOPS_RANGES}; "
            "required for io1 and io2"
        )
    assert refused(volume_iops="50").startswith(
        "setting 'volume_iops' = '50': `gp3` volumes iops must be between 3000 and 80000"
    )
    assert refused(volume_type="io1", volume_size_gib=16384, volume_iops=100000).startswith(
        "setting 'volume_iops' = '100000': `io1` volumes iops must be between 100 and 64000"
    )
    assert refused(volume_type="gp2", volume_iops="3000").startswith(
        "setting 'volume_iops' = '3000': `iops` may only be specified if the `volumeType` is "
    )
    # io1 and io2 need volume_iops: not given, so "is not set".
    assert refused(volume_type="io2", volume_size_gib=4) == (
        "setting 'volume_iops' is not set: `iops` must be specified if the `volumeType` is "
        "`PROVISIONED_IOPS_SSD` or `PROVISIONED_IOPS_SSD_IO2` (volume_type io2, volume_size_gib 4)"
    )


def test_gp3_baseline_comes_without_volume_iops_at_any_size():
    assert settings(volume_size_gib=1).volume_iops is None  # 3000 IOPS, gp3's baseline
    assert settings(volume_size_gib=6, volume_iops=3000).volume_iops == 3000
    assert "leave volume_iops unset" in refused(volume_size_gib=5, volume_iops=3000)


def test_gp3_throughput_limits():
    assert settings(volume_size_gib=16, volume_iops=8000, volume_throughput_mibps=2000).volume_iops == 8000
    assert settings(volume_throughput_mibps=750).volume_throughput_mibps == 750
    for bad in (2001, 124):
        assert refused(volume_size_gib=32, volume_iops=16000, volume_throughput_mibps=bad) == (
            f"setting 'volume_throughput_mibps' = '{bad}': "
            "throughput property takes a minimum of 125 and a maximum of 2000"
        )
    assert refused(volume_size_gib=6, volume_iops=3000, volume_throughput_mibps=751).startswith(
        "setting 'volume_throughput_mibps' = '751': Throughput (MiBps) to iops ratio of 0.2503"
    )
    # aws-cdk-lib checks the ratio for an explicit volume_iops only; the baseline is the app's rule.
    assert refused(volume_throughput_mibps=751) == (
        "setting 'volume_throughput_mibps' = '751': gp3 takes at most 750 MiB/s with its 3000 IOPS "
        "baseline (0.25 MiB/s per IOPS): set volume_iops for more"
    )
    assert refused(volume_throughput_mibps=0) == (
        "setting 'volume_throughput_mibps' = '0': must be a whole number of at least 1; gp3 only: 125-2000, "
        "at most 0.25 per IOPS (of the 3000 baseline if volume_iops is unset)"
    )


def test_the_volume_check_leaves_nothing_in_the_app(dev_app):
    """aws-cdk-lib checks the volume on a throwaway stack of its own app, not in the app synthesized."""
    app = dev_app.stacks.content.node.scope
    assert {child.node.id for child in app.node.children if isinstance(child, cdk.Stack)} == set(
        dev_app.templates
    )
    volumes = [
        name
        for template in dev_app.templates.values()
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::EC2::Volume"
    ]
    assert len(volumes) == 1


# ---------------------------------------------------------------- numbers, booleans, lists


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_cloudwatch_logs_retention_is_accepted(days):
    assert settings(log_retention_days=days).log_retention_days == days


@pytest.mark.parametrize("days", ["2", "0", "3650", "4000", "\uff11\uff14", "90.5"])
def test_other_log_retentions_are_refused_with_the_list(days):
    text = refused(log_retention_days=days)
    assert text == (
        f"setting 'log_retention_days' = {days!r}: must be one of "
        "1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
        "2557, 2922, 3288, 3653"
    )


@pytest.mark.parametrize(
    "name", ["volume_size_gib", "server_generation", "snapshot_retention_days", "page_cache_seconds"]
)
def test_full_width_digits_are_refused(name):
    assert "in ASCII digits" in refused(**{name: "\uff11\uff10"})


@pytest.mark.parametrize(
    "value", ["9" * 5000, "1" + "0" * 19, "1e3", "0x10", " ", "None", "10.5", "1.0.0", 10.5]
)
def test_numbers_that_int_would_choke_on_or_misread_are_refused(value):
    assert "must be a whole number" in refused(volume_size_gib=value)
    assert "must be a whole number from 1 to 1000000" in refused(server_generation=value)


def test_whole_numbers_written_with_a_zero_fraction_are_taken():
    assert settings(volume_size_gib="10.0").volume_size_gib == 10
    assert (
        SiteSettings.from_context({"volume_size_gib": 10.0, "log_retention_days": "90.00"}).volume_size_gib
        == 10
    )
    assert settings(log_retention_days="90.0").log_retention_days == 90


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_a_json_null_is_refused_by_name_never_taken_for_the_default(name):
    """cdk.context.json's null, or what the CDK CLI's JSON round trip makes of a number JSON cannot hold."""
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_context({name: None})
    assert str(caught.value) == (
        f"setting '{name}' = null: JSON null is no value (the CDK CLI also writes it for a number JSON "
        "cannot hold, such as 1e400): give a value, or leave the setting out"
    )


@pytest.mark.parametrize("value", ["content/images/\x00.jpg", "x" * 5000 + ".jpg", "/root/../nonexistent"])
def test_image_paths_that_are_no_readable_file_are_one_line(value):
    assert "must be an existing image file" in refused(image_file=value)


def test_padding_spaces_around_an_image_path_are_dropped_and_empty_means_the_default():
    default = SiteSettings.from_context({}).image_file
    assert settings(image_file="  content/images/site-image.jpg ").image_file == default
    assert settings(image_file=" ").image_file == default


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


@pytest.mark.parametrize("name", ["server_generation"])
def test_generations_are_whole_numbers_up_to_a_million(name):
    assert getattr(settings(**{name: 1}), name) == 1
    assert getattr(settings(**{name: " 1000000 "}), name) == 1000000
    for bad in ("0", "1000001", "-1", "1.5", "two"):
        assert refused(**{name: bad}) == (
            f"setting '{name}' = {bad!r}: must be a whole number from 1 to 1000000"
        )


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("on", True), ("false", False),
     ("no", False), ("0", False), ("Off", False), (" False ", False), (True, True), (False, False)],
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


def test_every_iso_3166_1_code_of_pycountry_is_taken_and_only_those():
    codes = [country.alpha_2 for country in pycountry.countries]
    assert len(codes) > 240
    assert settings(geo_allowlist=",".join(codes)).geo_allowlist == tuple(codes)
    assert SiteSettings.from_context({"geo_allowlist": ["gb", " FR "]}).geo_allowlist == ("GB", "FR")  # JSON
    for code in ("XK", "EU", "AA"):  # user-assigned and reserved codes
        assert f"{code!r} is not an ISO 3166-1 alpha-2 country code" in refused(geo_allowlist=code)


# ---------------------------------------------------------------- tags


def test_tags_within_aws_limits_are_accepted():
    most = MAX_USER_TAGS
    many = {f"k{i}": "v" for i in range(most)}
    assert settings(tags=many).tags == many
    edge = {"k" * 128: "v" * 256, "ünïcode key": "välue with spaces +-=._:/@", "1": "2"}
    assert settings(tags=edge).tags == edge


def test_an_empty_tag_value_is_refused_as_cloudformation_refuses_it():
    assert refused(tags={"team": ""}).endswith(
        "tag 'team' has an empty value: CloudFormation refuses one on stacks and alarms"
    )


def test_tag_keys_that_data_lifecycle_manager_refuses_are_taken_and_named():
    s = settings(tags={"cost centre": "a", "owner@web": "b", "Grüße": "c", "team:a/b.c_d-e+f=g1": "d"})
    assert s.tags_dlm_refuses == ("cost centre", "owner@web", "Grüße")
    assert settings(tags={"team": "web"}).tags_dlm_refuses == ()


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


@pytest.mark.parametrize(("kind", "name"), [("JPEG", "photo.jpg"), ("PNG", "chart.png"), ("GIF", "anim.gif")])
def test_images_of_each_format_are_taken(tmp_path, kind, name):
    Image.new("RGB", (5, 7)).save(tmp_path / name, kind)
    assert settings(image_file=tmp_path / name).image_file == tmp_path / name
    with Image.open(PROJECT_ROOT / "content" / "images" / "site-image.jpg") as default:
        assert default.format == "JPEG"
        assert min(default.size) > 0


def test_other_image_formats_are_refused_even_when_pillow_reads_them(tmp_path):
    Image.new("RGB", (5, 7)).save(tmp_path / "picture.bmp", "BMP")
    assert "must be a JPEG, PNG or GIF image with a width and height" in refused(
        image_file=tmp_path / "picture.bmp"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + b"not really a png",  # magic bytes only
        png(0, 4),  # zero width
        b"GIF89a" + struct.pack("<HH", 4, 0),  # zero height
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 7 + b"\xff\xc0\x00\x11\x08\x00\x00\x00\x00",
        b"\xff\xd8\xff\xe0\x00\x02" + b"\xff\xd9",  # no frame before the end
        b"plain text",
    ],
    ids=["png-magic-only", "png-zero-width", "gif-zero-height", "jpeg-zero-size", "jpeg-no-frame", "text"],
)
def test_files_that_are_not_real_images_are_refused(tmp_path, content):
    path = tmp_path / "picture.png"
    path.write_bytes(content)
    assert "must be a JPEG, PNG or GIF image with a width and height" in refused(image_file=path)


def test_a_header_without_a_width_is_refused_even_where_pillow_takes_it(tmp_path, monkeypatch):
    """Pillow refuses such headers itself today; the app does not count on it."""

    class Header:  # what a Pillow that took a header of width 0 would give
        format, size = "PNG", (0, 1)
        __enter__, __exit__ = lambda self: self, lambda self, *error: None

    path = tmp_path / "picture.png"
    path.write_bytes(png(1, 1))
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: Header())
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
    # Characters S3 keys allow, glob and shell characters among them: the upload copies the
    # one file, so none of them is read as a pattern.
    name = 'it\'s "$HOME" #1 café [x]!*?.png'
    (tmp_path / name).write_bytes(png(2, 2))
    (tmp_path / "neighbour.png").write_bytes(png(1, 1))
    app = cdk.App(outdir=str(tmp_path / "out"), context=CDK_FEATURE_FLAGS)
    s = settings(image_file=tmp_path / name)
    stack = SiteContentStack(app, "Content", settings=s)
    template = app.synth().get_stack_by_name("Content").template
    url = template["Outputs"]["ImageUrl"]["Value"]["Fn::Join"][1]
    assert url[-1] == "/images/it%27s%20%22%24HOME%22%20%231%20caf%C3%A9%20%5Bx%5D%21%2A%3F.png"
    assert stack.image_url.endswith(url[-1])
    # The image asset holds that file only, by its name.
    (image_asset,) = {p.parent for p in (tmp_path / "out").glob("asset.*/*") if p.name == name}
    assert [p.name for p in image_asset.iterdir()] == [name]


# What the CDK CLI's zip of the upload (yazl) does to a name: \ becomes /, and a name that looks absolute
# (/x, C:x) or holds a .. segment is refused (tests/unit/test_content_stack.py runs the CLI's own code).
ZIP_REWRITES = ["a\\b.png", "..\\up.png", "\\root.png", "C:drive.png", "z:x.png", "x\\..\\y.png"]


@pytest.mark.parametrize("name", ZIP_REWRITES)
def test_image_names_the_uploads_zip_rewrites_or_refuses_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(png(1, 1))
    assert refused(image_file=path).endswith(
        "the file name may not hold a backslash or start with a letter and a colon: the CDK CLI's zip of the "
        "upload turns \\ into / and refuses names that look absolute"
    )


def test_an_image_larger_than_the_upload_function_can_unpack_is_refused(tmp_path):
    """The upload function holds the zip and the file it unpacks side by side in its 512 MiB /tmp. A sparse
    file costs no disk, and Pillow reads the header only."""
    path = tmp_path / "large.png"
    path.write_bytes(png(1, 1))
    os.truncate(path, model.MAX_IMAGE_BYTES)
    assert settings(image_file=path).image_file == path
    os.truncate(path, model.MAX_IMAGE_BYTES + 1)
    assert refused(image_file=path).endswith(
        "the image has 209,715,201 bytes, more than the 200 MiB the upload takes: its function unpacks the "
        "image beside its zip in a 512 MiB /tmp"
    )


def test_a_name_that_is_only_an_extension_is_refused_saying_so(tmp_path):
    (tmp_path / ".jpg").write_bytes((PROJECT_ROOT / "content" / "images" / "site-image.jpg").read_bytes())
    assert refused(image_file=tmp_path / ".jpg").endswith(
        "the file name '.jpg' is an extension alone, which the upload takes for a hidden file without one: "
        "name it, e.g. image.jpg"
    )


@pytest.mark.parametrize("name", ["new\nline.png", "tab\t.png", "bidi\u202e.png", "zero\u200bwidth.png"])
def test_image_names_with_control_or_format_characters_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(png(1, 1))
    assert "the file name may not contain control, format or non-UTF-8 characters" in refused(image_file=path)


def test_an_image_name_must_fit_an_s3_key(tmp_path, monkeypatch):
    """S3 takes 1024 bytes of UTF-8; a file name here has 255 at most, so the limit is lowered to test it."""
    path = tmp_path / ("\u00e9" * 10 + ".png")  # 20 bytes of UTF-8 in 10 characters
    path.write_bytes(png(1, 1))
    monkeypatch.setattr(model, "MAX_KEY_BYTES", len("images/") + 24)
    assert settings(image_file=path).image_key == f"images/{path.name}"
    monkeypatch.setattr(model, "MAX_KEY_BYTES", len("images/") + 23)
    assert refused(image_file=path).endswith("the name must fit an S3 key (30 bytes with 'images/')")


def test_image_data_must_match_the_extension_browsers_get_the_type_of(tmp_path):
    jpeg = (PROJECT_ROOT / "content" / "images" / "site-image.jpg").read_bytes()
    for name, data in (("photo.JPG", jpeg), ("photo.jpeg", jpeg), ("chart.PNG", png(1, 1))):
        (tmp_path / name).write_bytes(data)
        assert settings(image_file=tmp_path / name).image_file.name == name
    for name, data, kind, extension in (
        ("chart.jpg", png(1, 1), "PNG", ".png"),
        ("photo.png", jpeg, "JPEG", ".jpg or .jpeg"),
        ("photo", jpeg, "JPEG", ".jpg or .jpeg"),
        ("photo.txt", jpeg, "JPEG", ".jpg or .jpeg"),
    ):
        (tmp_path / name).write_bytes(data)
        assert refused(image_file=tmp_path / name).endswith(
            f"the file holds {kind} data but its name does not end in {extension}: "
            "browsers get the Content-Type of the extension"
        )


@pytest.mark.parametrize("kind", ["named pipe", "socket", "character device", "directory", "swapped pipe"])
def test_an_image_path_that_is_no_regular_file_is_refused_without_opening_it(tmp_path, monkeypatch, kind):
    path = tmp_path / "site-image.jpg"
    if kind == "named pipe":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "character device":
        path = Path("/dev/null")
    elif kind == "directory":
        path.mkdir()
    else:  # a named pipe put there once the path was checked: opened without blocking, checked again
        os.mkfifo(path)
        regular, real_stat = os.stat(__file__), Path.stat
        monkeypatch.setattr(
            Path, "stat", lambda self, **kw: regular if self == path else real_stat(self, **kw)
        )
        kind = "named pipe"
    outcome = []
    # In a thread: reading a named pipe blocks until a writer comes; the test must not.
    reader = threading.Thread(target=lambda: outcome.append(refused(image_file=path)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # release the blocked reader before failing
        with open(path, "wb"):
            pass
        pytest.fail(f"reading the image blocked on a {kind}")
    assert outcome == [
        f"setting 'image_file' = {str(path)!r}: must be a regular file (JPEG, PNG or GIF), not a {kind}"
    ]


# ---------------------------------------------------------------- one line for every setting

BAD_VALUES = [
    ({"instance_typ": "t3.micro"}, "unknown setting 'instance_typ': did you mean 'instance_type'?"),
    ({"colour": "blue"}, "unknown setting 'colour': not a known setting. Known settings: environment, "),
    ({"environment": "staging"}, "setting 'environment' = 'staging': must be one of dev, prod"),
    ({"instance_type": "t9.micro"}, "setting 'instance_type' = 't9.micro': must be an EC2 instance type"),
    (
        {"availability_zone_id": "use1-az3"},
        "setting 'availability_zone_id' = 'use1-az3': CloudFront cannot place",
    ),
    ({"detailed_monitoring": "maybe"}, "setting 'detailed_monitoring' = 'maybe': must be true/false, yes/no"),
    ({"server_generation": "0"}, "setting 'server_generation' = '0': must be a whole number from 1"),
    (
        {"volume_size_gib": "0"},
        "setting 'volume_size_gib' = '0': `gp3` volumes must be between 1 GiB and 65536",
    ),
    ({"volume_size_gib": "5.5"}, "setting 'volume_size_gib' = '5.5': must be a whole number"),
    ({"volume_type": "st1"}, "setting 'volume_type' = 'st1': must be one of gp3, gp2, io1, io2"),
    (
        {"volume_iops": "2000"},
        "setting 'volume_iops' = '2000': `gp3` volumes iops must be between 3000 and 80000",
    ),
    (
        {"volume_throughput_mibps": "100"},
        "setting 'volume_throughput_mibps' = '100': throughput property takes a minimum of 125 and a maximum",
    ),
    (
        {"volume_type": "gp2", "volume_iops": "3000"},
        "setting 'volume_iops' = '3000': `iops` may only be specified",
    ),
    (
        {"volume_type": "gp2", "volume_throughput_mibps": "200"},
        "setting 'volume_throughput_mibps' = '200': throughput property requires volumeType: "
        "EbsDeviceVolumeType.GP3",
    ),
    ({"price_class": "300"}, "setting 'price_class' = '300': must be one of 100, 200, All"),
    ({"page_cache_seconds": "-1"}, "setting 'page_cache_seconds' = '-1': must be a whole number from 1"),
    ({"server_generation": "x"}, "setting 'server_generation' = 'x': must be a whole number"),
    ({"snapshot_retention_days": "0"}, "setting 'snapshot_retention_days' = '0': must be a whole number"),
    ({"log_retention_days": "2"}, "setting 'log_retention_days' = '2': must be one of 1, 3, 5, 7"),
    (
        {"bucket_removal_policy": "snapshot"},
        "setting 'bucket_removal_policy' = 'snapshot': must be one of destroy",
    ),
    (
        {"volume_removal_policy": "destroy"},
        "setting 'volume_removal_policy' = 'destroy': must be one of snapshot",
    ),
    (
        {"domain_name": "www.example.com"},
        "setting 'certificate_arn' is not set: required with domain_name 'www.example.com'",
    ),
    (
        {
            "domain_name": "www.example.com",
            "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
            "11111111-2222-3333-4444-555555555555",
        },
        "must be an ARN arn:aws:acm:us-east-1:<12-digit account id>:certificate/<UUID> (CloudFront's Region)",
    ),
    (
        {"certificate_arn": "not-an-arn"},
        "setting 'certificate_arn' = 'not-an-arn': must be an ARN arn:aws:acm:us-east-1:<12-digit account",
    ),
    (
        {"domain_name": "Not A Domain"},
        "setting 'domain_name' = 'Not A Domain': must be a DNS name such as www.example.com",
    ),
    ({"image_file": "content/images/missing.jpg"}, "must be an existing image file"),
    ({"image_file": "package.json"}, "setting 'image_file' = 'package.json': must be a JPEG, PNG or GIF"),
    ({"alarm_email": "ops-at-example"}, "setting 'alarm_email' = 'ops-at-example': must be an e-mail"),
    ({"geo_allowlist": "USA"}, "setting 'geo_allowlist' = 'USA': 'USA' is not an ISO 3166-1 alpha-2"),
    ({"waf_web_acl_arn": "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"}, "setting 'waf_web_acl_arn'"),
    ({"tags": "not json"}, "setting 'tags' = 'not json': must be a JSON object of strings"),
    (
        {"page_title": "it's $HOME"},
        "setting 'page_title' = \"it's $HOME\": must be 1-120 characters, none a quote, backslash",
    ),
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
    )
    assert (s.volume_size_gib, s.volume_iops, s.volume_throughput_mibps) == (100, 6000, 500)
    assert s.geo_allowlist == ("US", "CA")
    assert s.all_tags == {"project": "ebs-cloudfront-site", "environment": "dev", "team": "web"}
    assert (s.detailed_monitoring, s.server_generation) == (True, 3)
    assert settings(volume_type="io2", volume_iops=1000, volume_size_gib=10).volume_iops == 1000


def test_settings_are_frozen():
    s = SiteSettings.from_context({})
    with pytest.raises(ValidationError, match="frozen"):
        s.environment = "prod"
    assert s == SiteSettings.from_context({"environment": " dev "})
    assert s != SiteSettings.from_context({"environment": "prod"})


def test_settings_are_normalised_where_the_intent_is_plain():
    s = settings(price_class="PriceClass_All", environment=" prod ", instance_type=" T3.Small ")
    assert (s.price_class, s.environment, s.instance_type) == ("All", "prod", "t3.small")
    assert settings(price_class="priceclass_200").price_class == "200"
    assert settings(price_class="all").price_class == "All"
    assert "must be one of 100, 200, All" in refused(price_class="PriceClass_300")
    # A choice in any letter case, as instance_type.
    s = settings(
        volume_type="GP3", environment="Prod", volume_removal_policy="RETAIN", bucket_removal_policy="Destroy"
    )
    assert (s.volume_type, s.environment, s.volume_removal_policy, s.bucket_removal_policy) == (
        "gp3",
        "prod",
        "retain",
        "destroy",
    )
    # A blank value leaves an optional setting unset; one that needs a value refuses it.
    blank = settings(volume_iops=" ", domain_name="", bucket_removal_policy=" ", tags=" ", geo_allowlist=" ")
    assert (blank.volume_iops, blank.domain_name, blank.bucket_removal_policy) == (None, None, None)
    assert (blank.tags, blank.geo_allowlist) == ({}, ())
    assert refused(environment=" ") == "setting 'environment' = ' ': must be one of dev, prod"
    assert refused(detailed_monitoring="") == (
        "setting 'detailed_monitoring' = '': must be true/false, yes/no, on/off, 1/0, any case"
    )


@pytest.mark.parametrize("value", [None, 5, 2.5, True, [1, "x"], {"a": 1}, "x\ny", "\u0661"])
@pytest.mark.parametrize("name", SETTING_NAMES)
def test_any_json_value_of_any_setting_is_taken_or_refused_in_one_line(name, value):
    """Never a traceback, never pydantic's report: whatever cdk.context.json holds."""
    try:
        SiteSettings.from_context({name: value})
        return
    except SettingsError as error:
        message = str(error)
    # A combination names the setting it needs (certificate_arn alone: domain_name is not set).
    assert re.match(rf"setting '{name}' = |setting '[a-z_]+' is not set: ", message), message
    assert "\n" not in message
    assert "Input should" not in message  # pydantic's own words


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("server_generation", " from 1 to 1000000"),
        (
            "page_cache_seconds",
            " from 1 to 31536000; not 0: a cache policy whose TTLs are all 0 cannot compress",
        ),
        ("snapshot_retention_days", " from 1 to 1000"),
        # aws-cdk-lib gives the volume type's range once the value is a number.
        ("volume_size_gib", f"; {SIZE_RANGES}"),
        ("volume_iops", f" of at least 1; {IOPS_RANGES}; required for io1 and io2"),
        ("volume_throughput_mibps", " of at least 1; gp3 only: 125-2000, at most 0.25 per IOPS"),
    ],
)
def test_every_must_be_a_number_message_gives_the_range_the_setting_declares(name, rule):
    assert refused(**{name: "x"}).startswith(f"setting '{name}' = 'x': must be a whole number{rule}")


@pytest.mark.parametrize(
    ("value", "shown"),
    [({"a": 1}, '{"a": 1}'), (True, "true"), ([1, "\n"], '[1, "\\n"]'), (2.5, "2.5"),
     (["\u2028\u202e"], '["\\u2028\\u202e"]')],  # a line separator and a direction mark: escaped
)  # fmt: skip
def test_values_from_json_context_are_shown_as_json_not_python_objects(value, shown):
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_context({"server_generation": value})
    assert (
        str(caught.value)
        == f"setting 'server_generation' = {shown}: must be a whole number from 1 to 1000000"
    )


def test_a_long_value_is_cut_and_its_length_counted_on_the_value():
    text = refused(tags="x" * 500)
    assert (
        text
        == f"setting 'tags' = '{'x' * 100}'... (500 characters): "
        + 'must be a JSON object of strings, e.g. {"team":"web"}'
    )


def test_an_unknown_setting_is_named_on_one_line_even_with_a_newline():
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_context({"bad\nname": "x"})
    assert str(caught.value).startswith("unknown setting 'bad\\nname': not a known setting. Known settings: ")


# ---------------------------------------------------------------- context keys: the CDK's and the app's


def test_a_misspelt_setting_with_a_colon_is_refused_not_skipped():
    with pytest.raises(SettingsError) as caught:
        SiteSettings.from_context({"alarm:email": "ops@example.com"})
    known = ", ".join(SETTING_NAMES)
    assert (
        str(caught.value)
        == f"unknown setting 'alarm:email': did you mean 'alarm_email'? Known settings: {known}"
    )


@pytest.mark.parametrize(
    "key",
    [
        "@aws-cdk/core:newStyleStackSynthesis",
        "aws:cdk:enable-path-metadata",
        "aws-cdk:enableDiffNoFail",
        "availability-zones:account=123456789012:region=us-east-1",
        "ssm:account=123456789012:parameterName=/site/x:region=eu-west-1",
        "acknowledged-issue-numbers",
        "cli-telemetry",
        "cdk-migrate",
    ],
)
def test_keys_the_cdk_owns_are_not_settings(key):
    assert is_cdk_context_key(key)
    assert SiteSettings.from_context({key: "x"}) == SiteSettings.from_context({})


def test_the_cdk_keys_are_those_of_the_pinned_cli():
    cli = (PROJECT_ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js").read_text()
    providers = set(re.findall(r'ContextProvider\d*\["[A-Z_]+"\] = "([a-z-]+)"', cli))
    assert providers == CDK_LOOKUP_PROVIDERS
    # Keys the CLI itself writes into the context.
    written = set(re.findall(r'configuration\.context\.set\("([^"]+)"', cli))
    assert {"acknowledged-issue-numbers", "cli-telemetry"} <= written
    assert all(is_cdk_context_key(key) for key in written)


def test_a_setting_in_cdk_json_is_refused_with_where_it_belongs(tmp_path):
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"app": "app", "context": {**CDK_FEATURE_FLAGS, "environment": "prod"}}))
    with pytest.raises(SettingsError) as caught:
        # The CLI gave the app cdk.json's value (above cdk.context.json's "dev").
        SiteSettings.from_context({**CDK_FEATURE_FLAGS, "environment": "prod"}, cdk_json=cdk_json)
    assert str(caught.value) == (
        "setting 'environment' is in cdk.json, whose context the CDK CLI puts above "
        "cdk.context.json's: move it to cdk.context.json, or give it as -c environment=..."
    )
    # The project's cdk.json holds the CDK's keys only; a missing or unreadable one the CDK CLI reports.
    for path in (PROJECT_ROOT / "cdk.json", tmp_path / "missing.json", tmp_path):
        assert SiteSettings.from_context(CDK_FEATURE_FLAGS, cdk_json=path) == SiteSettings.from_context({})


# ---------------------------------------------------------------- identifiers: ASCII and real shapes

ACCOUNT = "123456789012"
UUID = "11111111-2222-3333-4444-555555555555"
CERTIFICATE = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{UUID}"
WEB_ACL = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/site/{UUID}"
ARABIC_INDIC_ACCOUNT = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662"


def test_every_identifier_pattern_matches_ascii_only():
    """Text the page shows may be any script's; identifiers AWS writes in ASCII may not."""
    declared = [
        getattr(item, "pattern", None)
        for field in SiteSettings.model_fields.values()
        for item in field.metadata
        if getattr(item, "pattern", None) != TEXT_PATTERN
    ]
    patterns = [value for value in [*vars(model).values(), *declared] if isinstance(value, re.Pattern)]
    assert len(patterns) >= 7
    assert all(isinstance(pattern, re.Pattern) for pattern in filter(None, declared))
    for pattern in patterns:
        assert pattern.flags & re.ASCII, pattern.pattern


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("certificate_arn", CERTIFICATE.replace(ACCOUNT, ARABIC_INDIC_ACCOUNT)),
        ("waf_web_acl_arn", WEB_ACL.replace(ACCOUNT, ARABIC_INDIC_ACCOUNT)),
        ("waf_web_acl_arn", WEB_ACL.replace("/site/", "/\u30b5\u30a4\u30c8/")),  # Katakana
        ("geo_allowlist", "\ufb01"),  # the ligature fi, which str.upper() turns into FI
        ("volume_size_gib", "\u0661\u0660"),
        ("alarm_email", "ops@example.\u0661\u0662"),
    ],
)
def test_digits_and_letters_of_other_scripts_are_not_taken_for_ascii(name, value):
    assert refused(**{name: value}).startswith(f"setting '{name}' = ")


@pytest.mark.parametrize(
    "value",
    [
        CERTIFICATE.replace("arn:aws:", "arn:aws-cn:"),  # us-east-1 is in the aws partition
        CERTIFICATE.replace("arn:aws:", "arn:aws-us-gov:"),
        CERTIFICATE.replace(UUID, "-" * 36),
        CERTIFICATE.replace(UUID, UUID[:-1] + "g"),
        CERTIFICATE.replace(":acm:", ":iam:"),
        CERTIFICATE.replace(ACCOUNT, "12345678901"),
        CERTIFICATE.replace("us-east-1", "cn-north-1"),  # CloudFront takes us-east-1's only
        CERTIFICATE.replace("us-east-1", "eu-west-1"),
        CERTIFICATE + "/x",
        "x" + CERTIFICATE,
    ],
)
def test_certificate_arns_that_cannot_exist_are_refused(value):
    assert refused(certificate_arn=value, domain_name="www.example.com") == (
        f"setting 'certificate_arn' = {value!r}: must be an ARN "
        "arn:aws:acm:us-east-1:<12-digit account id>:certificate/<UUID> (CloudFront's Region)"
    )


@pytest.mark.parametrize(
    "value",
    [
        WEB_ACL.replace("arn:aws:", "arn:aws-cn:"),
        WEB_ACL.replace(UUID, "0" * 36),
        WEB_ACL.replace("global/", "regional/"),
        WEB_ACL.replace("/site/", "/" + "s" * 129 + "/"),
        WEB_ACL.replace("us-east-1", "eu-west-1"),
        WEB_ACL + "/x",
    ],
)
def test_web_acl_arns_that_cannot_exist_are_refused(value):
    text = refused(waf_web_acl_arn=value)
    assert text.startswith(f"setting 'waf_web_acl_arn' = {value[:40]!r}"[:-1])
    assert text.endswith(
        ": must be an ARN arn:aws:wafv2:us-east-1:<12-digit account id>:global/webacl/<name>/<UUID>, "
        "the name 1-128 of A-Z a-z 0-9 _ -"
    )


def test_real_arns_are_taken():
    s = settings(certificate_arn=f" {CERTIFICATE} ", domain_name="www.example.com", waf_web_acl_arn=WEB_ACL)
    assert (s.certificate_arn, s.waf_web_acl_arn) == (CERTIFICATE, WEB_ACL)


def test_a_certificate_needs_its_domain_name():
    assert (
        refused(certificate_arn=CERTIFICATE)
        == "setting 'domain_name' is not set: required with certificate_arn"
    )


# ---------------------------------------------------------------- domain names and e-mail


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM.", "www.example.com"),
        (" www.example.com ", "www.example.com"),
        ("www.xn--e1afmkfd.xn--p1ai", "www.xn--e1afmkfd.xn--p1ai"),  # punycode top-level domain
        ("\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "xn--e1afmkfd.xn--p1ai"),  # Unicode form
        ("xn--bcher-kva.example.com", "xn--bcher-kva.example.com"),
        ("1-2.example.co.uk", "1-2.example.co.uk"),
    ],
)
def test_domain_names_are_taken_in_the_ascii_form_cloudfront_uses(given, normalised):
    assert settings(domain_name=given, certificate_arn=CERTIFICATE).domain_name == normalised


@pytest.mark.parametrize(
    "bad",
    ["ex_ample.com", "-x.example.com", "xn--zz.example.com", "example", "example.123", "a..b.com",
     "x" * 64 + ".com", "www.example.c0m", "www.example.com\n.org"],
)  # fmt: skip
def test_impossible_domain_names_are_refused(bad):
    text = refused(domain_name=bad, certificate_arn=CERTIFICATE)
    assert text.startswith(f"setting 'domain_name' = {bad!r}: must be a DNS name such as www.example.com")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (
            "www.xn--a.com",
            "its label 'xn--a' is Punycode for '\\x80' (U+0080), which IDNA 2008 refuses",
        ),
        (
            "xn--ls8h.la",
            "its label 'xn--ls8h' is Punycode for '\U0001f4a9' (U+1F4A9), which IDNA 2008 refuses",
        ),
        ("xn--zz.example.com", "its label 'xn--zz' is not Punycode after its xn-- prefix"),
        ("XN--AB.example.com", "its label 'xn--ab' is Punycode for '\\x81\\x80' (U+0081 U+0080), which IDNA"),
    ],
)
def test_an_xn_label_that_decodes_badly_is_named_with_what_it_decodes_to(bad, why):
    assert f"must be a DNS name such as www.example.com ({why}" in refused(
        domain_name=bad, certificate_arn=CERTIFICATE
    )


@pytest.mark.parametrize(
    "address",
    [
        "ops\x01@example.com",
        "o\x7fps@example.com",
        "x" * 65 + "@example.com",
        "ops@a.b",
        "ops@example",
        "ops@example.c0m",
        "ops@-example.com",
        "ops@exa_mple.com",
        "ops@localhost",
        "ops@example..com",
        "ops@example.invalid",
    ],
)
def test_addresses_no_mailbox_can_have_are_refused(address):
    assert refused(alarm_email=address).startswith(
        f"setting 'alarm_email' = {address!r}: must be an e-mail address such as ops@example.com"
    )


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("ops@example.com", "ops@example.com"),
        (" Ops@Example.COM ", "Ops@example.com"),
        ("ops+alarms@mail.example.co.uk", "ops+alarms@mail.example.co.uk"),
        ("x" * 64 + "@example.com", "x" * 64 + "@example.com"),
        ("ops@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "ops@xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_real_addresses_are_taken(address, normalised):
    assert settings(alarm_email=address).alarm_email == normalised


# ---------------------------------------------------------------- tags: what IAM and JSON would lose


def test_tag_keys_that_differ_only_in_letter_case_are_refused():
    assert refused(tags={"Team": "a", "team": "b"}).endswith(
        "tag keys 'Team' and 'team' differ only in letter case"
    )


def test_a_tag_key_given_twice_in_the_json_text_is_refused():
    assert refused(tags='{"team": "a", "owner": "b", "team": "c"}').endswith(
        "tag key 'team' is given twice (JSON would keep only the last value)"
    )
    assert "must be a JSON object" in refused(tags='[["team", "a"]]')


def test_tag_lengths_are_counted_in_utf16_units_as_aws_counts_them():
    wide = "\U00020000"  # a CJK letter outside the Basic Multilingual Plane: two UTF-16 units
    assert settings(tags={wide * 64: wide * 128}).tags == {wide * 64: wide * 128}
    for tags in ({wide * 65: "v"}, {"k": wide * 129}):
        assert "tag keys must be 1-128 characters, values at most 256 (counted in UTF-16 units" in refused(
            tags=tags
        )


# ---------------------------------------------------------------- one declaration a setting


def test_a_setting_is_one_declaration():
    """A field declared with setting() is read, normalised, refused in one line and says what it allows;
    its help is the docstring under it, which the docs' table takes (the tests below)."""

    class WithTitle(SiteSettings):
        page_title: str = setting("Site", "1-60 characters", min_length=1, max_length=60)
        """the page's title"""

    assert WithTitle.from_context({"page_title": " Hello "}).page_title == "Hello"
    assert WithTitle.from_context({}).page_title == "Site"
    with pytest.raises(SettingsError) as caught:
        WithTitle.from_context({"page_title": "x" * 61})
    assert str(caught.value) == f"setting 'page_title' = '{'x' * 61}': must be 1-60 characters"
    with pytest.raises(SettingsError, match="did you mean 'page_title'"):
        WithTitle.from_context({"page_titel": "x"})
    assert allowed(WithTitle.model_fields["page_title"]) == "1-60 characters"


def test_every_setting_has_help_and_says_what_it_allows():
    rows = [
        line.split(" | ") for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    ]
    assert [row[0].strip("| `") for row in rows] == list(SETTING_NAMES)
    for name, field in SiteSettings.model_fields.items():
        assert allowed(field), name
    assert all(len(row) == 4 and row[3].strip(" |") for row in rows), rows


def test_the_settings_table_in_the_docs_is_the_models():
    text = DOC.read_text(encoding="utf-8")
    assert rendered_docs(text) == text, (
        "docs/settings.md's table differs from settings/model.py: .venv/bin/python -m settings.model"
    )
    assert all(f"| `{name}` |" in text for name in SETTING_NAMES)


def test_the_settings_table_renders_the_declarations():
    table = rendered_docs(DOC.read_text(encoding="utf-8").replace("| `tags` |", "| `old` |"))
    assert "| `environment` | `dev` | one of `dev`, `prod` | stack names carry it, " in table
    assert "| `server_generation` | `1` | a whole number from 1 to 1000000 | " in table
    assert "| `image_file` | `content/images/site-image.jpg` | " in table
    assert "| `domain_name` | none | " in table
    assert "| `tags` | none | a JSON object of strings | " in table
    assert "| `old` |" not in table
    assert table.count("\n| `") == len(SETTING_NAMES)
    with pytest.raises(ValueError, match="has no table"):
        rendered_docs(table.replace("<!-- end of the rendered table -->", ""))


# ---- the server's zone ----
def test_the_zone_is_unset_by_default_and_a_zone_id_is_normalised():
    assert settings().availability_zone_id is None
    assert settings(availability_zone_id=" USE1-AZ1 ").availability_zone_id == "use1-az1"
    assert settings(availability_zone_id="apse2-az3").availability_zone_id == "apse2-az3"


@pytest.mark.parametrize("zone", NO_VPC_ORIGIN_ZONE_IDS)
def test_a_zone_without_vpc_origins_is_refused(zone):
    assert refused(availability_zone_id=zone).startswith(
        f"setting 'availability_zone_id' = '{zone}': CloudFront cannot place VPC origins in {zone} (nor in "
    )


@pytest.mark.parametrize("zone", ["us-east-1a", "use1-az", "usw2-lax1-az1", "use1 az1", "euw1-az\u0661"])
def test_a_zone_name_or_another_form_is_refused(zone):
    assert "must be an Availability Zone ID such as use1-az1, not a zone name" in refused(
        availability_zone_id=zone
    )
