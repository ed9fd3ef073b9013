#!/usr/bin/env python3
"""End-to-end test in a real AWS account, run by integ-runner (`make integ`).

It deploys a throwaway copy of the site (stacks SiteIntegContent and SiteIntegWebServer, dev
settings), then asserts through CloudFront, in order:

1. the page answers 200 and shows the image URL, from Apache, so through the VPC origin
   (waiting for the first boot and configuration);
2. the image answers 200 with an image content type, through the image distribution;
3. the page is mirrored into the fallback bucket;
4. the server itself has invalidated the site distribution: its AWS CLI reached CloudFront's
   dual-stack endpoint over IPv6, its only way out (nothing else invalidates before step 5);
5. with the web server stopped and the edge caches invalidated, every request for the page
   still answers 200 with the image URL, from the fallback bucket (no 5xx);

and integ-runner destroys everything afterwards. The unit suite only synthesizes this app
(tests/unit/test_integ_site.py); docs/testing.md says what it costs and leaves behind.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.integ_tests_alpha import ExpectedResult, IApiCall, IntegTest, Match

from common.nag import acknowledge
from settings.model import SiteSettings
from stacks.site_app import SiteStacks, add_site_stacks

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TEST_NAME = "SiteInteg"
# The first boot installs packages, attaches and formats the volume and runs the
# configuration; the distributions deploy in the meantime.
FIRST_PAGE_TIMEOUT_MINUTES = 30
STOP_TIMEOUT_MINUTES = 10
# Requests made while the server is stopped: each must be answered 200 from the fallback copy.
FALLBACK_REQUESTS = 5

# A Lambda function that fetches a URL and reports only what the assertions compare: a custom
# resource's answer is limited to 4 KB, and a page with its headers comes close to that.
PROBE_CODE = """
import os
import urllib.error
import urllib.request


def handler(event, _context):
    # The URLs come from the environment: a payload holding deploy-time values would be
    # encoded twice on its way to the function.
    image_url = os.environ["IMAGE_URL"]
    page = event["target"] == "page"
    url = os.environ["SITE_URL"] if page else image_url
    statuses, shows, media_type, server = [], True, "", ""
    for _ in range(int(event.get("attempts", 1))):
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                status, body, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, body, headers = error.code, error.read(), error.headers
        statuses.append(status)
        media_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        # Which origin answered: Apache (the VPC origin) or AmazonS3 (a bucket).
        server = headers.get("Server", "")
        if page:
            shows = shows and image_url.encode() in body
    return {"statuses": statuses, "type": media_type, "shows": shows, "server": server}
"""


class ThrowawaySettings(SiteSettings):
    """dev settings under stack names of their own, so a real dev deployment is never touched."""

    def stack_name(self, part: str) -> str:
        return f"{TEST_NAME}{part}"


def _flags() -> dict[str, object]:
    """cdk.json's feature flags, so that the app synthesizes as `cdk synth` does."""
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return {key: value for key, value in context.items() if key.startswith("@")}


def _probe(scope: cdk.Stack, *, site_url: str, image_url: str) -> lambda_.Function:
    function = lambda_.Function(
        scope,
        "Probe",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline(PROBE_CODE),
        timeout=cdk.Duration.minutes(2),
        environment={"SITE_URL": site_url, "IMAGE_URL": image_url},
        description="Fetches the site's page or image through CloudFront for the end-to-end assertions",
    )
    acknowledge(
        function.role.node.default_child,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "A throwaway test function whose role only writes its own logs: the AWS-managed basic "
        "execution policy is what it needs, and it lives only for the length of the test.",
    )
    return function


def _fetch(test: IntegTest, probe: lambda_.Function, target: str, *, attempts: int = 1) -> IApiCall:
    return test.assertions.invoke_function(
        function_name=probe.function_name, payload=json.dumps({"target": target, "attempts": attempts})
    )


def _expect_served(call: IApiCall, *, media_type: str, server: str, attempts: int = 1) -> IApiCall:
    call.expect(
        ExpectedResult.object_like(
            {
                "Payload": Match.serialized_json(
                    {
                        "statuses": [200] * attempts,
                        "type": Match.string_like_regexp(media_type),
                        "shows": True,
                        "server": Match.string_like_regexp(server),
                    }
                )
            }
        )
    )
    return call


