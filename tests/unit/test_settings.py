"""Settings: defaults, every validation rule, and what the environment implies."""

from __future__ import annotations

import pytest
from aws_cdk import aws_ec2 as ec2

from stacks.instance_types import INSTANCE_FAMILIES, INSTANCE_SIZES
from stacks.settings import PROJECT_ROOT, SETTING_NAMES, SettingsError, SiteSettings


def settings(**context):
    return SiteSettings.from_context(
        {k: str(v) if not isinstance(v, dict) else v for k, v in context.items()}
    )


def test_defaults_follow_the_tutorial_with_safer_choices():
    s = SiteSettings.from_context({})
    assert s.environment == "dev"
    assert s.instance_type == "t4g.micro"
    assert (s.volume_size_gib, s.volume_type) == (5, "gp3")
    assert s.image_file == PROJECT_ROOT / "assets" / "images" / "site-image.jpg"
    assert s.image_key == "images/site-image.jpg"
    assert s.effective_volume_removal_policy == "snapshot"
    assert s.effective_bucket_removal_policy == "destroy"
    assert s.stack_name("Content") == "SiteContent-dev"


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


@pytest.mark.parametrize(
    ("instance_type", "graviton"),
    [
        ("t4g.micro", True),
        ("m7g.large", True),
        ("c7gn.xlarge", True),
        ("a1.large", True),
        ("t3.micro", False),
        ("m5.large", False),
    ],
)
def test_cpu_architecture_follows_the_instance_type(instance_type, graviton):
    assert settings(instance_type=instance_type).is_graviton is graviton
    cdk_arch = ec2.InstanceType(instance_type).architecture
    assert (cdk_arch == ec2.InstanceArchitecture.ARM_64) is graviton


def test_instance_tables_match_aws_cdk_lib():
    families = {
        ec2.InstanceType.of(c, ec2.InstanceSize.LARGE).to_string().split(".")[0] for c in ec2.InstanceClass
    }
    sizes = {
        ec2.InstanceType.of(ec2.InstanceClass.M5, z).to_string().split(".", 1)[1] for z in ec2.InstanceSize
    }
    assert families == INSTANCE_FAMILIES
    assert sizes == INSTANCE_SIZES


BAD_VALUES = [
    ({"instance_typ": "t3.micro"}, "unknown setting 'instance_typ': did you mean 'instance_type'?"),
    ({"colour": "blue"}, "unknown setting 'colour': not a known setting"),
    ({"environment": "staging"}, "setting 'environment' = 'staging': allowed values are dev, prod"),
    ({"instance_type": "t9.micro"}, "setting 'instance_type' = 't9.micro': must be an EC2 instance type"),
    ({"instance_type": "t3.gigantic"}, "setting 'instance_type' = 't3.gigantic'"),
    ({"instance_type": "t3micro"}, "setting 'instance_type' = 't3micro'"),
    ({"volume_size_gib": "0"}, "setting 'volume_size_gib' = '0': must be a whole number from 1 to 16384"),
    (
        {"volume_size_gib": "16385"},
        "setting 'volume_size_gib' = '16385': must be a whole number from 1 to 16384",
    ),
    ({"volume_size_gib": "5.5"}, "setting 'volume_size_gib' = '5.5': must be a whole number"),
    ({"volume_type": "st1"}, "setting 'volume_type' = 'st1': allowed values are gp3, gp2, io1, io2"),
    ({"volume_iops": "2000"}, "setting 'volume_iops' = 2000: gp3 takes 3000 to 80000 IOPS"),
    (
        {"volume_iops": "4000"},
        "setting 'volume_iops' = 4000: gp3 allows at most 500 IOPS per GiB (2500 for 5 GiB)",
    ),
    ({"volume_throughput_mibps": "100"}, "setting 'volume_throughput_mibps' = '100': must be a whole number"),
    (
        {"volume_throughput_mibps": "800"},
        "setting 'volume_throughput_mibps' = 800: gp3 takes 125 to 750 MiB/s",
    ),
    ({"volume_type": "gp2", "volume_iops": "3000"}, "setting 'volume_iops' = 3000: only gp3, io1 and io2"),
    ({"volume_type": "gp2", "volume_throughput_mibps": "200"}, "only gp3 volumes take a throughput"),
    ({"volume_type": "io2"}, "setting 'volume_iops' = None: required for io2"),
    (
        {"page_cache_seconds": "0"},
        "setting 'page_cache_seconds' = '0': must be a whole number from 1 to 31536000",
    ),
    (
        {"detailed_monitoring": "maybe"},
        "setting 'detailed_monitoring' = 'maybe': must be true or false",
    ),
    (
        {"server_generation": "0"},
        "setting 'server_generation' = '0': must be a whole number from 1 to 1000000",
    ),
    (
        {"origin_token_generation": "x"},
        "setting 'origin_token_generation' = 'x': must be a whole number from 1 to 1000000",
    ),
    ({"price_class": "300"}, "setting 'price_class' = '300': allowed values are 100, 200, All"),
    ({"snapshot_retention_days": "0"}, "setting 'snapshot_retention_days' = '0': must be a whole number"),
    ({"snapshot_retention_days": "-3"}, "setting 'snapshot_retention_days' = '-3': must be a whole number"),
    ({"snapshot_retention_days": "seven"}, "setting 'snapshot_retention_days' = 'seven'"),
    (
        {"log_retention_days": "0"},
        "setting 'log_retention_days' = '0': must be a whole number from 1 to 3650",
    ),
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
        "setting 'certificate_arn' = 'not-an-arn': must be an ACM certificate ARN",
    ),
    (
        {"domain_name": "Not A Domain"},
        "setting 'domain_name' = 'Not A Domain': must be a lower-case DNS name",
    ),
    ({"image_file": "assets/images/missing.jpg"}, "must be an existing image file"),
    (
        {"image_file": "package.json"},
        "setting 'image_file' = 'package.json': must be a JPEG, PNG or GIF image",
    ),
    (
        {"alarm_email": "ops-at-example"},
        "setting 'alarm_email' = 'ops-at-example': must be an e-mail address",
    ),
    ({"geo_allowlist": "USA"}, "setting 'geo_allowlist' = 'USA': must be comma-separated ISO 3166-1"),
    ({"waf_web_acl_arn": "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"}, "setting 'waf_web_acl_arn'"),
    ({"tags": "not json"}, "setting 'tags' = 'not json': must be a JSON object of strings"),
    ({"tags": '{"aws:x": "y"}'}, "tag keys must be 1-128 characters and not start with 'aws:'"),
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
    )
    assert (s.volume_size_gib, s.volume_iops, s.volume_throughput_mibps) == (100, 6000, 500)
    assert s.geo_allowlist == ("US", "CA")
    assert s.all_tags == {"project": "ebs-cloudfront-site", "environment": "dev", "team": "web"}
    assert settings(volume_type="io2", volume_iops=1000, volume_size_gib=10).volume_iops == 1000


def test_settings_are_frozen():
    s = SiteSettings.from_context({})
    with pytest.raises(AttributeError):
        s.environment = "prod"
