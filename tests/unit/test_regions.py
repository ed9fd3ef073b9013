"""One template for every Region: Region-dependent choices are conditions, account-wide names differ."""

from __future__ import annotations

import botocore.session
import pytest

from common.regions import OPT_IN_REGIONS
from tests.deployed_values import Deployment
from tests.unit.template_queries import resources_of

# Every Region of the partitions the app targets (cdk.json), as botocore knows them.
REGIONS = sorted(
    region
    for partition in botocore.session.get_session()
    .get_component("data_loader")
    .load_data("endpoints")["partitions"]
    if partition["partition"] in ("aws", "aws-cn")
    for region in partition["regions"]
)


def _evaluate(condition, region: str) -> bool:
    """Evaluate the condition functions this app uses, for one Region."""
    if isinstance(condition, dict):
        ((function, args),) = condition.items()
        if function == "Fn::Not":
            return not _evaluate(args[0], region)
        if function == "Fn::Or":
            return any(_evaluate(arg, region) for arg in args)
        if function == "Fn::Equals":
            left, right = (region if arg == {"Ref": "AWS::Region"} else arg for arg in args)
            return left == right
    raise AssertionError(f"unexpected condition {condition!r}")


@pytest.mark.parametrize("stack", ["content", "web_server"])
def test_cloudfront_logs_only_where_they_can_be_delivered(dev_app, stack):
    raw = dev_app.raw(getattr(dev_app.stacks, stack))
    condition = raw["Conditions"]["CloudFrontLogsDelivered"]
    for region in ("us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"):
        assert _evaluate(condition, region), region
    for region in ("af-south-1", "ap-east-1", "eu-south-1", "me-south-1", "il-central-1", "mx-central-1"):
        assert region in OPT_IN_REGIONS
        assert not _evaluate(condition, region), region
    assert all(not _evaluate(condition, region) for region in OPT_IN_REGIONS)
    for distribution in resources_of(raw, "AWS::CloudFront::Distribution").values():
        logging = distribution["Properties"]["DistributionConfig"]["Logging"]
        condition_name, enabled, disabled = logging["Fn::If"]
        assert condition_name == "CloudFrontLogsDelivered"
        assert enabled["Prefix"].startswith("cloudfront/")
        assert disabled == {"Ref": "AWS::NoValue"}


def test_us_east_1_condition_is_declared_once(dev_app):
    conditions = dev_app.raw(dev_app.stacks.web_server)["Conditions"]
    us_east_1 = {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert [name for name, body in conditions.items() if body == us_east_1] == ["InUsEast1"]


# Names that are unique per account across Regions, where each resource type holds its name,
# and the longest name AWS takes there.
ACCOUNT_WIDE_NAMES = {
    "AWS::CloudFront::CachePolicy": (("CachePolicyConfig", "Name"), 128),
    "AWS::CloudFront::OriginRequestPolicy": (("OriginRequestPolicyConfig", "Name"), 128),
    "AWS::CloudFront::ResponseHeadersPolicy": (("ResponseHeadersPolicyConfig", "Name"), 128),
    "AWS::CloudFront::OriginAccessControl": (("OriginAccessControlConfig", "Name"), 64),
    "AWS::CloudFront::Function": (("Name",), 64),
    "AWS::CloudFront::VpcOrigin": (("VpcOriginEndpointConfig", "Name"), 64),
    "AWS::CloudFront::KeyValueStore": (("Name",), 64),
    "AWS::IAM::Role": (("RoleName",), 64),
    "AWS::IAM::ManagedPolicy": (("ManagedPolicyName",), 128),
    "AWS::IAM::InstanceProfile": (("InstanceProfileName",), 128),
    "AWS::S3::Bucket": (("BucketName",), 63),
}


def _names(app, region: str) -> dict[tuple[str, str], str]:
    """(stack, logical id) -> the name each account-wide resource gets in ``region``."""
    deployment = Deployment(app.templates, region=region)
    names = {}
    for stack_name, template in app.templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] not in ACCOUNT_WIDE_NAMES:
                continue
            path, limit = ACCOUNT_WIDE_NAMES[resource["Type"]]
            value = resource.get("Properties", {})
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is None:
                continue  # CloudFormation generates a unique name
            name = deployment.resolve(stack_name, value)
            assert len(name) <= limit, (resource["Type"], name)
            names[stack_name, logical_id] = name
    return names


@pytest.mark.parametrize("app_name", ["dev_app", "prod_app"])
def test_the_same_stacks_deploy_to_two_regions_of_one_account(request, app_name):
    app = request.getfixturevalue(app_name)
    by_region = {region: _names(app, region) for region in REGIONS}
    first = by_region[REGIONS[0]]
    assert len(first) >= 4, "the CloudFront policies and access controls are named"
    for region, names in by_region.items():
        assert len(set(names.values())) == len(names), region
        if region != REGIONS[0]:
            assert not set(names.values()) & set(first.values()), region
