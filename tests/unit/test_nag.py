"""cdk-nag AwsSolutions: no open finding, and every acknowledgement narrow and explained."""

from __future__ import annotations

import pytest

from common.nag import MIN_REASON_LENGTH

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


_ACCOUNT_KEYS = "arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"
_DEPLOYMENT = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
_LAMBDA_LOGS = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def _deployment(bucket_arn: str, *, invalidates: bool) -> list[tuple[str, str]]:
    """aws-cdk-lib's BucketDeployment, acknowledged in each stack that uploads with it."""
    return [
        (f"{_DEPLOYMENT}/Resource", "AwsSolutions-L1"),
        (f"{_DEPLOYMENT}/ServiceRole/Resource", _LAMBDA_LOGS),
        *(
            (f"{_DEPLOYMENT}/ServiceRole/DefaultPolicy/Resource", f"AwsSolutions-IAM5[{finding}]")
            for finding in (
                "Action::s3:Abort*",
                "Action::s3:DeleteObject*",
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                *(["Resource::*"] if invalidates else []),
                f"Resource::<{bucket_arn}>/*",
                "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
            )
        ),
    ]


def _provider(path: str, handlers: list[str], *, waits: bool) -> list[tuple[str, str]]:
    """aws-cdk-lib's custom-resource Provider at ``path`` (common/provider.py), calling ``handlers``."""
    framework = ["onEvent", *(["isComplete", "onTimeout"] if waits else [])]
    roles = [f"{path}/framework-{name}/ServiceRole" for name in framework]
    invoke = "AwsSolutions-IAM5[Resource::<{}.Arn>:*]"
    machine = f"{path}/waiter-state-machine"
    logical = path.replace("/", "").replace("-", "")
    return [
        *((f"{role}/Resource", _LAMBDA_LOGS) for role in roles),
        *(
            (f"{role}/DefaultPolicy/Resource", invoke.format(handler))
            for role in roles
            for handler in handlers
        ),
        *(
            [
                (f"{machine}/Resource", "AwsSolutions-SF1"),
                (f"{machine}/Resource", "AwsSolutions-SF2"),
                *(
                    (
                        f"{machine}/Role/DefaultPolicy/Resource",
                        invoke.format(f"{logical}framework{name}{suffix}"),
                    )
                    for name, suffix in (("isComplete", "3A4B67D7"), ("onTimeout", "F9BC9485"))
                ),
            ]
            if waits
            else []
        ),
    ]


# Every acknowledgement of the production app, by resource: a new one must be added here on purpose.
PROD_ACKNOWLEDGEMENTS = sorted(
    [
        ("AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource", _LAMBDA_LOGS),
        ("Alarms/HealthReportPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("SiteCdn/CloudFrontOrigins/Lookup/CustomResourcePolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("SiteCdn/MirrorPolicy/Resource", "AwsSolutions-IAM5[Resource::<FallbackBucket2FF11ED6.Arn>/*]"),
        (
            "SiteCdn/VpcOriginCleanup/Waiter/ServiceRole/DefaultPolicy/Resource",
            "AwsSolutions-IAM5[Resource::*]",
        ),
        (
            "SiteCdn/VpcOriginCleanup/Waiter/ServiceRole/DefaultPolicy/Resource",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]",
        ),
        ("SiteCdn/VpcOriginCleanup/Function/ServiceRole/Resource", _LAMBDA_LOGS),
        ("SiteCdn/VpcOriginCleanup/Waiter/ServiceRole/Resource", _LAMBDA_LOGS),
        *_provider(
            "SiteCdn/VpcOriginCleanup/Provider",
            ["SiteCdnVpcOriginCleanupFunction40D4E001", "SiteCdnVpcOriginCleanupWaiter2D81F7B6"],
            waits=True,
        ),
        ("Network/ZoneGuard/Function/ServiceRole/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("Network/ZoneGuard/Function/ServiceRole/Resource", _LAMBDA_LOGS),
        *_provider("Network/ZoneGuard/Provider", ["NetworkZoneGuardFunction3C9E906A"], waits=False),
        *_deployment("ImagesBucket4B6DB8E1.Arn", invalidates=True),
        *_deployment("FallbackBucket2FF11ED6.Arn", invalidates=True),
        (
            "Configuration/InstancePolicy/Resource",
            "AwsSolutions-IAM5[Resource::<RunOutputBucketB28E9AAF.Arn>/site-configuration/*]",
        ),
        ("Configuration/InstancePolicy/Resource", f"AwsSolutions-IAM5[Resource::{_ACCOUNT_KEYS}]"),
        *(
            (
                "Releases/InstancePolicy/Resource",
                f"AwsSolutions-IAM5[Resource::<RunOutputBucketB28E9AAF.Arn>/{p}*]",
            )
            for p in ("site-commands/", "site-transfer/")
        ),
        ("Fallback/Bucket/Resource", "AwsSolutions-S1"),
        ("RunOutput/Bucket/Resource", "AwsSolutions-S1"),
        ("ImageCdn/Distribution/Resource", "AwsSolutions-CFR4"),
        (
            "Snapshots/Role/Resource",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole]",
        ),
        ("WebServer/Instance", "AwsSolutions-EC29"),
        ("WebServer/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        ("WebServer/Role/DefaultPolicy/Resource", f"AwsSolutions-IAM5[Resource::{_ACCOUNT_KEYS}]"),
        (
            "WebServer/Role/DefaultPolicy/Resource",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
        ),
        (
            "WebServer/Role/Resource",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
        ),
    ]
)

# Without a domain, WAF or country list, dev acknowledges these on top.
DEV_ONLY_ACKNOWLEDGEMENTS = sorted(
    [
        ("ImageCdn/Distribution/Resource", "AwsSolutions-CFR1"),
        ("ImageCdn/Distribution/Resource", "AwsSolutions-CFR2"),
        ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR1"),
        ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR2"),
        ("SiteCdn/Distribution/Resource", "AwsSolutions-CFR4"),
        # Detailed monitoring off (prod turns it on).
        ("WebServer/Instance", "AwsSolutions-EC28"),
    ]
)


def _acknowledgements(app):
    return sorted(
        (f["acknowledgedAt"].split("/", 1)[1], f["ruleName"])
        for f in _aws_solutions(app.validation_report)["suppressedViolations"]
    )


def test_the_acknowledgements_are_exactly_the_reviewed_ones(dev_app, prod_app):
    assert _acknowledgements(prod_app) == PROD_ACKNOWLEDGEMENTS
    assert _acknowledgements(dev_app) == sorted(PROD_ACKNOWLEDGEMENTS + DEV_ONLY_ACKNOWLEDGEMENTS)
