"""tests/integ_site.py, the end-to-end test `make integ` deploys: synthesized here, never deployed.

It must synthesize under cdk-nag like the app, keep away from a real deployment's stacks, and
hold every assertion, in order: the page from Apache through the VPC origin, the image, the
mirrored copy, the server's own invalidation (its CLI's call to CloudFront, over IPv6), server
stopped, caches invalidated, then the fallback copy answering 200 with the image URL to every
request.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import aws_cdk as cdk
import pytest

from tests import integ_site
from tests.cdk_context import CDK_FEATURE_FLAGS, PROJECT_ROOT


@pytest.fixture(scope="session")
def integ(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Every template of the synthesized integ app, by stack name (raises on a nag finding)."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("integ")), context=CDK_FEATURE_FLAGS)
    integ_site.build(app)
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def _assert_stack(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (name,) = [name for name in templates if "DeployAssert" in name]
    return templates[name]


def _calls(templates) -> list[tuple[str, dict[str, Any]]]:
    """(type, properties) of each assertion call, in the order their DependsOn chains them."""
    resources = _assert_stack(templates)["Resources"]
    calls = {k: r for k, r in resources.items() if r["Type"].startswith("Custom::DeployAssert@")}
    ordered, previous = [], None
    while len(ordered) < len(calls):
        (following,) = [
            k
            for k, r in calls.items()
            if k not in ordered
            and (previous in r.get("DependsOn", []) if previous else not r.get("DependsOn"))
        ]
        ordered.append(following)
        previous = following
    return [(calls[k]["Type"].removeprefix("Custom::DeployAssert@"), calls[k]["Properties"]) for k in ordered]


def _expected(properties: dict[str, Any]) -> Any:
    return json.loads(properties["expected"]) if "expected" in properties else None


def _probe_payload(properties: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.loads(properties["parameters"]["Payload"]))


def test_a_throwaway_copy_never_a_real_deployments_stacks(integ):
    assert {"SiteIntegContent", "SiteIntegWebServer", "SiteIntegProbe"} <= set(integ)
    assert not any(name.endswith(("-dev", "-prod")) for name in integ)


def test_the_assertions_run_in_order(integ):
    assert [kind for kind, _ in _calls(integ)] == [
        "SdkCallLambdainvoke",
        "SdkCallLambdainvoke",
        "SdkCallS3headObject",
        "SdkCallCloudFrontlistInvalidations",
        "SdkCallEC2stopInstances",
        "SdkCallEC2describeInstances",
        "SdkCallCloudFrontcreateInvalidation",
        "SdkCallCloudFrontgetInvalidation",
        "SdkCallLambdainvoke",
    ]


def test_the_page_and_the_image_are_asserted_through_cloudfront(integ):
    page, image, *_ = _calls(integ)
    assert _probe_payload(page[1]) == {"target": "page", "attempts": 1}
    assert _expected(page[1]) == {
        "$ObjectLike": {
            "Payload": {
                "$SerializedJson": {
                    "statuses": [200],
                    "type": {"$StringLike": "^text/html$"},
                    "shows": True,
                    # Apache, so through the VPC origin: the fallback bucket's answers say AmazonS3.
                    "server": {"$StringLike": "^Apache"},
                }
            }
        }
    }
    assert _probe_payload(image[1]) == {"target": "image", "attempts": 1}
    image_expected = _expected(image[1])["$ObjectLike"]["Payload"]["$SerializedJson"]
    assert image_expected["type"] == {"$StringLike": "^image/"}
    assert image_expected["server"] == {"$StringLike": "^AmazonS3$"}


def test_the_probe_reports_which_origin_answered():
    assert 'headers.get("Server"' in integ_site.PROBE_CODE
    assert '"server":' in integ_site.PROBE_CODE


def test_the_server_itself_invalidated_the_site_distribution_before_the_test_does(integ):
    """Only the server's mirror (its AWS CLI, which has no IPv4 route out) creates invalidations
    before the test's own: one listed then is its call to CloudFront's dual-stack endpoint."""
    calls = _calls(integ)
    kinds = [kind for kind, _ in calls]
    listed = kinds.index("SdkCallCloudFrontlistInvalidations")
    assert (
        listed < kinds.index("SdkCallEC2stopInstances") < kinds.index("SdkCallCloudFrontcreateInvalidation")
    )
    _, properties = calls[listed]
    assert "SiteCdnDistribution" in json.dumps(properties["parameters"]["DistributionId"])
    assert _expected(properties) == {"$StringLike": "^(InProgress|Completed)$"}
    assert properties["actualPath"] == "InvalidationList.Items.0.Status"


def test_the_probe_fetches_the_site_distribution_and_the_image_url(integ):
    (function,) = [
        r for r in integ["SiteIntegProbe"]["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    variables = json.dumps(function["Properties"]["Environment"]["Variables"])
    assert '"SITE_URL": {"Fn::Join": ["", ["https://"' in variables
    assert "SiteCdnDistribution" in variables
    assert '"StackName": "SiteIntegContent"' in variables
    assert "/images/site-image.jpg" in variables


def test_a_stopped_server_still_serves_the_fallback_copy_without_5xx(integ):
    calls = _calls(integ)
    kinds = [kind for kind, _ in calls]
    stop = kinds.index("SdkCallEC2stopInstances")
    stopped = _expected(calls[stop + 1][1])
    invalidated = _expected(calls[stop + 3][1])
    last_kind, last = calls[-1]
    assert stopped == {"$StringLike": "^stopped$"}
    assert invalidated == {"$StringLike": "^Completed$"}
    assert last_kind == "SdkCallLambdainvoke"
    assert _probe_payload(last) == {"target": "page", "attempts": 5}
    expected = _expected(last)["$ObjectLike"]["Payload"]["$SerializedJson"]
    assert expected["statuses"] == [200] * 5
    assert expected["shows"] is True
    assert expected["server"] == {"$StringLike": "^AmazonS3$"}  # the fallback bucket, not a cached page


def test_each_assertion_reports_its_result(integ):
    outputs = _assert_stack(integ).get("Outputs", {})
    asserted = [kind for kind, properties in _calls(integ) if "expected" in properties]
    assert len(asserted) == 7
    assert len([name for name in outputs if name.startswith("AssertionResults")]) == len(asserted)


def test_make_integ_without_an_account_says_so_and_deploys_nothing(tmp_path):
    """No credentials anywhere (environment, files, instance metadata): one line saying so, a
    failure, and no word of an assertion, which never ran."""
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_", "MAKE", "MFLAGS"))}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "integ"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode != 0
    assert "error: no AWS account found" in result.stderr, result.stderr
    assert "failed assertion" not in result.stdout + result.stderr
    assert "SiteInteg" not in result.stdout + result.stderr  # nothing synthesized, deployed or destroyed