def add_assertions(test: IntegTest, stacks: SiteStacks, probe: lambda_.Function) -> list[IApiCall]:
    """The checks, chained in order; returned for the unit test that proves they exist."""
    web = stacks.web_server
    instance_id = web.server.instance_id
    minutes = cdk.Duration.minutes

    distribution_id = web.cdn.distribution.distribution_id

    page = _expect_served(_fetch(test, probe, "page"), media_type="^text/html$", server="^Apache")
    page.wait_for_assertions(total_timeout=minutes(FIRST_PAGE_TIMEOUT_MINUTES), interval=minutes(1))
    image = _expect_served(_fetch(test, probe, "image"), media_type="^image/", server="^AmazonS3$")
    mirrored = test.assertions.aws_api_call(
        "S3", "headObject", {"Bucket": web.fallback.bucket.bucket_name, "Key": "index.html"}
    )
    mirrored.expect(ExpectedResult.object_like({"ContentType": Match.string_like_regexp("^text/html")}))
    mirrored.wait_for_assertions(total_timeout=minutes(STOP_TIMEOUT_MINUTES))
    server_invalidated = test.assertions.aws_api_call(
        "CloudFront",
        "listInvalidations",
        {"DistributionId": distribution_id},
        ["InvalidationList.Items.0.Status"],
    )
    server_invalidated.assert_at_path(
        "InvalidationList.Items.0.Status", ExpectedResult.string_like_regexp("^(InProgress|Completed)$")
    )
    server_invalidated.wait_for_assertions(total_timeout=minutes(STOP_TIMEOUT_MINUTES))
    stop = test.assertions.aws_api_call("EC2", "stopInstances", {"InstanceIds": [instance_id]})
    stopped = test.assertions.aws_api_call(
        "EC2", "describeInstances", {"InstanceIds": [instance_id]}, ["Reservations.0.Instances.0.State.Name"]
    )
    stopped.assert_at_path(
        "Reservations.0.Instances.0.State.Name", ExpectedResult.string_like_regexp("^stopped$")
    )
    stopped.wait_for_assertions(total_timeout=minutes(STOP_TIMEOUT_MINUTES))
    invalidation = test.assertions.aws_api_call(
        "CloudFront",
        "createInvalidation",
        {
            "DistributionId": distribution_id,
            "InvalidationBatch": {
                "CallerReference": "site-integ-stopped",
                "Paths": {"Quantity": 1, "Items": ["/*"]},
            },
        },
        ["Invalidation.Id"],
    )
    invalidated = test.assertions.aws_api_call(
        "CloudFront",
        "getInvalidation",
        {
            "DistributionId": distribution_id,
            "Id": invalidation.get_att_string("Invalidation.Id"),
        },
        ["Invalidation.Status"],
    )
    invalidated.assert_at_path("Invalidation.Status", ExpectedResult.string_like_regexp("^Completed$"))
    invalidated.wait_for_assertions(total_timeout=minutes(STOP_TIMEOUT_MINUTES))
    fallback = _expect_served(
        _fetch(test, probe, "page", attempts=FALLBACK_REQUESTS),
        media_type="^text/html$",
        server="^AmazonS3$",
        attempts=FALLBACK_REQUESTS,
    )
    chain = [page, image, mirrored, server_invalidated, stop, stopped, invalidation, invalidated, fallback]
    for before, after in itertools.pairwise(chain):
        before.next(after)
    return chain


def build(app: cdk.App) -> tuple[IntegTest, list[IApiCall]]:
    settings = ThrowawaySettings.from_context({"environment": "dev"})
    stacks = add_site_stacks(app, settings)
    probe_stack = cdk.Stack(app, f"{TEST_NAME}Probe", description="End-to-end test: URL probe")
    probe = _probe(
        probe_stack,
        site_url=f"https://{stacks.web_server.cdn.domain_name}/",
        image_url=stacks.content.image_url,
    )
    test = IntegTest(
        app,
        TEST_NAME,
        test_cases=[stacks.content, stacks.web_server, probe_stack],
        # Everything goes, whatever the settings would keep for a real deployment.
        cdk_command_options={"destroy": {"args": {"force": True}}},
    )
    return test, add_assertions(test, stacks, probe)


def main() -> None:
    app = cdk.App(context=_flags())
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
