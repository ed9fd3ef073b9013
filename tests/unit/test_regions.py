"""Region-dependent choices are CloudFormation conditions: one template for every Region."""

from __future__ import annotations

import pytest
from constructs.regions import OPT_IN_REGIONS
from template_queries import resources_of


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
