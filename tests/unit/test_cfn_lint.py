"""cfn-lint, CloudFormation's own linter, has nothing to say about the synthesized templates.

The only finding allowed is W3005 on aws-cdk-lib's own Lambda functions, which name their
role both in DependsOn and by GetAtt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.data.schemas import providers

from tests.deployed_values import REGIONS

# The Regions whose resource types cfn-lint's bundled schemas know (E3006 names a resource
# type that a Region lacks).
LINTED_REGIONS = [r for r in REGIONS if (Path(providers.__path__[0]) / f"{r}.json").exists()]


def _findings(template: dict, regions: list[str]) -> list:
    return lint(json.dumps(template), config=ManualArgs(regions=regions))


def test_nearly_every_region_is_linted():
    assert len(LINTED_REGIONS) >= len(REGIONS) - 3
    assert {"us-east-1", "eu-west-1", "ap-southeast-5", "mx-central-1"} <= set(LINTED_REGIONS)


@pytest.mark.parametrize("app_name", ["dev_app", "prod_app"])
def test_cfn_lint_finds_nothing_in_the_templates_in_any_region(request, app_name):
    app = request.getfixturevalue(app_name)
    for stack_name, template in app.templates.items():
        findings = _findings(template, LINTED_REGIONS)
        unexpected = [f"{m.rule.id} {m.message}" for m in findings if m.rule.id != "W3005"]
        assert unexpected == [], stack_name
        for match in findings:
            assert "Role" in match.message, match.message


def test_china_lacks_what_the_site_distribution_needs(dev_app):
    """Why the app deploys to the commercial Regions only: said, not pretended."""
    web = dev_app.raw(dev_app.stacks.web_server)
    missing = {m.message for m in _findings(web, ["cn-north-1"]) if m.rule.id == "E3006"}
    for resource_type in ("AWS::CloudFront::VpcOrigin", "AWS::CloudFront::OriginAccessControl"):
        assert f"Resource type '{resource_type}' does not exist in 'cn-north-1'" in missing
