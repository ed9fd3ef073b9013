"""cdk-nag AwsSolutions: no open finding, and every acknowledgement narrow and explained."""

from __future__ import annotations

import pytest
from constructs.nag import MIN_REASON_LENGTH

APPS = ["dev_app", "prod_app"]


def _aws_solutions(report):
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    return plugin


@pytest.fixture(params=APPS)
def synthesized(request):
    return request.getfixturevalue(request.param)


def test_no_unacknowledged_finding(synthesized):
    report = synthesized.validation_report
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]
        assert plugin["conclusion"] == "success"


def test_every_acknowledgement_sits_on_the_resource_it_names(synthesized):
    suppressed = _aws_solutions(synthesized.validation_report)["suppressedViolations"]
    assert suppressed, "the app has known, acknowledged findings; an empty list means nag did not run"
    for finding in suppressed:
        paths = [c["constructPath"] for c in finding["violatingConstructs"]]
        assert paths == [finding["acknowledgedAt"]], (
            f"{finding['ruleName']} acknowledged at {finding['acknowledgedAt']}, found at {paths}"
        )


def test_no_acknowledgement_at_stack_or_app_level(synthesized):
    stack_names = {stack.stack_name for stack in vars(synthesized.stacks).values()}
    for finding in _aws_solutions(synthesized.validation_report)["suppressedViolations"]:
        assert "/" in finding["acknowledgedAt"], finding
        assert finding["acknowledgedAt"] not in stack_names


def test_every_acknowledgement_has_a_reason_of_substance(synthesized):
    for finding in _aws_solutions(synthesized.validation_report)["suppressedViolations"]:
        reason = finding["reason"]
        assert len(reason) >= MIN_REASON_LENGTH, finding["ruleName"]
        assert len(set(reason.lower().split())) >= 8, f"{finding['ruleName']}: {reason!r}"


def test_the_acknowledged_rules_are_exactly_the_expected_ones(dev_app, prod_app):
    def rules(app):
        return sorted(
            (f["acknowledgedAt"].split("/", 1)[1], f["ruleName"].split("[")[0])
            for f in _aws_solutions(app.validation_report)["suppressedViolations"]
        )

    dev_rules = rules(dev_app)
    prod_rules = rules(prod_app)
    # Production sets a domain, WAF and a country list and protects the instance:
    # those four acknowledgements disappear there.
    only_in_dev = sorted(set(dev_rules) - set(prod_rules))
    assert only_in_dev == sorted(
        [
            ("ImageCdn/Distribution/Resource", "AwsSolutions-CFR1"),
            ("ImageCdn/Distribution/Resource", "AwsSolutions-CFR2"),
            ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR1"),
            ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR2"),
            ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR4"),
            ("WebServer/Instance/Resource", "AwsSolutions-EC29"),
        ]
    )
    assert set(prod_rules) <= set(dev_rules)
